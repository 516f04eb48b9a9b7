// DINOv2's linear evaluation protocol on frozen features: every combination of (last 1 or last
// 4 blocks' class tokens) × (with or without the average-pooled patch tokens of the last block)
// × 13 learning rates, all classifiers trained at once on the same batches, the best one chosen.
//
// What it is: facebookresearch/dinov2 dinov2/eval/linear.py — `create_linear_input` (class tokens
// of the last n blocks concatenated oldest first, then the mean patch token of the last block
// when `avgpool`), `LinearClassifier` (weights N(0, 0.01²), zero bias), `setup_linear_classifiers`
// (n ∈ {1, 4}, avgpool ∈ {False, True}, the 13 rates 1e-5 … 0.1, each scaled by batch/256; names
// `classifier_{n}_blocks_avgpool_{avgpool}_lr_{lr:.5f}`), SGD with momentum 0.9 and no weight
// decay, `CosineAnnealingLR` over all iterations (stepped per iteration, η_min 0), the sum of the
// classifiers' cross-entropies as the loss (the classifiers share nothing, so each learns as if
// alone), batch 128 and 10 epochs by default. Backbone tokens are normed (`get_intermediate_layers`
// with its default norm=True).
// What it differs in: the reference picks the best classifier on the validation set; here it is
// picked on a held-out split of the training set (10 % by default) and the validation accuracy of
// that one classifier is reported (with every classifier's, for the table). The reference trains
// on random-resized-crop + flip views passed through the frozen backbone every iteration; this
// is the "cached" variant: one centre view per image, features computed once.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// DINOv2's 13 base learning rates (linear.py `--learning-rates` default).
public let dinov2LinearLearningRates: [Double] = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]

/// The per-image features the protocol's classifiers read.
public struct LinearProtocolFeatures: @unchecked Sendable {
    /// (N, L, D): the normed class tokens of the last L blocks (L = min(4, depth)), oldest first.
    public let classTokens: Tensor
    /// (N, D): the mean of the last block's normed patch tokens.
    public let patchMean: Tensor
    public let labels: [Int]

    public init(classTokens: Tensor, patchMean: Tensor, labels: [Int]) {
        precondition(classTokens.rank == 3 && patchMean.rank == 2 && classTokens.shape[0] == patchMean.shape[0]
                     && labels.count == patchMean.shape[0],
                     "LinearProtocolFeatures: class tokens \(classTokens.shape), patch mean \(patchMean.shape), \(labels.count) labels")
        self.classTokens = classTokens
        self.patchMean = patchMean
        self.labels = labels
    }

    public var count: Int { labels.count }

    /// `create_linear_input`: the class tokens of the last `blocks` blocks, then the patch mean when
    /// `averagePool`: (N, blocks·D) or (N, (blocks + 1)·D).
    public func input(blocks n: Int, averagePool: Bool) -> Tensor {
        let l = classTokens.shape[1], d = classTokens.shape[2]
        precondition(n >= 1 && n <= l, "LinearProtocolFeatures: \(n) blocks of the \(l) stored")
        let cls = classTokens.slice(axis: 1, start: l - n).contiguous().reshape([count, n * d])   // (N, n·D)
        return averagePool ? Tensor.concat([cls, patchMean], axis: 1) : cls
    }

    /// The images at `indices`.
    public func subset(_ indices: [Int]) -> LinearProtocolFeatures {
        LinearProtocolFeatures(classTokens: classTokens.indexSelect(axis: 0, indices: indices),
                               patchMean: patchMean.indexSelect(axis: 0, indices: indices), labels: indices.map { labels[$0] })
    }
}

/// One classifier of the grid.
public struct LinearProtocolSetting: Codable, Equatable, Sendable {
    /// Last blocks whose class tokens are used (1 or 4).
    public var blocks: Int
    public var averagePool: Bool
    /// Base rate and the rate used, base · batch / 256.
    public var baseLearningRate: Double
    public var learningRate: Double

    /// The reference's name, `classifier_{n}_blocks_avgpool_{avgpool}_lr_{lr:.5f}` with '.' → '_'.
    public var name: String {
        "classifier_\(blocks)_blocks_avgpool_\(averagePool ? "True" : "False")_lr_\(String(format: "%.5f", learningRate))"
            .replacingOccurrences(of: ".", with: "_")
    }

    enum CodingKeys: String, CodingKey {
        case blocks, averagePool = "avgpool", baseLearningRate = "base_lr", learningRate = "lr"
    }
}

