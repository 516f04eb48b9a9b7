import ArgumentParser
import DinoModels
import DinoTensor
import DinoVision
import Foundation

/// `dino embed`: normalised class tokens (and optionally patch tokens) of a folder of images.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed a folder of images with a backbone; write the features as safetensors.",
        discussion: """
            Evaluation transform: shorter side resized to image-size·256/224 (bicubic), centre \
            crop, ImageNet normalisation. Output: `embeddings` (N, D) and, with --patch-tokens, \
            `patch_tokens` (N, h·w, D); the image paths are in the metadata key `paths`. \
            ConvNeXt presets (convnext_tiny, …): the normalised pooled feature and the \
            normalised final feature map (stride 32) flattened, as DINOv3's forward_features. \
            Unreadable images are skipped and counted; their paths and reasons go to OUT.skipped.txt.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Folder of images (searched recursively) or a text file listing paths.")
    var data: String

    @Option(help: "Output .safetensors file.")
    var out: String

    @Flag(help: "Also write the normalised patch tokens.")
    var patchTokens = false

    @Option(help: "Side of the centre crop given to the model (a multiple of the patch size).")
    var imageSize: Int = 224

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 32

    @OptionGroup var threadOptions: ThreadsOption

    @Option(help: "Precision of the matrix products: float32, or bf16 (PyTorch's CPU autocast: bfloat16 inputs and outputs, Float32 accumulation; emulated).")
    var precision: Precision = .float32

    func validate() throws {
        if precision == .float64 {
            throw ValidationError("--precision float64 is a training option (precision=float64 for dino and dinov2); embed takes float32 or bf16")
        }
    }

    func run() throws {
        threadOptions.apply()
        let model = try modelOptions.loadBackbone()
        let dataset = try ImageFileDataset.open(data)
        let paths = (0..<dataset.count).map { dataset.path(at: $0) }
        let embeddings = try withPrecision(precision) {
            try model.embed(paths: paths, transform: EvaluationTransform(imageSize: imageSize),
                            batchSize: batchSize, patchTokens: patchTokens) { done, total in
                FileHandle.standardError.write(Data("\rembedded \(done)/\(total)".utf8))
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        try embeddings.write(to: URL(fileURLWithPath: out), metadata: [
            "model": modelOptions.model ?? "", "image_size": "\(imageSize)", "precision": precision.rawValue,
            "weights": modelOptions.weights.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "random",
        ])
        print("wrote \(embeddings.paths.count) embeddings of width \(model.embedDimensions) to \(out)")
        if !embeddings.failures.isEmpty {
            let list = URL(fileURLWithPath: out + ".skipped.txt")
            try embeddings.failures.map { "\($0.path): \($0.reason)\n" }.joined().write(to: list, atomically: true, encoding: .utf8)
            print("skipped \(embeddings.failures.count) unreadable image\(embeddings.failures.count == 1 ? "" : "s"); the list: \(list.path)")
        }
    }
}
