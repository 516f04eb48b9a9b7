// Embedding a folder of images with a backbone: the evaluation transform, batched forward
// passes, and the safetensors file `dino embed` writes.
//
// Reference: dinov2/data/transforms.py `make_classification_eval_transform` (resize the
// shorter side to 256/224 of the crop with bicubic filtering, centre crop, ImageNet
// normalisation); dinov2/eval/utils.py `extract_features` (normalised class tokens).

import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// The deterministic evaluation transform of DINO/DINOv2/DINOv3.
public struct EvaluationTransform: Sendable, Equatable {
    /// Side of the square crop given to the model.
    public var imageSize: Int
    /// Shorter side after resizing, before the crop (256 for a 224 crop).
    public var resizeSize: Int
    public var filter: ResampleFilter
    public var normalization: ImageNormalization

    /// The reference proportions: resize to `imageSize · 256 / 224`, bicubic, ImageNet statistics.
    public init(imageSize: Int = 224, resizeSize: Int? = nil, filter: ResampleFilter = .bicubic,
                normalization: ImageNormalization = .imageNet) {
        self.imageSize = imageSize
        self.resizeSize = resizeSize ?? Int((Double(imageSize) * 256 / 224).rounded())
        self.filter = filter
        self.normalization = normalization
    }

    /// The cropped image, before normalisation.
    public func crop(_ image: RGBImage) -> RGBImage {
        image.resized(shorterSide: resizeSize, filter: filter).centerCropped(width: imageSize, height: imageSize)
    }

    /// The image as a normalised (3, S, S) tensor.
    public func callAsFunction(_ image: RGBImage) -> Tensor {
        normalization.tensor(crop(image))
    }
}

/// Embeddings of a list of images.
public struct ImageEmbeddings {
    /// Paths of the images embedded, in order (failures left out).
    public var paths: [String]
    /// Normalised class tokens (N, D).
    public var classTokens: Tensor
    /// Normalised patch tokens (N, h·w, D), when asked for.
    public var patchTokens: Tensor?
    /// Images that could not be read, with the reason.
    public var failures: [(path: String, reason: String)]

    /// Embeddings from their parts: `classTokens` (N, D) row i for `paths[i]`.
    public init(paths: [String], classTokens: Tensor, patchTokens: Tensor? = nil,
                failures: [(path: String, reason: String)] = []) {
        precondition(classTokens.rank == 2 && classTokens.shape[0] == paths.count,
                     "ImageEmbeddings: class tokens \(classTokens.shape) for \(paths.count) paths")
        self.paths = paths
        self.classTokens = classTokens
        self.patchTokens = patchTokens
        self.failures = failures
    }

    /// Writes `embeddings` (N, D) and, when present, `patch_tokens` (N, h·w, D), with the
    /// paths as JSON in the metadata key `paths`.
    public func write(to url: URL, metadata: [String: String] = [:]) throws {
        var tensors = ["embeddings": classTokens]
        if let patchTokens { tensors["patch_tokens"] = patchTokens }
        var meta = metadata
        meta["paths"] = String(decoding: try JSONEncoder().encode(paths), as: UTF8.self)
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }
}

/// A backbone that `embed` and the frozen-feature evaluations can run: a normalised image
/// embedding and normalised tokens on a grid of `patchSize`-pixel cells (a ViT's patches, a
/// ConvNeXt's final map at stride 32), and the outputs of its blocks (a ViT's blocks, a
/// ConvNeXt's four stages) as the reference's `get_intermediate_layers` gives them.
public protocol EmbeddingBackbone: Module {
    /// Width of the embedding and of each token.
    var embedDimensions: Int { get }
    /// Pixels per token along each side (the patch size, or a CNN's total stride).
    var patchSize: Int { get }
    /// The input side the model is evaluated at by default (its config's `image_size`).
    var defaultInputSize: Int { get }
    /// Width of each block's output, oldest first (the reference's `embed_dims`; its count is
    /// `n_blocks`): D for every ViT block; a ConvNeXt's stage widths.
    var blockDimensions: [Int] { get }
    /// Pixels per token of each block's output: the patch size for every ViT block; a
    /// ConvNeXt's stage strides 4, 8, 16, 32.
    var blockStrides: [Int] { get }
    /// Normalised class token (B, D) and patch tokens (B, h·w, D) of images (B, 3, H, W).
    func embeddingFeatures(_ images: Tensor) -> (classToken: Tensor, patchTokens: Tensor)
    /// The outputs of the chosen blocks (0-based, in the order given), as the reference's
    /// `get_intermediate_layers(x, n=blocks, return_class_token=True, norm=norm)`: block i's
    /// class token (B, D_i) and patch tokens (B, h_i·w_i, D_i) on its own grid.
    func intermediateLayers(_ images: Tensor, blocks: [Int], norm: Bool) -> [BlockOutput]
}

extension EmbeddingBackbone {
    /// Blocks whose outputs `intermediateLayers` can take (the reference's `n_blocks`).
    public var blockCount: Int { blockDimensions.count }

    /// The outputs of the last `n` blocks, oldest first.
    public func intermediateLayers(_ images: Tensor, last n: Int, norm: Bool = true) -> [BlockOutput] {
        precondition(n >= 1 && n <= blockCount, "intermediateLayers: last \(n) of \(blockCount) blocks")
        return intermediateLayers(images, blocks: Array((blockCount - n)..<blockCount), norm: norm)
    }

