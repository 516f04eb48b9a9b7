// Training and scoring a linear depth head (DepthHead.swift) on frozen backbone tokens computed
// once: the backbone is frozen and, as in our segmentation probe, no augmentation is used.
//
// What it is: the optimisation of DINOv3's linear depth evaluation (dinov3/eval/depth/train.py and
// configs/config-nyu.yaml): AdamW (lr 3e-4, betas (0.9, 0.99), weight decay 1e-4), gradient
// clipping at norm 35, `WarmupOneCycleLR` (schedulers.py: warm-up over the first third, then a
// cosine to lr / 25 / 1000), SigLoss with its 100-step warm-up (weight 1) plus optionally the
// gradient loss; the prediction resized bilinearly to the truth before the loss; the loss over
// all valid pixels of a batch. DINOv2 published no training config for its linear depth heads,
// so `lin.1` / `lin.4` are trained with the same recipe.
// What it is not: the reference's random crops and brightness jitter, its cycled AdamW β₁
// (0.85–0.95 with the schedule; ours stays 0.9), 38 400 iterations (ours: epochs over small sets).

import DinoModels
import DinoNN
import DinoTensor
import Foundation

/// Frozen tokens of a set of images and their depth maps.
public struct DepthFeatures: @unchecked Sendable {
    /// Per block used by the head: patch tokens (N, h, w, D).
    public let patchTokens: [Tensor]
    /// Per block: class tokens (N, D) (empty when the head does not use them).
    public let classTokens: [Tensor]
    /// N·H·W depths in metres (0: unknown), row-major per image.
    public let depths: [Float]
    public let height: Int
    public let width: Int

    public init(patchTokens: [Tensor], classTokens: [Tensor], depths: [Float], height: Int, width: Int) {
        precondition(!patchTokens.isEmpty && patchTokens.allSatisfy { $0.rank == 4 && $0.shape[0] == patchTokens[0].shape[0] },
                     "DepthFeatures: patch tokens must be (N, h, w, D) per block")
        precondition(depths.count == patchTokens[0].shape[0] * height * width,
                     "DepthFeatures: \(depths.count) depths for \(patchTokens[0].shape[0]) images of \(height)×\(width)")
        self.patchTokens = patchTokens
        self.classTokens = classTokens
        self.depths = depths
        self.height = height
        self.width = width
    }

    public var count: Int { patchTokens[0].shape[0] }

    /// The images at `indices`: their tokens and depths (N', 1, H, W).
    public func subset(_ indices: [Int]) -> (patchTokens: [Tensor], classTokens: [Tensor], depths: Tensor) {
        let per = height * width
        let d = indices.flatMap { depths[($0 * per)..<(($0 + 1) * per)] }
        return (patchTokens.map { $0.indexSelect(axis: 0, indices: indices) },
                classTokens.map { $0.indexSelect(axis: 0, indices: indices) },
                Tensor(d, shape: [indices.count, 1, height, width]))
    }
}

/// Optimisation settings of the depth probe (defaults: DINOv3 config-nyu.yaml, with epochs over
/// our small sets instead of 38 400 iterations).
public struct DepthProbeConfig: Configuration, Equatable, Sendable {
    /// Passes over the training images.
    public var epochs = 10
    /// Images per step (DINOv3: 2 per GPU × 8 GPUs).
    public var batchSize = 16
    /// AdamW peak learning rate (3e-4), β₂ (0.99), weight decay (1e-4).
    public var learningRate = 3e-4
    public var beta2 = 0.99
    public var weightDecay = 1e-4
    /// Gradient clipping norm (35).
    public var gradientClip = 35.0
    /// Fraction of the steps spent warming up (12 800 / 38 400).
    public var warmUpFraction = 1.0 / 3.0
    /// One-cycle: the final learning rate is lr / div_factor / final_div_factor (25, 1000).
    public var divFactor = 25.0
    public var finalDivFactor = 1000.0
    /// SigLoss warm-up (DINOv3: true, 100 iterations) and weight (1).
    public var sigLossWarmUp = true
    public var sigLossWarmUpIterations = 100
    public var sigLossWeight = 1.0
    /// Weight of the gradient loss on log depth (0: off, as in config-nyu.yaml).
    public var gradientLossWeight = 0.0
    /// Shuffling and initialisation.
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epochs, seed, beta2
        case batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay"
        case gradientClip = "gradient_clip", warmUpFraction = "warmup_fraction", divFactor = "div_factor"
        case finalDivFactor = "final_div_factor", sigLossWarmUp = "sigloss_warm_up"
        case sigLossWarmUpIterations = "sigloss_warm_iter", sigLossWeight = "sigloss_weight"
        case gradientLossWeight = "gradient_loss_weight"
    }
}

