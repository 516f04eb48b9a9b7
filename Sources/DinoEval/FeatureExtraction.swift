// Frozen features of a labelled image set, for k-NN and linear evaluation.
//
// What it is: the feature pass of facebookresearch/dino `eval_knn.py` (`extract_features`) and
// `eval_linear.py`: each image resized and centre-cropped to the model's input size
// (DinoModels' `EvaluationTransform`), normalised, and run through the backbone in evaluation
// mode without gradients. Images are decoded and transformed by the parallel loader of
// DinoVision, in data set order, with the class labels of an ImageFolder.
// What it is not: augmentation (the linear probe trains on one fixed view per image).

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// Which features of the backbone an evaluation uses.
public enum FeatureKind: String, Codable, Sendable, CaseIterable {
    /// The normalised class token of the last block (DINO's k-NN; `--n_last_blocks 1`).
    case cls
    /// The class token concatenated with the mean of the last block's patch tokens
    /// (DINO's linear probe for ViT-B, `--avgpool_patchtokens true`).
    case clsPatchMean = "cls+avgpool"
    /// The class tokens of the last four blocks (fewer in shallower models), concatenated
    /// (DINO's linear probe for ViT-S, `--n_last_blocks 4`).
    case lastFourCLS = "last4"

    /// The feature width for a backbone of width D and `depth` blocks of that width.
    public func dimensions(embedDimensions d: Int, depth: Int) -> Int {
        dimensions(blockDimensions: Array(repeating: d, count: depth))
    }

    /// The feature width for a backbone whose blocks have these widths (a ConvNeXt's stages).
    public func dimensions(blockDimensions widths: [Int]) -> Int {
        switch self {
        case .cls: return widths.last!
        case .clsPatchMean: return 2 * widths.last!
        case .lastFourCLS: return widths.suffix(4).reduce(0, +)
        }
    }
}

extension EvaluationTransform {
    /// DINO's evaluation view for inputs of `size` px: resize to 256/224 of the crop and
    /// centre-crop (`Resize(256) + CenterCrop(224)`). Small inputs (under 96 px, such as 32-px
    /// glyph or CIFAR images) are only resized to `size`: the 256/224 zoom would crop away the
    /// edge of images that are the size of the input, which is what such sets hold.
    public static func forInput(size: Int) -> EvaluationTransform {
        size >= 96 ? EvaluationTransform(imageSize: size) : EvaluationTransform(imageSize: size, resizeSize: size)
    }

    /// The view of `image` (8-bit): an image already of the crop size, with no zoom asked for,
    /// is used as it is.
    public func view(_ image: RGBImage) -> RGBImage {
        if resizeSize == imageSize && image.width == imageSize && image.height == imageSize { return image }
        return crop(image)
    }
}

/// Features of a labelled data set.
public struct LabelledFeatures {
    /// (N, F)
    public var features: Tensor
    /// N class indices.
    public var labels: [Int]
    /// Class names by index.
    public var classes: [String]
    /// Images that could not be read (left out).
    public var skipped: Int
}

/// Runs a frozen backbone over an image set: a ViT or a ConvNeXt (whose blocks are its four
/// stages: `last4` concatenates the pooled maps of the stages, the last one normalised).
public struct FeatureExtractor {
    public let model: any EmbeddingBackbone
    public let transform: EvaluationTransform
    /// Images per forward pass.
    public var batchSize: Int
    /// Decoding threads.
    public var workers: Int

    public init(model: any EmbeddingBackbone, transform: EvaluationTransform, batchSize: Int = 128, workers: Int = 2) {
        precondition(batchSize >= 1, "FeatureExtractor: batch size must be positive")
        self.model = model
        self.transform = transform
        self.batchSize = batchSize
        self.workers = workers
    }

    /// The features of one batch of normalised images (B, C, S, S) → (B, F), off the tape.
    public func features(_ images: Tensor, kind: FeatureKind) -> Tensor {
        withNoGrad {
            switch kind {
            case .cls: return model.embeddingFeatures(images).classToken                    // (B, D)
            case .clsPatchMean: return model.linearProbeFeatures(images, lastBlocks: 1, averagePool: true)   // (B, 2D)
            case .lastFourCLS: return model.linearProbeFeatures(images, lastBlocks: Swift.min(4, model.blockCount))
            }
        }
    }

    /// Features of every readable image of a labelled data set, in data set order.
    ///
    /// - Parameter progress: called after each batch with (images done, images in all).
    public func extract(_ dataset: ImageFileDataset, kind: FeatureKind,
                        issues: DataIssueLog = DataIssueLog(),
                        progress: ((Int, Int) -> Void)? = nil) -> LabelledFeatures {
        precondition(!dataset.classes.isEmpty, "FeatureExtractor: the data set at \(dataset.root) has no class folders")
        let wasTraining = model.training
        model.eval()
        defer { model.train(wasTraining) }
        let t = transform
        let options = DecodeOptions(minimumShorterSide: t.resizeSize)
        let loader = DataLoader<RGBImage, (Tensor, [Int])>(
            count: dataset.count,
            options: LoaderOptions(batchSize: batchSize, shuffle: false, dropLast: false, workers: workers),
            sample: { i, _ in dataset.loadImage(at: i, options: options, issues: issues).map { t.view($0) } },
            collate: { images, indices, _ in (stackViews(images, normalization: t.normalization), indices) })
        var parts: [Tensor] = []
        var labels: [Int] = []
        var done = 0
        for (images, indices) in loader.epoch(0) {
            parts.append(features(images, kind: kind))
            labels += indices.map { dataset.label(at: $0)! }
            done += indices.count
            progress?(done, dataset.count)
        }
        let d = kind.dimensions(blockDimensions: model.blockDimensions)
        let all = parts.isEmpty ? Tensor.zeros([0, d]) : Tensor.concat(parts, axis: 0)
        return LabelledFeatures(features: all, labels: labels, classes: dataset.classes, skipped: dataset.count - labels.count)
    }
}