/// Settings of the protocol (defaults: dinov2/eval/linear.py).
public struct LinearProtocolOptions: Configuration, Equatable, Sendable {
    /// Block counts (`n_last_blocks_list`, [1, 4]; capped at the backbone's depth).
    public var blocks = [1, 4]
    public var learningRates = dinov2LinearLearningRates
    /// Images per step (128) and epochs (10; an epoch is one pass here, 1250 iterations there).
    public var batchSize = 128
    public var epochs = 10
    /// SGD momentum (0.9).
    public var momentum = 0.9
    /// Fraction of the training set held out to choose the classifier.
    public var heldOutFraction = 0.1
    public var seed: UInt64 = 0

    public init() {}

    /// The grid in the reference's order: blocks, then avgpool (False, True), then rates. As in the
    /// reference's `nn.ModuleDict`, a setting whose name (rate printed with 5 decimals) repeats an
    /// earlier one replaces it in place: at batch 128 the scaled rates 5e-6 and 1e-5 both print
    /// `0_00001`, so 12 rates per feature set remain and 48 classifiers in all.
    public func settings(depth: Int) -> [LinearProtocolSetting] {
        var out: [LinearProtocolSetting] = []
        var position: [String: Int] = [:]
        var seen = Set<Int>()
        for n in blocks.map({ Swift.min($0, depth) }) where seen.insert(n).inserted {
            for pool in [false, true] {
                for lr in learningRates {
                    let s = LinearProtocolSetting(blocks: n, averagePool: pool, baseLearningRate: lr,
                                                  learningRate: lr * Double(batchSize) / 256)
                    if let i = position[s.name] { out[i] = s } else { position[s.name] = out.count; out.append(s) }
                }
            }
        }
        return out
    }

    enum CodingKeys: String, CodingKey {
        case blocks, epochs, momentum, seed
        case learningRates = "learning_rates", batchSize = "batch_size", heldOutFraction = "held_out_fraction"
    }
}

/// The outcome of the protocol.
public struct LinearProtocolResult: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var setting: LinearProtocolSetting
        public var heldOut: ClassifierAccuracy
        public var val: ClassifierAccuracy
        enum CodingKeys: String, CodingKey { case setting, heldOut = "held_out", val }
    }
    /// Every classifier, in the grid's order.
    public var rows: [Row]
    /// The classifier with the best held-out top-1 (on ties the first in the grid's order: fewer
    /// blocks, then no pooling, then the smaller rate) and its validation accuracy.
    public var chosen: Row
}

/// Features for the protocol from a backbone: normed class tokens of the last min(4, depth)
/// blocks and the last block's mean patch token, for every readable image of `dataset` (one view:
/// EvaluationTransform.forInput).
public func linearProtocolFeatures(model: VisionTransformer, dataset: ImageFileDataset, imageSize: Int, batchSize: Int = 128,
                                   issues: DataIssueLog = DataIssueLog(), progress: ((Int, Int) -> Void)? = nil) -> LinearProtocolFeatures {
    model.eval()
    let t = EvaluationTransform.forInput(size: imageSize)
    let l = Swift.min(4, model.config.depth)
    var cls: [Tensor] = [], means: [Tensor] = [], labels: [Int] = []
    var start = 0
    while start < dataset.count {
        var views: [RGBImage] = []
        for i in start..<Swift.min(start + batchSize, dataset.count) {
            guard let image = dataset.loadImage(at: i, options: DecodeOptions(minimumShorterSide: t.resizeSize), issues: issues) else { continue }
            views.append(t.view(image))
            labels.append(dataset.label(at: i) ?? 0)
        }
        start += batchSize
        progress?(Swift.min(start, dataset.count), dataset.count)
        guard !views.isEmpty else { continue }
        let x = stackViews(views, normalization: t.normalization)
        let outs = withNoGrad { model.intermediateLayers(x, last: l) }
        cls.append(Tensor.stack(outs.map(\.classToken), axis: 1).contiguous())                  // (n, L, D)
        means.append(withNoGrad { outs.last!.patchTokens.mean(axes: [1]) })                     // (n, D)
    }
    precondition(!cls.isEmpty, "linearProtocolFeatures: no readable image in \(dataset.root)")
    return LinearProtocolFeatures(classTokens: cls.count == 1 ? cls[0] : Tensor.concat(cls, axis: 0),
                                  patchMean: means.count == 1 ? means[0] : Tensor.concat(means, axis: 0), labels: labels)
}

