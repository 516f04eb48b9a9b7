// A backbone to use: a Vision Transformer with weights and the input size it expects, loaded
// from a preset and a weights file (official, timm or Hugging Face keys), a file we saved, or a
// training run; with the two things people do with one — embed images, and measure its
// features with DINO's k-NN protocol.
//
// What it is: thin calls into DinoModels (`VisionTransformer.load`, `embed(paths:…)`, the code
// behind `dino embed`), DinoSSL (`TrainingRun.loadBackbone`, behind `dino eval --run`) and
// DinoEval (`FeatureExtractor`, `WeightedKNN`, behind `dino eval knn`).
// What it is not: a second implementation of any of them.

import DinoEval
import DinoModels
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

/// A Vision Transformer backbone in evaluation mode, with its input size.
///
/// ```swift
/// let backbone = try Backbone(preset: "dinov2_vits14", weights: URL(fileURLWithPath: "dinov2_vits14.safetensors"),
///                             inputSize: 224)
/// let embeddings = try backbone.embed(folder: "photos", patchTokens: true)
/// print(embeddings.classTokens.shape)   // [N, 384]
/// ```
public final class Backbone {
    /// The network, in evaluation mode.
    public let model: VisionTransformer
    /// The side of the square images it is given by default (``embed(folder:transform:batchSize:patchTokens:progress:)``,
    /// ``evaluateKNN(train:val:ks:temperature:batchSize:)``); a multiple of the patch size.
    public let inputSize: Int

    /// The names of the model presets (`dinov2_vits14`, `dinov3_vits16`, `vit_nano_patch4`, …).
    public static var presets: [String] { ModelPresets.names }

    /// A preset's architecture with weights from a file, or randomly initialised.
    ///
    /// - Parameters:
    ///   - preset: a name of ``presets``.
    ///   - weights: a `.safetensors` file in the official, timm or Hugging Face key layout
    ///     (`dino convert` turns PyTorch `.pth` files into one); nil for random weights.
    ///   - layout: the key layout; nil detects it from the keys.
    ///   - inputSize: the default input side; nil takes the preset's (518 for `dinov2_*`, 224
    ///     for `dino_*` and `dinov3_*`, 32 for the small and test models).
    ///   - seed: the random initialisation's seed when `weights` is nil.
    /// - Throws: `PresetError` for an unknown preset (listing the known ones), errors naming the
    ///   file or the missing, unexpected and mis-shaped keys of the weights.
    public convenience init(preset: String, weights: URL? = nil, layout: WeightsLayout? = nil,
                            inputSize: Int? = nil, seed: UInt64 = 0) throws {
        let model = try VisionTransformer.load(preset: preset, weights: weights, layout: layout, seed: seed)
        try self.init(model: model, inputSize: inputSize)
    }

    /// A backbone from a weights file that stores its architecture (one written by
    /// ``save(to:)``, `dino export` or `VisionTransformer.saveWeights(to:metadata:)`).
    ///
    /// - Parameters:
    ///   - weights: a `.safetensors` file with the metadata key `dino.model_config`.
    ///   - layout: the key layout; nil detects it from the keys.
    ///   - inputSize: the default input side; nil takes the stored architecture's `image_size`.
    /// - Throws: an error asking for a preset when the file stores no architecture; errors
    ///   naming the file or its keys.
    public convenience init(weights: URL, layout: WeightsLayout? = nil, inputSize: Int? = nil) throws {
        let model = try VisionTransformer.load(preset: nil, weights: weights, layout: layout)
        try self.init(model: model, inputSize: inputSize)
    }

    /// The backbone a training run exports (the teacher of `dino` and `dinov2`, the student's
    /// EMA of `distill`) from its newest checkpoint; the input size is the run's global crop
    /// size.
    ///
    /// - Parameter run: a run folder of `dino train` or ``Pretraining``.
    /// - Throws: errors naming the run folder when it holds no `config.json` or no checkpoint.
    public convenience init(run: URL) throws {
        let (model, size) = try TrainingRun.loadBackbone(run: run)
        try self.init(model: model, inputSize: size)
    }

    /// Wraps a model built by other means, and puts it in evaluation mode.
    ///
    /// - Parameters:
    ///   - model: the network.
    ///   - inputSize: the default input side; nil takes `model.config.imageSize`.
    /// - Throws: ``DinoError/invalidArgument(_:)`` when `inputSize` is not a positive multiple
    ///   of the patch size.
    public init(model: VisionTransformer, inputSize: Int? = nil) throws {
        let size = inputSize ?? model.config.imageSize
        guard size > 0, size % model.patchSize == 0 else {
            throw DinoError.invalidArgument("input size \(size) is not a positive multiple of the patch size \(model.patchSize)")
        }
        model.eval()
        self.model = model
        self.inputSize = size
    }

    /// D, the width of the class and patch tokens.
    public var embedDimensions: Int { model.embedDimensions }

    /// The side of a patch in pixels.
    public var patchSize: Int { model.patchSize }

    /// The architecture.
    public var config: VisionTransformerConfig { model.config }

    /// The default view of an image: `EvaluationTransform.forInput(size: inputSize)` (the
    /// reference's resize to 256/224 and centre crop; inputs under 96 px only resized).
    public var defaultTransform: EvaluationTransform { .forInput(size: inputSize) }

    // MARK: Embedding

