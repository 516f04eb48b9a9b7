import ArgumentParser
import DinoVision

/// The multi-crop options shared by `dino show augmentations` and `dino bench data`.
struct MultiCropOptions: ParsableArguments {
    @Option(help: "Augmentation preset: \(MultiCropConfig.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String = "dinov2"

    @Option(help: "Side of the global views (224 for photos, 32 for 32-px datasets).")
    var globalSize: Int = 224

    @Option(help: "Side of the local views (96, or 16).")
    var localSize: Int = 96

    @Option(help: "Number of local views.")
    var localCount: Int = 8

    /// The named preset, or a validation error listing the valid names.
    func preset() throws -> MultiCropConfig.Method {
        guard let preset = MultiCropConfig.Method(rawValue: method) else {
            throw ValidationError("unknown method '\(method)'; use one of \(MultiCropConfig.Method.allCases.map(\.rawValue))")
        }
        return preset
    }

    /// The preset's crops at the chosen sizes.
    func config() throws -> MultiCropConfig {
        MultiCropConfig.preset(try preset(), globalSize: globalSize, localSize: localSize, localCount: localCount)
    }
}
