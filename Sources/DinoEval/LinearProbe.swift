// Linear probing: a linear classifier trained on frozen features, with a learning-rate sweep.
//
// What it is: the classifier of facebookresearch/dino `eval_linear.py` (`LinearClassifier`:
// one linear layer, weights N(0, 0.01²), zero bias; SGD with momentum 0.9, no weight decay,
// learning rate scaled by batch/256 and annealed by a cosine over the epochs; cross-entropy),
// trained on features extracted once (no augmentation), with a small sweep of learning rates
// in the manner of DINOv2's linear evaluation — except that the rate is chosen on a held-out
// split of the training set, never on the validation set, and the chosen rate is then trained
// again on the whole training set.
// What it is not: feature extraction (FeatureExtraction.swift does that), fine-tuning.

import DinoNN
import DinoTensor
import Foundation

/// The optimiser of the linear classifier.
public enum LinearProbeOptimizer: String, Codable, Sendable, CaseIterable {
    /// SGD with momentum (DINO's `eval_linear.py`).
    case sgd
    /// AdamW with the same weight decay.
    case adamw
}

/// Settings of a linear probe (JSON keys in snake_case).
public struct LinearProbeOptions: Codable, Equatable, Sendable {
    /// Epochs over the training features (DINO: 100).
    public var epochs = 100
    /// Images per step (DINO: 1024 over 8 GPUs; the rate is scaled by batch/256).
    public var batchSize = 256
    /// Base learning rates to sweep, per 256 images (DINO: 0.001 on ImageNet's 1.28 M images;
    /// the sweep spans small data sets, where far fewer steps are taken).
    public var learningRates: [Double] = [1e-3, 1e-2, 1e-1, 1]
    /// SGD (DINO) or AdamW.
    public var optimizer = LinearProbeOptimizer.sgd
    /// SGD momentum (DINO: 0.9).
    public var momentum = 0.9
    /// Weight decay (DINO: 0).
    public var weightDecay = 0.0
    /// Fraction of the training set held out to choose the learning rate (0 skips the sweep
    /// and uses the first rate).
    public var heldOutFraction = 0.1
    /// Seed of the initial weights, the held-out split and the batch order.
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epochs, optimizer, momentum, seed
        case batchSize = "batch_size", learningRates = "learning_rates", weightDecay = "weight_decay"
        case heldOutFraction = "held_out_fraction"
    }
}

/// Top-1/top-5 accuracy of a classifier, in percent.
public struct ClassifierAccuracy: Codable, Equatable, Sendable {
    public var top1: Double
    public var top5: Double
    public init(top1: Double, top5: Double) {
        self.top1 = top1
        self.top5 = top5
    }
}

/// What a linear probe found.
public struct LinearProbeResult: Codable, Sendable {
    /// Held-out accuracy of each swept base learning rate (empty without a sweep).
    public var sweep: [SweepPoint]
    /// The base learning rate chosen.
    public var learningRate: Double
    /// Accuracy on the evaluation set of the classifier trained with it on all training features.
    public var accuracy: ClassifierAccuracy

    public struct SweepPoint: Codable, Equatable, Sendable {
        public var learningRate: Double
        public var heldOut: ClassifierAccuracy
        enum CodingKeys: String, CodingKey { case learningRate = "learning_rate", heldOut = "held_out" }
    }
    enum CodingKeys: String, CodingKey { case sweep, accuracy, learningRate = "learning_rate" }
}

/// A trained linear classifier: `logits = x Wᵀ + b`.
public struct LinearClassifier {
    /// (C, D)
    public let weight: Tensor
    /// (C)
    public let bias: Tensor

    /// Logits of features (N, D) → (N, C).
    public func callAsFunction(_ features: Tensor) -> Tensor { features.linear(weight: weight, bias: bias) }

    /// Top-1/top-5 accuracy on labelled features (ties rank by class index).
    public func accuracy(features: Tensor, labels: [Int]) -> ClassifierAccuracy {
        let logits = withNoGrad { self(features.to(weight.dtype)) }.doubles
        let c = weight.shape[0]
        var hit1 = 0, hit5 = 0
        for (i, y) in labels.enumerated() {
            let row = Array(logits[(i * c)..<((i + 1) * c)])
            let r = WeightedKNN.rank(of: y, in: row)
            if r == 0 { hit1 += 1 }
            if r < 5 { hit5 += 1 }
        }
        let n = Double(Swift.max(labels.count, 1))
        return ClassifierAccuracy(top1: Double(hit1) * 100 / n, top5: Double(hit5) * 100 / n)
    }
}

/// Trains linear classifiers on frozen features.
///
/// With `N` training features, batch `B` and base rate `η`: the rate at epoch `e` is
/// `η · B/256 · ½(1 + cos(π e / E))` (PyTorch's `CosineAnnealingLR` with `eta_min = 0`, stepped
/// per epoch); each step minimises the mean cross-entropy of a shuffled batch.
///
/// Reference: facebookresearch/dino `eval_linear.py` (`LinearClassifier`, `train`);
/// Oquab et al., "DINOv2" (2023), §7 and facebookresearch/dinov2 `eval/linear.py` (rate sweep).
public struct LinearProbe {
    public var options: LinearProbeOptions
    /// Called after every epoch of every run: (epochs done, epochs in all runs, current loss).
    public var progress: ((Int, Int, Double) -> Void)?

