// The linear protocols as the references train them: every iteration, a batch of training images
// is drawn, each as a random-resized-crop + flip view, passed through the frozen backbone, and
// every classifier of the grid takes one SGD step on those features.
//
// What it is: dinov2/eval/linear.py and dinov3/eval/linear.py `train_linear_classifiers` (features
// = `ModelWithIntermediateLayers(model, max(n_last_blocks_list))` of the batch, no gradient into the
// backbone; shuffled, drop_last) with `make_classification_train_transform` (RandomResizedCrop(S,
// bicubic), RandomHorizontalFlip(0.5), ImageNet normalisation). Held-out and validation images are
// seen once, through the evaluation transform (`make_classification_eval_transform`).
// What it is not: the grid, the schedule and the choice (LinearProtocol.swift).

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// The training views of the references' linear protocols: RandomResizedCrop(size, scale, bicubic)
/// then a horizontal flip with probability p, normalised with ImageNet's statistics.
public struct LinearProtocolTrainTransform: Sendable {
    /// RandomResizedCrop(size, scale, ratio 3/4–4/3, bicubic).
    public let crop: RandomResizedCrop
    /// RandomHorizontalFlip(p).
    public let flip: RandomHorizontalFlip
    /// Pixel normalisation of the stacked views (ImageNet's).
    public let normalization: ImageNormalization

    /// The references' views at `size` (defaults: scale 0.08–1, flip p 0.5).
    public init(size: Int, scale: [Double] = [0.08, 1], flipProbability: Double = 0.5, normalization: ImageNormalization = .imageNet) {
        crop = RandomResizedCrop(size: size, scale: scale, filter: .bicubic)
        flip = RandomHorizontalFlip(probability: flipProbability)
        self.normalization = normalization
    }

    /// One view of `image` (size × size), drawing from `generator`.
    public func view(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        flip.apply(crop.apply(image, generator), generator)
    }
}

/// Runs a linear protocol as the references train it (`options.cached == false`): the grid trained
/// on augmented views through the frozen `model` every iteration, chosen on a held-out split of
/// `train` (evaluation views), scored on `val`. With `options.cached` it extracts the features once
/// and calls `runLinearProtocol`.
///
/// - Parameters:
///   - imageSize: side of the views given to the backbone.
///   - workers: threads decoding and augmenting training images.
///   - progress: (epoch done, epochs, mean loss of the epoch).
///
/// Reference: Oquab et al., "DINOv2" (2023) and Siméoni et al., "DINOv3" (2025), linear evaluation;
/// dinov2/eval/linear.py, dinov3/eval/linear.py.
public func runLinearProtocol(model: any EmbeddingBackbone, train: ImageFileDataset, val: ImageFileDataset, imageSize: Int,
                              options: LinearProtocolOptions, protocolName: String, featureBatchSize: Int = 128, workers: Int = 1,
                              issues: DataIssueLog = DataIssueLog(),
                              progress: ((Int, Int, Double) -> Void)? = nil) -> LinearProtocolResult {
    model.eval()
    let classes = train.classes.count
    let valFeatures = linearProtocolFeatures(model: model, dataset: val, imageSize: imageSize, batchSize: featureBatchSize, issues: issues)
    if options.cached {
        let trainFeatures = linearProtocolFeatures(model: model, dataset: train, imageSize: imageSize, batchSize: featureBatchSize, issues: issues)
        return runLinearProtocol(train: trainFeatures, val: valFeatures, classes: classes, options: options,
                                 protocolName: protocolName, progress: progress)
    }
    let (fitIndices, heldIndices) = linearProtocolSplit(count: train.count, fraction: options.heldOutFraction, seed: options.seed)
    let heldFeatures = heldIndices.isEmpty ? nil
        : linearProtocolFeatures(model: model, dataset: train, indices: heldIndices.sorted(), imageSize: imageSize,
                                 batchSize: featureBatchSize, issues: issues)
    let blocks = Swift.min(4, model.blockCount)
    let settings = options.settings(depth: blocks)
    let grid = LinearProtocolGrid(settings: settings, blockWidths: Array(model.blockDimensions.suffix(blocks)),
                                  patchWidth: model.embedDimensions, classes: classes,
                                  momentum: options.momentum, seed: options.seed)
    let transform = LinearProtocolTrainTransform(size: imageSize, scale: options.cropScale, flipProbability: options.flipProbability)
    let decode = DecodeOptions(minimumShorterSide: imageSize)
    let batchSize = Swift.min(options.batchSize, fitIndices.count)
    let loader = DataLoader<(RGBImage, Int), (Tensor, [Int])>(
        count: fitIndices.count, options: LoaderOptions(batchSize: batchSize, shuffle: true, dropLast: true, seed: options.seed, workers: workers),
        sample: { k, generator in
            let i = fitIndices[k]
            guard let image = train.loadImage(at: i, options: decode, issues: issues) else { return nil }
            return (transform.view(image, generator), train.label(at: i) ?? 0)
        },
        collate: { samples, _, _ in (stackViews(samples.map(\.0), normalization: transform.normalization), samples.map(\.1)) })
    let maxIter = loader.batchesPerEpoch * options.epochs
    var iteration = 0
    for epoch in 0..<options.epochs {
        var lossSum = 0.0, steps = 0
        for (x, labels) in loader.epoch(epoch) {                                          // x: (B, 3, S, S)
            let features = linearProtocolFeatures(model: model, images: x, blocks: blocks, labels: labels)
            lossSum += grid.step(features, factor: cosineAnnealingFactor(iteration: iteration, of: maxIter))
            iteration += 1; steps += 1
        }
        progress?(epoch + 1, options.epochs, lossSum / Double(Swift.max(steps, 1)))
    }
    let (rows, chosen) = grid.evaluate(heldOut: heldFeatures ?? valFeatures, val: valFeatures)
    var result = LinearProtocolResult(protocolName: protocolName, training: "augmented", fitImages: fitIndices.count,
                                      heldOutImages: heldFeatures?.count ?? 0, valImages: valFeatures.count, iterations: iteration,
                                      rows: rows, chosen: chosen)
    result.cropScale = options.cropScale
    result.flipProbability = options.flipProbability
    return result
}
