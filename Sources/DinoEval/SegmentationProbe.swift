// DINOv2's linear segmentation evaluation on frozen patch tokens: batch norm and a 1×1
// projection to class logits per patch, upsampled bilinearly to the label size, trained with
// per-pixel cross-entropy; scored by mean IoU and pixel accuracy.
//
// What it is: the "linear" decode head of DINOv2's semantic segmentation evaluation
// (facebookresearch/dinov2 dinov2/eval/segmentation/models/decode_heads/linear_head.py,
// `BNHead` of its configs: SyncBatchNorm + conv_seg 1×1, logits resized with
// `resize(..., mode="bilinear", align_corners=False)`, AdamW 1e-3, weight decay 1e-4, poly
// learning-rate decay with power 1), on one process and on features computed once (the backbone
// is frozen, and no augmentation is used, so features need not be recomputed each epoch).
// What it is not: the multi-scale "+ms" variant or the "boosted" heads of the paper; sliding
// windows (our images are small).

import DinoNN
import DinoTensor

/// Frozen patch features of a set of images, and their per-pixel labels.
public struct SegmentationFeatures: @unchecked Sendable {
    /// (N, h, w, D): the backbone's patch tokens on their grid.
    public let features: Tensor
    /// N·H·W class indices, row-major per image (ignored pixels: the probe's `ignoreIndex`).
    public let labels: [Int]
    /// Label map size H × W (the image size).
    public let height: Int
    public let width: Int

    public init(features: Tensor, labels: [Int], height: Int, width: Int) {
        precondition(features.rank == 4, "SegmentationFeatures: features must be (N, h, w, D), got \(features.shape)")
        precondition(labels.count == features.shape[0] * height * width,
                     "SegmentationFeatures: \(labels.count) labels for \(features.shape[0]) images of \(height)×\(width)")
        self.features = features
        self.labels = labels
        self.height = height
        self.width = width
    }

    public var count: Int { features.shape[0] }

    /// The images at `indices`: their features and labels.
    public func subset(_ indices: [Int]) -> (features: Tensor, labels: [Int]) {
        let per = height * width
        return (features.indexSelect(axis: 0, indices: indices), indices.flatMap { labels[($0 * per)..<(($0 + 1) * per)] })
    }
}

/// Settings of the linear segmentation probe (defaults: DINOv2's linear ADE20K config, with
/// epochs over our small sets instead of 40 000 iterations).
public struct SegmentationProbeConfig: Equatable, Sendable, Codable {
    /// Passes over the training images.
    public var epochs = 20
    /// Images per step (DINOv2: 16).
    public var batchSize = 16
    /// AdamW learning rate (1e-3), decayed linearly to 0 (poly, power 1).
    public var learningRate = 1e-3
    /// AdamW weight decay (1e-4).
    public var weightDecay = 1e-4
    /// Batch norm momentum of the running statistics (PyTorch: 0.1) and ε (1e-5).
    public var batchNormMomentum = 0.1
    public var batchNormEps = 1e-5
    /// Label of pixels left out of the loss and the scores (mmseg: 255).
    public var ignoreIndex = 255
    /// Shuffling and initialisation.
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epochs, seed
        case batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay"
        case batchNormMomentum = "batch_norm_momentum", batchNormEps = "batch_norm_eps", ignoreIndex = "ignore_index"
    }
}

/// Batch norm over the feature channels and a 1×1 projection to class logits.
///
///     y = W · (γ ⊙ (x − μ) / √(σ² + ε) + β) + b      per patch token x ∈ ℝ^D
///
/// with the batch's μ, σ² (biased) while training and the running ones after.
///
/// Reference: facebookresearch/dinov2 dinov2/eval/segmentation (BNHead: `bn` + `conv_seg`,
/// conv_seg initialised N(0, 0.01²)); Ioffe & Szegedy, "Batch Normalization" (2015).
public final class LinearSegmentationHead {
    public let classes: Int
    public let dimensions: Int
    /// Batch norm of the features (`bn`); projection W (C, D) and b (C) (`conv_seg`).
    public let batchNorm: BatchNormRows
    public let weight: Tensor, bias: Tensor
    public var bnWeight: Tensor { batchNorm.weight }
    public var bnBias: Tensor { batchNorm.bias }
    public var runningMean: Tensor { batchNorm.runningMean }
    public var runningVariance: Tensor { batchNorm.runningVariance }

    public init(dimensions: Int, classes: Int, momentum: Double = 0.1, eps: Double = 1e-5, generator: RandomGenerator) {
        self.classes = classes
        self.dimensions = dimensions
        batchNorm = BatchNormRows(dimensions: dimensions, momentum: momentum, eps: eps)
        weight = (generator.normal([classes, dimensions]) * 0.01).requiringGrad()
        bias = Tensor.zeros([classes]).requiringGrad()
    }

    /// The trained tensors with their names (`bn.weight`, `bn.bias`, `conv_seg.weight`, `conv_seg.bias`).
    public var namedParameters: [(String, Tensor)] {
        [("bn.weight", bnWeight), ("bn.bias", bnBias), ("conv_seg.weight", weight), ("conv_seg.bias", bias)]
    }