    /// Embeds every image under `folder` (searched recursively; or a text file listing paths).
    ///
    /// The same computation as `dino embed`: each image decoded, viewed through `transform`,
    /// and run through the backbone without gradients in batches; the class token and the
    /// patch tokens are the final norm's output.
    ///
    /// - Parameters:
    ///   - folder: a folder of images, or a text file with one path per line.
    ///   - transform: the view of each image; nil for ``defaultTransform``. Its `imageSize`
    ///     must be a multiple of ``patchSize``.
    ///   - batchSize: images per forward pass.
    ///   - patchTokens: also keep the patch tokens (N, h·w, D).
    ///   - progress: called after each batch with (images done, images in all).
    /// - Returns: the embeddings in path order; unreadable images are left out and listed in
    ///   `failures` with their reason.
    /// - Throws: an error naming the folder when it holds no image, ``DinoError`` for a
    ///   transform that does not fit the patch size.
    public func embed(folder: String, transform: EvaluationTransform? = nil, batchSize: Int = 32,
                      patchTokens: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> ImageEmbeddings {
        let dataset = try ImageFileDataset.open(folder)
        let paths = (0..<dataset.count).map { dataset.path(at: $0) }
        return try embed(paths: paths, transform: transform, batchSize: batchSize, patchTokens: patchTokens, progress: progress)
    }

    /// Embeds the images at `paths`, in order; see ``embed(folder:transform:batchSize:patchTokens:progress:)``.
    ///
    /// - Parameters:
    ///   - paths: image files (JPEG, PNG, WebP, TIFF, BMP, PPM).
    ///   - transform: the view of each image; nil for ``defaultTransform``.
    ///   - batchSize: images per forward pass.
    ///   - patchTokens: also keep the patch tokens (N, h·w, D).
    ///   - progress: called after each batch with (images done, images in all).
    /// - Returns: the embeddings of the readable images, in order; the others in `failures`.
    /// - Throws: ``DinoError`` for a batch size under 1 or a transform that does not fit the
    ///   patch size.
    public func embed(paths: [String], transform: EvaluationTransform? = nil, batchSize: Int = 32,
                      patchTokens: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> ImageEmbeddings {
        guard batchSize >= 1 else { throw DinoError.invalidArgument("batch size \(batchSize) must be positive") }
        do {
            return try model.embed(paths: paths, transform: transform ?? defaultTransform, batchSize: batchSize,
                                   patchTokens: patchTokens, progress: progress)
        } catch let e as EmbeddingError {
            throw DinoError.invalidArgument(e.message)
        }
    }

    /// The class token and patch tokens of a batch of images, after the final norm; no
    /// gradient is recorded.
    ///
    /// - Parameter images: normalised images (B, 3, S, S), S a multiple of ``patchSize``
    ///   (``defaultTransform`` makes one from an image).
    /// - Returns: the class token (B, D) and the patch tokens (B, h·w, D), row-major over the
    ///   patch grid.
    public func tokens(_ images: Tensor) -> (classToken: Tensor, patchTokens: Tensor) {
        let features = withNoGrad { model.forwardFeatures(images) }
        return (features.classToken, features.patchTokens)
    }

    // MARK: Evaluation

    /// DINO's weighted k-NN accuracy of the backbone's class tokens on a labelled image set.
    ///
    /// Both folders are ImageFolders (one sub-folder per class, the same classes in both);
    /// every image is viewed through ``defaultTransform``. The same computation as
    /// `dino eval knn`.
    ///
    /// - Parameters:
    ///   - train: the labelled bank.
    ///   - val: the labelled images to classify.
    ///   - ks: the numbers of neighbours (DINO reports 20; its list is 10, 20, 100, 200).
    ///   - temperature: T of the vote weights exp(similarity / T) (DINO: 0.07).
    ///   - batchSize: images per forward pass.
    /// - Returns: one result per k, in the order of `ks`.
    /// - Throws: errors naming a folder without class folders, ``DinoError`` when the classes
    ///   differ or a k is not positive.
    public func evaluateKNN(train: String, val: String, ks: [Int] = [20], temperature: Double = 0.07,
                            batchSize: Int = 128) throws -> [KNNResult] {
        guard !ks.isEmpty, ks.allSatisfy({ $0 >= 1 }) else { throw DinoError.invalidArgument("k values \(ks) must be positive") }
        guard temperature > 0 else { throw DinoError.invalidArgument("temperature \(temperature) must be positive") }
        guard batchSize >= 1 else { throw DinoError.invalidArgument("batch size \(batchSize) must be positive") }
        let trainSet = try ImageFileDataset.imageFolder(train), valSet = try ImageFileDataset.imageFolder(val)
        guard trainSet.classes == valSet.classes else {
            throw DinoError.invalidArgument("the classes of \(train) (\(trainSet.classes.count)) and \(val) (\(valSet.classes.count)) differ")
        }
        let extractor = FeatureExtractor(model: model, transform: defaultTransform, batchSize: batchSize,
                                         workers: Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2))
        let issues = DataIssueLog(report: DataIssueLog.silent)
        let bank = extractor.extract(trainSet, kind: .cls, issues: issues)
        let queries = extractor.extract(valSet, kind: .cls, issues: issues)
        return WeightedKNN(ks: ks, temperature: temperature).evaluate(
            trainFeatures: bank.features, trainLabels: bank.labels, testFeatures: queries.features,
            testLabels: queries.labels, classes: trainSet.classes.count)
    }

    // MARK: Saving

    /// Writes the weights with the official keys and the architecture as metadata, so that
    /// ``init(weights:layout:inputSize:)`` and PyTorch's `load_state_dict` read them back.
    ///
    /// - Parameter url: the `.safetensors` file to write.
    public func save(to url: URL) throws {
        try model.saveWeights(to: url, metadata: ["dino.input_size": String(inputSize)])
    }
}

/// A request the `Dino` surface cannot serve, with what was wrong.
public enum DinoError: Error, CustomStringConvertible, Equatable {
    /// An argument out of its range (a batch size, an input size, k, mismatched class lists).
    case invalidArgument(String)

    /// The message.
    public var description: String {
        switch self {
        case .invalidArgument(let message): return message
        }
    }
}
