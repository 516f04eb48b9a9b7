import ArgumentParser
import DinoModels
import DinoVision
import Foundation

/// The images of `dino show pca` / `attention`: given one by one with `--image`, or the first
/// `--images` of a folder or list file given with `--data`.
struct FigureInput: ParsableArguments {
    @Option(name: .customLong("image"), help: "An image file (repeat the option for several).")
    var imageFiles: [String] = []

    @Option(help: "Folder of images (searched recursively) or a text file listing paths.")
    var data: String?

    @Option(help: "Number of images (rows).")
    var images: Int = 4

    @Option(help: "Side of the centre crop given to the model (a multiple of the patch size).")
    var imageSize: Int = 224

    func validate() throws {
        if imageFiles.isEmpty == (data == nil) {
            throw ValidationError("give either --image FILE (one or more) or --data DIR")
        }
    }

    func load() throws -> [RGBImage] {
        if !imageFiles.isEmpty {
            // Named files: an unreadable one is an error, not a skip — the user asked for it.
            return try imageFiles.map { try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0)) }
        }
        let data = self.data!
        let dataset = try ImageFileDataset.open(data)
        guard dataset.count > 0 else { throw ValidationError("no images in \(data)") }
        var loaded: [RGBImage] = []
        for i in 0..<dataset.count where loaded.count < images {
            do {
                loaded.append(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: dataset.path(at: i))))
            } catch {
                FileHandle.standardError.write(Data("skipped: \(error)\n".utf8))
            }
        }
        guard !loaded.isEmpty else { throw ValidationError("no readable images in \(data)") }
        return loaded
    }
}

struct ShowPCA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pca",
        abstract: "A PNG: per image, the crop and its patch features' first 3 principal components as RGB.",
        discussion: "A ConvNeXt (--model convnext_*) shows its final map, one cell per 32 × 32 pixels."
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: FigureInput

    @Option(help: "Output PNG file.")
    var out: String = "pca.png"

    func run() throws {
        let model = try modelOptions.loadBackbone()
        let figure = model.pcaFigure(try input.load(), transform: EvaluationTransform(imageSize: input.imageSize))
        try figure.writePNG(to: URL(fileURLWithPath: out))
        print("wrote \(out) (\(figure.width)×\(figure.height))")
    }
}

struct ShowAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "A PNG: per image, the crop and the last block's class-token attention, one map per head."
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: FigureInput

    @Option(help: "Output PNG file.")
    var out: String = "attention.png"

    func run() throws {
        let model = try modelOptions.load(command: "show attention", reason: """
            : a ConvNeXt has no attention, hence no attention maps (`dino show pca` shows its features)
            """)
        let figure = model.attentionFigure(try input.load(), transform: EvaluationTransform(imageSize: input.imageSize))
        try figure.writePNG(to: URL(fileURLWithPath: out))
        print("wrote \(out) (\(figure.width)×\(figure.height))")
    }
}