    /// Logits on the patch grid: (N, h, w, D) → (N, C, h, w). While `training`, normalises with
    /// the batch's statistics and updates the running ones.
    public func logits(_ features: Tensor, training: Bool) -> Tensor {
        gridLogits(features, training: training).permute([0, 3, 1, 2]).contiguous()      // (N, C, h, w)
    }

    /// Logits on the patch grid, channels last: (N, h, w, D) → (N, h, w, C).
    func gridLogits(_ features: Tensor, training: Bool) -> Tensor {
        precondition(features.rank == 4 && features.shape[3] == dimensions,
                     "LinearSegmentationHead: features must be (N, h, w, \(dimensions)), got \(features.shape)")
        let (n, h, w) = (features.shape[0], features.shape[1], features.shape[2])
        let x = features.reshape([n * h * w, dimensions])                                   // (R, D)
        let y = batchNorm(x, training: training).linear(weight: weight, bias: bias)         // (R, C)
        return y.reshape([n, h, w, classes])                                                // (N, h, w, C)
    }

    /// Logits at the label size, one row per pixel: (N·H·W, C). The resize runs channels last
    /// (`resizeBilinearChannelsLast`, the same numbers as resizing (N, C, h, w)), so no transpose
    /// of the full-size logits is needed.
    public func pixelLogits(_ features: Tensor, height: Int, width: Int, training: Bool) -> Tensor {
        let up = resizeBilinearChannelsLast(gridLogits(features, training: training), height: height, width: width)  // (N, H, W, C)
        return up.reshape([-1, classes])                                                                              // (N·H·W, C)
    }

    /// The predicted class of every pixel, N·H·W of them, row-major per image.
    public func predict(_ features: Tensor, height: Int, width: Int) -> [Int] {
        withNoGrad { pixelLogits(features, height: height, width: width, training: false).argmax(axis: 1).indices }
    }
}

/// Trains the linear segmentation head on frozen features.
///
/// - Parameters:
///   - train: training features and labels.
///   - classes: C (labels in 0..<C; others and `ignoreIndex` are left out).
///   - config: optimisation settings.
///   - progress: called after each epoch with (epoch, mean training loss).
/// - Returns: the trained head.
public func trainSegmentationProbe(_ train: SegmentationFeatures, classes: Int, config: SegmentationProbeConfig = .init(),
                                   progress: ((Int, Double) -> Void)? = nil) -> LinearSegmentationHead {
    precondition(train.count > 0 && config.batchSize > 0 && config.epochs > 0, "trainSegmentationProbe: empty training set or settings")
    let generator = RandomGenerator(seed: config.seed)
    let head = LinearSegmentationHead(dimensions: train.features.shape[3], classes: classes,
                                      momentum: config.batchNormMomentum, eps: config.batchNormEps, generator: generator.fork(0))
    let named = head.namedParameters
    let optimizer = AdamW(groups: [ParameterGroup(role: "segmentation_head", parameters: named.map(\.1), names: named.map(\.0))])
    let steps = (train.count + config.batchSize - 1) / config.batchSize
    let total = Double(steps * config.epochs)
    var iteration = 0
    for epoch in 0..<config.epochs {
        let order = generator.fork(UInt64(epoch + 1)).permutation(train.count)
        var lossSum = 0.0, lossCount = 0
        for s in 0..<steps {
            let indices = Array(order[(s * config.batchSize)..<Swift.min((s + 1) * config.batchSize, train.count)])
            let (features, rawLabels) = train.subset(indices)
            // Labels outside 0..<C count as ignored, as `ignoreIndex` does.
            var kept = 0
            let labels = rawLabels.map { label -> Int in
                guard label != config.ignoreIndex && label >= 0 && label < classes else { return config.ignoreIndex }
                kept += 1
                return label
            }
            iteration += 1
            guard kept > 0 else { continue }
            for (_, p) in named { p.zeroGrad() }
            let logits = head.pixelLogits(features, height: train.height, width: train.width, training: true)  // (n·H·W, C)
            // The mean over the kept pixels, fused (no copy of their logits): the numbers of
            // crossEntropy(logits: logits.indexSelect(axis: 0, indices: kept), labels: kept labels).
            let loss = Tensor.crossEntropy(logits: logits, labels: labels, ignoreIndex: config.ignoreIndex)
            loss.backward()
            // mmseg's poly schedule (power 1, min 0), as the step count advances.
            let lr = config.learningRate * (1 - Double(iteration - 1) / total)
            optimizer.step(learningRate: lr, weightDecay: config.weightDecay)
            lossSum += Double(loss.item())
            lossCount += 1
        }
        progress?(epoch, lossCount > 0 ? lossSum / Double(lossCount) : .nan)
    }
    return head
}

/// Scores the head on a labelled set: mean IoU and pixel accuracy, in percent.
public func evaluateSegmentationProbe(_ head: LinearSegmentationHead, on set: SegmentationFeatures, batchSize: Int = 64,
                                      ignoreIndex: Int = 255) -> SegmentationScores {
    var confusion = ConfusionMatrix(classes: head.classes)
    var start = 0
    while start < set.count {
        let indices = Array(start..<Swift.min(start + batchSize, set.count))
        let (features, labels) = set.subset(indices)
        confusion.add(predictions: head.predict(features, height: set.height, width: set.width), labels: labels,
                      ignoreIndex: ignoreIndex)
        start += batchSize
    }
    return confusion.scores
}