    public init(options: LinearProbeOptions = LinearProbeOptions(), progress: ((Int, Int, Double) -> Void)? = nil) {
        precondition(options.epochs >= 1 && options.batchSize >= 1, "LinearProbe: epochs and batch size must be positive")
        precondition(!options.learningRates.isEmpty && options.learningRates.allSatisfy { $0 > 0 },
                     "LinearProbe: learning rates \(options.learningRates) must be positive and not empty")
        precondition((0..<1).contains(options.heldOutFraction), "LinearProbe: held-out fraction must lie in [0, 1)")
        self.options = options
        self.progress = progress
    }

    /// Sweeps the learning rates on a held-out split, trains the best on all of `train`, and
    /// measures it on `evaluation`.
    ///
    /// - Parameters:
    ///   - trainFeatures: (N, D); `trainLabels`: N classes in `0..<classes`.
    ///   - evalFeatures: (M, D); `evalLabels`: M classes.
    public func run(trainFeatures: Tensor, trainLabels: [Int], evalFeatures: Tensor, evalLabels: [Int],
                    classes: Int) -> LinearProbeResult {
        let n = trainLabels.count
        let heldOut = options.learningRates.count > 1 && options.heldOutFraction > 0
            ? Swift.max(1, Int((Double(n) * options.heldOutFraction).rounded())) : 0
        let runs = (heldOut > 0 ? options.learningRates.count : 0) + 1
        var done = 0
        let report: (Double) -> Void = { loss in
            done += 1
            self.progress?(done, runs * self.options.epochs, loss)
        }
        var sweep: [LinearProbeResult.SweepPoint] = []
        var best = options.learningRates[0]
        if heldOut > 0 {
            precondition(n - heldOut >= 1, "LinearProbe: \(n) training features leave none to fit after holding out \(heldOut)")
            let order = RandomGenerator(seed: options.seed).fork(0x5EED).permutation(n)
            let fitIdx = Array(order[heldOut...]), holdIdx = Array(order[..<heldOut])
            let fitX = trainFeatures.indexSelect(axis: 0, indices: fitIdx), fitY = fitIdx.map { trainLabels[$0] }
            let holdX = trainFeatures.indexSelect(axis: 0, indices: holdIdx), holdY = holdIdx.map { trainLabels[$0] }
            for lr in options.learningRates {
                let clf = train(features: fitX, labels: fitY, classes: classes, learningRate: lr, epochDone: report)
                sweep.append(.init(learningRate: lr, heldOut: clf.accuracy(features: holdX, labels: holdY)))
            }
            // Highest held-out top-1; the smaller rate wins a tie.
            best = sweep.max { a, b in
                a.heldOut.top1 != b.heldOut.top1 ? a.heldOut.top1 < b.heldOut.top1 : a.learningRate > b.learningRate
            }!.learningRate
        }
        let final = train(features: trainFeatures, labels: trainLabels, classes: classes, learningRate: best, epochDone: report)
        return LinearProbeResult(sweep: sweep, learningRate: best,
                                 accuracy: final.accuracy(features: evalFeatures, labels: evalLabels))
    }

    /// Trains one classifier with base learning rate `learningRate` (per 256 images).
    public func train(features: Tensor, labels: [Int], classes: Int, learningRate: Double,
                      epochDone: ((Double) -> Void)? = nil) -> LinearClassifier {
        precondition(features.rank == 2 && features.shape[0] == labels.count,
                     "LinearProbe: features \(features.shape) for \(labels.count) labels")
        precondition(labels.allSatisfy { (0..<classes).contains($0) }, "LinearProbe: a label lies outside 0..<\(classes)")
        let x = features.detach().to(.float32).contiguous()
        let (n, d) = (x.shape[0], x.shape[1])
        let g = RandomGenerator(seed: options.seed)
        let weight = g.normal([classes, d], std: 0.01).requiringGrad()   // (C, D)
        let bias = Tensor.zeros([classes]).requiringGrad()               // (C)
        let groups = [ParameterGroup(role: "linear", parameters: [weight, bias], names: ["linear.weight", "linear.bias"])]
        let sgd = options.optimizer == .sgd ? SGD(groups: groups, momentum: options.momentum) : nil
        let adamw = options.optimizer == .adamw ? AdamW(groups: groups) : nil
        let batch = Swift.min(options.batchSize, n)
        let scaled = learningRate * Double(batch) / 256
        let epochs = options.epochs
        for epoch in 0..<epochs {
            let lr = scaled * 0.5 * (1 + Foundation.cos(Double.pi * Double(epoch) / Double(epochs)))
            let order = g.fork(UInt64(epoch)).permutation(n)
            var lossSum = 0.0, steps = 0
            var start = 0
            while start < n {
                let idx = Array(order[start..<Swift.min(n, start + batch)])
                start += batch
                let xb = x.indexSelect(axis: 0, indices: idx)                    // (B, D)
                let logits = xb.linear(weight: weight, bias: bias)               // (B, C)
                let loss = Tensor.crossEntropy(logits: logits, labels: idx.map { labels[$0] })
                groups.zeroGrad()
                loss.backward()
                sgd?.step(learningRate: lr, weightDecay: options.weightDecay)
                adamw?.step(learningRate: lr, weightDecay: options.weightDecay)
                lossSum += Double(loss.item())
                steps += 1
            }
            epochDone?(lossSum / Double(Swift.max(steps, 1)))
        }
        return LinearClassifier(weight: weight.detach(), bias: bias.detach())
    }
}