/// The learning rate of DINOv3's `WarmupOneCycleLR` at `step` (0-based) of `total` (cosine
/// annealing, warm-up without `warmup_ratio`):
///
///     step < W:  lr = max/f + max · (1 + cos(π·step/T)) / 2 · step / W
///     else:      lr = min + (max − min) · (1 + cos(π·(step + 1)/T)) / 2,   min = max / div / f
///
/// Reference: dinov3/eval/depth/schedulers.py `WarmupOneCycleLR._compute_lr_momentum`.
public func warmupOneCycleLearningRate(step: Int, total: Int, warmUp: Int, maxLR: Double,
                                       divFactor: Double = 25, finalDivFactor: Double = 1000) -> Double {
    let t = Double(total)
    if step < warmUp {
        let gmax = maxLR * (1 + cos(Double.pi * Double(step) / t)) / 2
        return maxLR / finalDivFactor + gmax * Double(step) / Double(warmUp)
    }
    let minLR = maxLR / divFactor / finalDivFactor
    let pct = Double(step + 1) / t
    return minLR + (maxLR - minLR) / 2 * (cos(Double.pi * pct) + 1)
}

/// Trains a linear depth head on frozen tokens.
///
/// - Parameters:
///   - train: training tokens and depths.
///   - head: the head's settings (its `layers` must match the tokens given).
///   - config: optimisation settings.
///   - progress: called after each epoch with (epoch, mean training loss).
public func trainDepthProbe(_ train: DepthFeatures, head headConfig: DepthHeadConfig, config: DepthProbeConfig = .init(),
                            progress: ((Int, Double) -> Void)? = nil) -> LinearDepthHead {
    precondition(train.count > 0 && config.batchSize > 0 && config.epochs > 0, "trainDepthProbe: empty training set or settings")
    let generator = RandomGenerator(seed: config.seed)
    let head = LinearDepthHead(embedDimensions: train.patchTokens[0].shape[3], config: headConfig, generator: generator.fork(0))
    let named = head.namedParameters
    let optimizer = AdamW(groups: [ParameterGroup(role: "depth_head", parameters: named.map(\.1), names: named.map(\.0))],
                          beta1: 0.9, beta2: config.beta2)
    var sigLoss = SigLoss(warmUp: config.sigLossWarmUp, warmUpIterations: config.sigLossWarmUpIterations,
                          weight: config.sigLossWeight, maxDepth: headConfig.maxDepth)
    let steps = (train.count + config.batchSize - 1) / config.batchSize
    let total = steps * config.epochs
    let warmUp = Int(config.warmUpFraction * Double(total))
    var iteration = 0
    for epoch in 0..<config.epochs {
        let order = generator.fork(UInt64(epoch + 1)).permutation(train.count)
        var lossSum = 0.0, lossCount = 0
        for s in 0..<steps {
            let indices = Array(order[(s * config.batchSize)..<Swift.min((s + 1) * config.batchSize, train.count)])
            let (patches, classes, truth) = train.subset(indices)
            let lr = warmupOneCycleLearningRate(step: iteration, total: total, warmUp: warmUp, maxLR: config.learningRate,
                                                divFactor: config.divFactor, finalDivFactor: config.finalDivFactor)
            iteration += 1
            for (_, p) in named { p.zeroGrad() }
            let x = head.input(patchTokens: patches, classTokens: classes)                        // (n, h, w, C)
            let prediction = head.depth(x, height: train.height, width: train.width, training: true)  // (n, 1, H, W)
            var loss = sigLoss(prediction, truth)
            if config.gradientLossWeight > 0 {
                var valid = truth.gt(0)
                valid = valid * truth.le(headConfig.maxDepth)
                loss = loss + gradientLogLoss(prediction, truth, mask: valid) * config.gradientLossWeight
            }
            loss.backward()
            clipGradientNorm(named.map(\.1), maxNorm: config.gradientClip)
            optimizer.step(learningRate: lr, weightDecay: config.weightDecay)
            lossSum += Double(loss.item())
            lossCount += 1
        }
        progress?(epoch, lossSum / Double(Swift.max(lossCount, 1)))
    }
    return head
}