    /// Features for a linear probe (dinov2/eval/linear.py `create_linear_input`): the normalised
    /// class tokens of the last `n` blocks concatenated oldest first, plus the mean of the last
    /// block's normalised patch tokens when `averagePool`: (B, Σ D_i) or (B, Σ D_i + D). For a
    /// ConvNeXt the blocks are its stages, normalised as the reference's `norms` (the final norm on
    /// the last stage, none on the others).
    public func linearProbeFeatures(_ images: Tensor, lastBlocks n: Int = 4, averagePool: Bool = false) -> Tensor {
        let outs = intermediateLayers(images, last: n)
        var parts = outs.map(\.classToken)
        if averagePool { parts.append(outs.last!.patchTokens.mean(axes: [1])) }
        return Tensor.concat(parts, axis: -1)
    }
}

extension VisionTransformer: EmbeddingBackbone {
    public var defaultInputSize: Int { config.imageSize }
    public var blockDimensions: [Int] { Array(repeating: config.embedDimensions, count: config.depth) }
    public var blockStrides: [Int] { Array(repeating: config.patchSize, count: config.depth) }

    /// `x_norm_clstoken` and `x_norm_patchtokens` of `forwardFeatures`.
    public func embeddingFeatures(_ images: Tensor) -> (classToken: Tensor, patchTokens: Tensor) {
        let f = forwardFeatures(images)
        return (f.classToken, f.patchTokens)
    }
}

extension ConvNeXt: EmbeddingBackbone {
    public var defaultInputSize: Int { config.imageSize }
    public var blockDimensions: [Int] { config.dims }
    public var blockStrides: [Int] { [4, 8, 16, 32] }

    /// The normalised pooled feature (`x_norm_clstoken`) and the normalised final map
    /// flattened row-major (`x_norm_patchtokens`) of `forwardFeatures`.
    public func embeddingFeatures(_ images: Tensor) -> (classToken: Tensor, patchTokens: Tensor) {
        let f = forwardFeatures(images)
        return (f.classToken, f.patchTokens)
    }
}

extension EmbeddingBackbone {
    /// Embeds images from files in batches (decoding in parallel, one forward per batch).
    ///
    /// - Parameters:
    ///   - paths: image files.
    ///   - transform: the evaluation transform; its crop must be a multiple of the patch size
    ///     (of 32 for a ConvNeXt).
    ///   - batchSize: images per forward pass.
    ///   - patchTokens: also keep the patch tokens.
    ///   - progress: called after each batch with (images done, total).
    public func embed(paths: [String], transform: EvaluationTransform = EvaluationTransform(), batchSize: Int = 32,
                      patchTokens keepPatches: Bool = false,
                      progress: ((Int, Int) -> Void)? = nil) throws -> ImageEmbeddings {
        precondition(batchSize >= 1, "embed: batch size must be positive, got \(batchSize)")
        guard transform.imageSize % patchSize == 0 else {
            throw EmbeddingError("image size \(transform.imageSize) is not a multiple of the patch size (or stride) \(patchSize)")
        }
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        let s = transform.imageSize
        var done: [String] = [], classParts: [Tensor] = [], patchParts: [Tensor] = []
        var failures: [(String, String)] = []
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let batch = Array(paths[start..<min(start + batchSize, paths.count)])
            let images = Tensor(zeros: [batch.count, 3, s, s])
            var ok = [Bool](repeating: false, count: batch.count)
            var errors = [String](repeating: "", count: batch.count)
            let base = images.pointer(Float.self)
            let options = DecodeOptions(minimumShorterSide: transform.resizeSize)
            ok.withUnsafeMutableBufferPointer { okBuffer in
                errors.withUnsafeMutableBufferPointer { errBuffer in
                    DispatchQueue.concurrentPerform(iterations: batch.count) { i in
                        do {
                            let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: batch[i]), options: options)
                            transform.normalization.write(transform.crop(image), to: base + i * 3 * s * s)
                            okBuffer[i] = true
                        } catch {
                            errBuffer[i] = (error as? ImageDecodingError)?.reasonDescription ?? "\(error)"
                        }
                    }
                }
            }
            let good = (0..<batch.count).filter { ok[$0] }
            for i in 0..<batch.count where !ok[i] { failures.append((batch[i], errors[i])) }
            if !good.isEmpty {
                let input = good.count == batch.count ? images : images.indexSelect(axis: 0, indices: good)
                let features = withNoGrad { embeddingFeatures(input) }
                classParts.append(features.classToken)
                if keepPatches { patchParts.append(features.patchTokens) }
                done += good.map { batch[$0] }
            }
            progress?(min(start + batchSize, paths.count), paths.count)
        }
        let d = embedDimensions
        let classTokens = classParts.isEmpty ? Tensor.zeros([0, d]) : Tensor.concat(classParts, axis: 0)
        let patches = keepPatches ? (patchParts.isEmpty ? Tensor.zeros([0, (s / patchSize) * (s / patchSize), d])
                                                        : Tensor.concat(patchParts, axis: 0)) : nil
        return ImageEmbeddings(paths: done, classTokens: classTokens, patchTokens: patches,
                               failures: failures.map { (path: $0.0, reason: $0.1) })
    }
}

/// A problem with the embedding request.
public struct EmbeddingError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