/// Trains every classifier of the grid at once on `train` minus a held-out split, chooses on the
/// held-out split, and scores every classifier on `val`.
///
/// Reference: Oquab et al., "DINOv2" (2023), linear evaluation; dinov2/eval/linear.py.
public func runLinearProtocol(train: LinearProtocolFeatures, val: LinearProtocolFeatures, classes: Int,
                              options: LinearProtocolOptions = .init(), progress: ((Int, Int, Double) -> Void)? = nil) -> LinearProtocolResult {
    let depthStored = train.classTokens.shape[1]
    let settings = options.settings(depth: depthStored)
    let n = train.count
    let held = options.heldOutFraction > 0 ? Swift.max(1, Int((Double(n) * options.heldOutFraction).rounded())) : 0
    precondition(n - held >= 1, "runLinearProtocol: \(n) training images leave none to fit after holding out \(held)")
    let order = RandomGenerator(seed: options.seed).fork(0x5EED).permutation(n)
    let fit = train.subset(Array(order[held...]))
    let holdOut = held > 0 ? train.subset(Array(order[..<held])) : fit
    // Inputs per (blocks, avgpool), shared by the rates.
    var inputs: [String: (fit: Tensor, hold: Tensor, val: Tensor)] = [:]
    func key(_ s: LinearProtocolSetting) -> String { "\(s.blocks)-\(s.averagePool)" }
    for s in settings where inputs[key(s)] == nil {
        inputs[key(s)] = (fit.input(blocks: s.blocks, averagePool: s.averagePool).to(.float32).contiguous(),
                          holdOut.input(blocks: s.blocks, averagePool: s.averagePool).to(.float32).contiguous(),
                          val.input(blocks: s.blocks, averagePool: s.averagePool).to(.float32).contiguous())
    }
    let g = RandomGenerator(seed: options.seed)
    var weights: [Tensor] = [], biases: [Tensor] = [], groups: [ParameterGroup] = []
    for (i, s) in settings.enumerated() {
        let d = inputs[key(s)]!.fit.shape[1]
        let w = g.fork(UInt64(i)).normal([classes, d], std: 0.01).requiringGrad()       // (C, D)
        let b = Tensor.zeros([classes]).requiringGrad()
        weights.append(w); biases.append(b)
        groups.append(ParameterGroup(role: "linear", parameters: [w, b], names: ["\(s.name).linear.weight", "\(s.name).linear.bias"],
                                     lrMultiplier: s.learningRate))
    }
    let sgd = SGD(groups: groups, momentum: options.momentum)
    let batch = Swift.min(options.batchSize, fit.count)
    let perEpoch = (fit.count + batch - 1) / batch
    let maxIter = perEpoch * options.epochs
    var iteration = 0
    for epoch in 0..<options.epochs {
        let shuffled = g.fork(0xE0000 + UInt64(epoch)).permutation(fit.count)
        var lossSum = 0.0
        for s in 0..<perEpoch {
            let idx = Array(shuffled[(s * batch)..<Swift.min((s + 1) * batch, fit.count)])
            let y = idx.map { fit.labels[$0] }
            groups.zeroGrad()
            var total: Tensor? = nil
            var cache: [String: Tensor] = [:]
            for (i, st) in settings.enumerated() {
                let k = key(st)
                let xb = cache[k] ?? inputs[k]!.fit.indexSelect(axis: 0, indices: idx)
                cache[k] = xb
                let l = Tensor.crossEntropy(logits: xb.linear(weight: weights[i], bias: biases[i]), labels: y)
                total = total.map { $0 + l } ?? l
            }
            total!.backward()
            // CosineAnnealingLR(max_iter, eta_min=0), stepped after every iteration.
            let factor = 0.5 * (1 + Foundation.cos(Double.pi * Double(iteration) / Double(maxIter)))
            sgd.step(learningRate: factor, weightDecay: 0)
            iteration += 1
            lossSum += Double(total!.item())
        }
        progress?(epoch + 1, options.epochs, lossSum / Double(perEpoch) / Double(settings.count))
    }
    let rows = settings.enumerated().map { i, s -> LinearProtocolResult.Row in
        let clf = LinearClassifier(weight: weights[i].detach(), bias: biases[i].detach())
        return .init(setting: s, heldOut: clf.accuracy(features: inputs[key(s)]!.hold, labels: holdOut.labels),
                     val: clf.accuracy(features: inputs[key(s)]!.val, labels: val.labels))
    }
    // Best held-out top-1; ties go to the first in the grid's order.
    var chosen = rows[0]
    for r in rows.dropFirst() where r.heldOut.top1 > chosen.heldOut.top1 { chosen = r }
    return LinearProtocolResult(rows: rows, chosen: chosen)
}
