import ArgumentParser
import DinoModels
import Foundation

/// The options that choose a backbone and its weights, shared by `embed` and `show`.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model preset (dinov2_vits14, dinov3_vits16, …; convnext_tiny|small|base|large for `embed` and `show pca`); optional when the weights file stores its config.")
    var model: String?

    @Option(help: "Weights (.safetensors; official, timm or transformers keys). Convert .pth files with `dino convert`.")
    var weights: String?

    @Option(help: "Key layout of the weights: official, timm or transformers (default: detected).")
    var layout: String?

    @Flag(help: "Use random initial weights instead of a weights file (for trying the pipeline).")
    var randomInit = false

    func validate() throws {
        if weights == nil && !randomInit {
            throw ValidationError("give --weights FILE, or --random-init to run with random weights")
        }
        if weights != nil && randomInit { throw ValidationError("--weights and --random-init exclude each other") }
        if let layout, CheckpointLayout(rawValue: layout) == nil {
            throw ValidationError("unknown --layout '\(layout)'; use one of \(CheckpointLayout.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if model == nil && weights == nil { throw ValidationError("--random-init needs --model") }
    }

    /// The backbone for `embed` and `show pca`: a DINOv3 ConvNeXt for a `ConvNeXtPresets` name
    /// (official, timm or transformers keys), else a Vision Transformer.
    func loadBackbone() throws -> any EmbeddingBackbone {
        if let model, ConvNeXtPresets.all[model] != nil {
            return try ConvNeXt.load(preset: model, weights: weights.map { URL(fileURLWithPath: $0) },
                                     layout: layout.flatMap(CheckpointLayout.init(rawValue:)))
        }
        return try load()
    }

    /// A Vision Transformer, for the commands that need one (`command` names it in the refusal of
    /// a ConvNeXt, with `reason`).
    func load(command: String = "this command", reason: String = "") throws -> VisionTransformer {
        if let model, ConvNeXtPresets.all[model] != nil {
            throw ValidationError("`dino \(command)` needs a Vision Transformer; \(model) is a ConvNeXt\(reason)")
        }
        return try VisionTransformer.load(preset: model, weights: weights.map { URL(fileURLWithPath: $0) },
                                   layout: layout.flatMap(CheckpointLayout.init(rawValue:)))
    }
}