/// Predicted depths (metres) of the images at `indices`, N'·H·W row-major.
public func predictDepth(_ head: LinearDepthHead, on set: DepthFeatures, indices: [Int]) -> [Float] {
    withNoGrad {
        let (patches, classes, _) = set.subset(indices)
        let x = head.input(patchTokens: patches, classTokens: classes)
        return head.depth(x, height: set.height, width: set.width, training: false).scalars
    }
}

/// Scores a head on a set: the mean of per-image metrics (DepthMetrics.swift).
///
/// - Parameter predictions: when given, receives every image's predicted depths (H·W each).
public func evaluateDepthProbe(_ head: LinearDepthHead, on set: DepthFeatures, batchSize: Int = 32,
                               predictions: ((Int, [Float]) -> Void)? = nil) -> DepthMetrics {
    let per = set.height * set.width
    var all: [DepthMetrics] = []
    var start = 0
    while start < set.count {
        let indices = Array(start..<Swift.min(start + batchSize, set.count))
        let p = predictDepth(head, on: set, indices: indices)
        for (k, i) in indices.enumerated() {
            let predicted = Array(p[(k * per)..<((k + 1) * per)])
            predictions?(i, predicted)
            if let m = DepthMetrics.of(truth: Array(set.depths[(i * per)..<((i + 1) * per)]), prediction: predicted,
                                       minDepth: head.config.minDepth, maxDepth: head.config.maxDepth) {
                all.append(m)
            }
        }
        start += batchSize
    }
    return DepthMetrics.mean(all)
}

/// The trivial baseline: every pixel of every `val` image predicted as the mean valid depth of
/// `trainDepths`.
public func meanDepthBaseline(trainDepths: [Float], val: [Float], pixelsPerImage: Int,
                              minDepth: Double = 0.001, maxDepth: Double = 10) -> (mean: Double, metrics: DepthMetrics) {
    let valid = trainDepths.filter { Double($0) > minDepth && Double($0) < maxDepth }
    let mean = valid.isEmpty ? 0 : valid.reduce(0.0) { $0 + Double($1) } / Double(valid.count)
    return (mean, metricsOfEveryImage(val: val, prediction: [Float](repeating: Float(mean), count: pixelsPerImage),
                                      minDepth: minDepth, maxDepth: maxDepth))
}

/// The mean per-image metrics of predicting `prediction` (one image's depths) for every image of `val`.
private func metricsOfEveryImage(val: [Float], prediction: [Float], minDepth: Double, maxDepth: Double) -> DepthMetrics {
    let per = prediction.count
    var all: [DepthMetrics] = []
    var start = 0
    while start + per <= val.count {
        if let m = DepthMetrics.of(truth: Array(val[start..<(start + per)]), prediction: prediction,
                                   minDepth: minDepth, maxDepth: maxDepth) { all.append(m) }
        start += per
    }
    return DepthMetrics.mean(all)
}

/// The position-only baseline: every pixel of every `val` image predicted as the mean valid
/// depth of `trainDepths` at that pixel (the training set's mean depth map; the overall mean
/// where no training image has a valid depth there). A probe whose features say nothing about
/// the image but where a patch sits can reach it; on scene sets with a tilted ground (scenes-dev:
/// far at the top, near at the bottom) it is far ahead of the single mean.
public func meanDepthMapBaseline(trainDepths: [Float], val: [Float], pixelsPerImage: Int,
                                 minDepth: Double = 0.001, maxDepth: Double = 10) -> DepthMetrics {
    var sums = [Double](repeating: 0, count: pixelsPerImage), counts = [Int](repeating: 0, count: pixelsPerImage)
    var total = 0.0, valid = 0
    var start = 0
    while start + pixelsPerImage <= trainDepths.count {
        for p in 0..<pixelsPerImage {
            let d = Double(trainDepths[start + p])
            if d > minDepth && d < maxDepth { sums[p] += d; counts[p] += 1; total += d; valid += 1 }
        }
        start += pixelsPerImage
    }
    let overall = valid == 0 ? 0 : total / Double(valid)
    let map = (0..<pixelsPerImage).map { Float(counts[$0] == 0 ? overall : sums[$0] / Double(counts[$0])) }
    return metricsOfEveryImage(val: val, prediction: map, minDepth: minDepth, maxDepth: maxDepth)
}
