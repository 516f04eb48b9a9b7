// The linear evaluation protocols of DINOv2 and DINOv3 on a frozen backbone: a grid of linear
// classifiers (feature sets × 13 learning rates) trained at once on the same batches, the best one
// chosen on a held-out split of the training set and scored on the validation set.
//
// What it is:
// - DINOv2, facebookresearch/dinov2 dinov2/eval/linear.py — `create_linear_input` (class tokens of
//   the last n blocks concatenated oldest first, then the mean patch token of the last block when
//   `avgpool`), `LinearClassifier` (weights N(0, 0.01²), zero bias), `setup_linear_classifiers`
//   (n ∈ {1, 4}, avgpool ∈ {False, True}, the 13 rates 1e-5 … 0.1, each scaled by batch/256; names
//   `classifier_{n}_blocks_avgpool_{avgpool}_lr_{lr:.5f}`), SGD with momentum 0.9 and no weight
//   decay, `CosineAnnealingLR` over all iterations (stepped per iteration, η_min 0), the sum of the
//   classifiers' cross-entropies as the loss (the classifiers share nothing, so each learns as if
//   alone), batch 128 and 10 epochs by default. Backbone tokens are normed (`get_intermediate_layers`
//   with its default norm=True).
// - DINOv3, facebookresearch/dinov3 dinov3/eval/linear.py — the same classifier, optimiser and
//   schedule; `n_last_blocks_list` (1,) and avgpool True only: the input is [class token of the
//   last block, mean of its patch tokens] (the class token through `cls_norm` when the norms are
//   untied; storage tokens in neither), 13 rates → 12 classifiers at batch 128 (two names collide).
// - Training views (both references, `make_classification_train_transform`): RandomResizedCrop(S,
//   scale 0.08–1, bicubic) + horizontal flip p 0.5, passed through the frozen backbone at every
//   iteration (LinearProtocolAugmented.swift); evaluation views: resize S·256/224 + centre crop.
// What it differs in: the references choose the classifier on their validation set and report the
// chosen one on test sets; here the choice is made on a held-out split of the training set (10 %
// by default, evaluation views) and the chosen classifier is reported on the validation set (with
// every classifier's scores, for the table). An epoch is one pass over the remaining training
// images (the references count 1250 iterations of an infinite sampler). `cached` is a faster
// variant that is not the references': one centre view per image, features computed once.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// The reference whose protocol is run.
public enum LinearProtocolKind: String, Codable, CaseIterable, Sendable {
    /// dinov2/eval/linear.py: last 1 and 4 blocks × avgpool or not × 13 rates.
    case dinov2
    /// dinov3/eval/linear.py: last block with avgpool × 13 rates.
    case dinov3
}

/// DINOv2's and DINOv3's 13 base learning rates (linear.py `--learning-rates`, `_DEFAULT_LR_LIST`).
public let dinov2LinearLearningRates: [Double] = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]

/// The per-image features the protocol's classifiers read.
public struct LinearProtocolFeatures: @unchecked Sendable {
    /// (N, Σ D_l): the normed class tokens of the last L blocks (L = min(4, blocks)), oldest first,
    /// side by side; block l is `blockWidths[l]` columns wide (all D for a ViT; a ConvNeXt's stage
    /// widths, its stages' pooled maps).
    public let classTokens: Tensor
    /// Width of each stored block's class token, oldest first.
    public let blockWidths: [Int]
    /// (N, D): the mean of the last block's normed patch tokens.
    public let patchMean: Tensor
    public let labels: [Int]

    /// Features from the class tokens of L blocks of one width, (N, L, D).
    public init(classTokens: Tensor, patchMean: Tensor, labels: [Int]) {
        precondition(classTokens.rank == 3, "LinearProtocolFeatures: class tokens \(classTokens.shape) are not (N, L, D)")
        let (n, l, d) = (classTokens.shape[0], classTokens.shape[1], classTokens.shape[2])
        self.init(classTokens: classTokens.contiguous().reshape([n, l * d]), blockWidths: Array(repeating: d, count: l),
                  patchMean: patchMean, labels: labels)
    }

    /// Features from the class tokens of L blocks side by side, (N, Σ D_l), block l `blockWidths[l]` wide.
    public init(classTokens: Tensor, blockWidths: [Int], patchMean: Tensor, labels: [Int]) {
        precondition(classTokens.rank == 2 && patchMean.rank == 2 && classTokens.shape[0] == patchMean.shape[0]
                     && labels.count == patchMean.shape[0] && !blockWidths.isEmpty && classTokens.shape[1] == blockWidths.reduce(0, +),
                     "LinearProtocolFeatures: class tokens \(classTokens.shape) of blocks \(blockWidths), patch mean \(patchMean.shape), \(labels.count) labels")
        self.classTokens = classTokens
        self.blockWidths = blockWidths
        self.patchMean = patchMean
        self.labels = labels
    }

    public var count: Int { labels.count }

    /// `create_linear_input`: the class tokens of the last `blocks` blocks, then the patch mean when
    /// `averagePool`: (N, Σ_last D_l) or (N, Σ_last D_l + D).
    public func input(blocks n: Int, averagePool: Bool) -> Tensor {
        let l = blockWidths.count
        precondition(n >= 1 && n <= l, "LinearProtocolFeatures: \(n) blocks of the \(l) stored")
        let start = blockWidths.prefix(l - n).reduce(0, +)
        let cls = start == 0 ? classTokens : classTokens.slice(axis: 1, start: start).contiguous()   // (N, Σ_last D_l)
        return averagePool ? Tensor.concat([cls, patchMean], axis: 1) : cls
    }

    /// Width of `input(blocks:averagePool:)`.
    public func inputWidth(blocks n: Int, averagePool: Bool) -> Int {
        Self.inputWidth(blockWidths: blockWidths, patchWidth: patchMean.shape[1], blocks: n, averagePool: averagePool)
    }

    /// Width of the classifier input of the last `n` of blocks of `blockWidths`, with the patch
    /// mean (`patchWidth` wide) when `averagePool`.
    static func inputWidth(blockWidths: [Int], patchWidth: Int, blocks n: Int, averagePool: Bool) -> Int {
        blockWidths.suffix(n).reduce(0, +) + (averagePool ? patchWidth : 0)
    }

    /// The images at `indices`.
    public func subset(_ indices: [Int]) -> LinearProtocolFeatures {
        LinearProtocolFeatures(classTokens: classTokens.indexSelect(axis: 0, indices: indices), blockWidths: blockWidths,
                               patchMean: patchMean.indexSelect(axis: 0, indices: indices), labels: indices.map { labels[$0] })
    }

    /// Several sets of the same blocks, one after the other.
    static func joined(_ parts: [LinearProtocolFeatures]) -> LinearProtocolFeatures {
        parts.count == 1 ? parts[0] : LinearProtocolFeatures(
            classTokens: Tensor.concat(parts.map(\.classTokens), axis: 0), blockWidths: parts[0].blockWidths,
            patchMean: Tensor.concat(parts.map(\.patchMean), axis: 0), labels: parts.flatMap(\.labels))
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
    /// Block counts (`n_last_blocks_list`: DINOv2 [1, 4], DINOv3 [1]; capped at the backbone's depth).
    public var blocks = [1, 4]
    /// With and without the mean patch token (DINOv2 [false, true], DINOv3 [true]).
    public var averagePool = [false, true]
    public var learningRates = dinov2LinearLearningRates
    /// Images per step (128) and epochs (10; an epoch is one pass here, 1250 iterations there).
    public var batchSize = 128
    public var epochs = 10
    /// SGD momentum (0.9).
    public var momentum = 0.9
    /// Fraction of the training set held out to choose the classifier.
    public var heldOutFraction = 0.1
    public var seed: UInt64 = 0
    /// One centre view per image with features computed once (fast; not the references' training,
    /// which passes random-resized-crop + flip views through the backbone every iteration).
    public var cached = false
    /// RandomResizedCrop's area range for the training views (torchvision's default, 0.08–1).
    public var cropScale = [0.08, 1.0]
    /// Probability of the horizontal flip of the training views (0.5).
    public var flipProbability = 0.5

    /// DINOv2's defaults.
    public init() {}

    /// The reference's grid: DINOv2 (last 1 and 4 blocks × avgpool or not) or DINOv3 (last block
    /// with avgpool); everything else the same.
    public init(_ kind: LinearProtocolKind) {
        switch kind {
        case .dinov2: break
        case .dinov3: blocks = [1]; averagePool = [true]
        }
    }

    /// The grid in the reference's order: blocks, then avgpool (False, True), then rates. As in the
    /// reference's `nn.ModuleDict`, a setting whose name (rate printed with 5 decimals) repeats an
    /// earlier one replaces it in place: at batch 128 the scaled rates 5e-6 and 1e-5 both print
    /// `0_00001`, so 12 rates per feature set remain and 48 classifiers in all.
    public func settings(depth: Int) -> [LinearProtocolSetting] {
        var out: [LinearProtocolSetting] = []
        var position: [String: Int] = [:]
        var seen = Set<Int>()
        for n in blocks.map({ Swift.min($0, depth) }) where seen.insert(n).inserted {
            for pool in [false, true] where averagePool.contains(pool) {
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
        case blocks, epochs, momentum, seed, cached
        case averagePool = "avgpool", learningRates = "learning_rates", batchSize = "batch_size"
        case heldOutFraction = "held_out_fraction", cropScale = "crop_scale", flipProbability = "flip_probability"
    }

    public func validate() throws {
        func bad(_ key: String, _ why: String) -> ConfigError { ConfigError.invalidValue(path: key, message: why) }
        guard !blocks.isEmpty, blocks.allSatisfy({ $0 >= 1 }) else { throw bad("blocks", "must list block counts ≥ 1, got \(blocks)") }
        guard !averagePool.isEmpty else { throw bad("avgpool", "must list at least one of false, true") }
        guard !learningRates.isEmpty, learningRates.allSatisfy({ $0 > 0 }) else {
            throw bad("learning_rates", "must list positive rates, got \(learningRates)")
        }
        guard batchSize >= 1, epochs >= 1 else { throw bad(batchSize < 1 ? "batch_size" : "epochs", "must be ≥ 1") }
        guard heldOutFraction >= 0, heldOutFraction < 1 else { throw bad("held_out_fraction", "must be in [0, 1), got \(heldOutFraction)") }
        guard flipProbability >= 0, flipProbability <= 1 else { throw bad("flip_probability", "must be in [0, 1], got \(flipProbability)") }
        guard cropScale.count == 2, cropScale[0] > 0, cropScale[0] <= cropScale[1] else {
            throw bad("crop_scale", "must be [low, high] with 0 < low ≤ high, got \(cropScale)")
        }
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
    /// Which reference's grid ("dinov2", "dinov3"; "custom" when built from options directly).
    public var protocolName: String
    /// How the classifiers were trained: "augmented" (random-resized-crop + flip views through the
    /// backbone every iteration, as the references) or "cached" (one centre view, features once).
    public var training: String
    /// RandomResizedCrop's area range of the augmented training views (nil when cached).
    public var cropScale: [Double]? = nil
    /// Flip probability of the augmented training views (nil when cached).
    public var flipProbability: Double? = nil
    /// Images the classifiers were trained on, held out to choose, and scored on; SGD iterations.
    public var fitImages: Int
    public var heldOutImages: Int
    public var valImages: Int
    public var iterations: Int
    /// Every classifier, in the grid's order.
    public var rows: [Row]
    /// The classifier with the best held-out top-1 (on ties the first in the grid's order: fewer
    /// blocks, then no pooling, then the smaller rate) and its validation accuracy.
    public var chosen: Row

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol", training, rows, chosen, iterations, cropScale = "crop_scale", flipProbability = "flip_probability"
        case fitImages = "fit_images", heldOutImages = "held_out_images", valImages = "val_images"
    }
}

/// The classifier inputs of a batch of images (B, 3, S, S): the normed class tokens of the last
/// `blocks` blocks side by side, (B, Σ D_l) oldest first, and the last block's mean patch token
/// (B, D) — `ModelWithIntermediateLayers(model, n)` (get_intermediate_layers with return_class_token
/// and norm: class and storage tokens through `cls_norm` when the norms are untied, the storage
/// tokens left out of the patch tokens). For a ConvNeXt the blocks are its stages (dinov3
/// convnext.py: pooled maps as class tokens, the final norm on the last stage only), so its
/// "last 4 blocks" are the four stages' pooled maps, 96 + 192 + 384 + 768 wide for ConvNeXt-T.
public func linearProtocolFeatures(model: any EmbeddingBackbone, images x: Tensor, blocks l: Int, labels: [Int]) -> LinearProtocolFeatures {
    let outs = withNoGrad { model.intermediateLayers(x, last: l, norm: true) }
    let cls = Tensor.concat(outs.map(\.classToken), axis: 1).contiguous()           // (B, Σ D_l)
    let mean = withNoGrad { outs.last!.patchTokens.mean(axes: [1]) }                // (B, D)
    return LinearProtocolFeatures(classTokens: cls, blockWidths: outs.map { $0.classToken.shape[1] }, patchMean: mean, labels: labels)
}

/// Features for the protocol from a backbone: normed class tokens of the last min(4, blocks)
/// blocks and the last block's mean patch token, for every readable image of `dataset` (or of the
/// images at `indices`), one evaluation view each (EvaluationTransform.forInput).
public func linearProtocolFeatures(model: any EmbeddingBackbone, dataset: ImageFileDataset, indices: [Int]? = nil, imageSize: Int,
                                   batchSize: Int = 128, issues: DataIssueLog = DataIssueLog(),
                                   progress: ((Int, Int) -> Void)? = nil) -> LinearProtocolFeatures {
    model.eval()
    let t = EvaluationTransform.forInput(size: imageSize)
    let l = Swift.min(4, model.blockCount)
    let items = indices ?? Array(0..<dataset.count)
    var parts: [LinearProtocolFeatures] = []
    var start = 0
    while start < items.count {
        var views: [RGBImage] = [], labels: [Int] = []
        for i in items[start..<Swift.min(start + batchSize, items.count)] {
            guard let image = dataset.loadImage(at: i, options: DecodeOptions(minimumShorterSide: t.resizeSize), issues: issues) else { continue }
            views.append(t.view(image))
            labels.append(dataset.label(at: i) ?? 0)
        }
        start += batchSize
        progress?(Swift.min(start, items.count), items.count)
        guard !views.isEmpty else { continue }
        parts.append(linearProtocolFeatures(model: model, images: stackViews(views, normalization: t.normalization), blocks: l, labels: labels))
    }
    precondition(!parts.isEmpty, "linearProtocolFeatures: no readable image in \(dataset.root)")
    return LinearProtocolFeatures.joined(parts)
}

/// The classifiers of the grid, trained together: one SGD over all of them, the loss the sum of
/// their cross-entropies on the same batch (`AllClassifiers` + `sum(losses.values())`).
final class LinearProtocolGrid {
    let settings: [LinearProtocolSetting]
    private var weights: [Tensor] = [], biases: [Tensor] = []
    private let groups: [ParameterGroup]
    private let sgd: SGD

    /// Classifiers for the class tokens of blocks `blockWidths` wide (oldest first) and a patch
    /// mean `patchWidth` wide, weights N(0, 0.01²) from `seed`.
    init(settings: [LinearProtocolSetting], blockWidths: [Int], patchWidth: Int, classes: Int, momentum: Double, seed: UInt64) {
        self.settings = settings
        let g = RandomGenerator(seed: seed)
        var groups: [ParameterGroup] = []
        for (i, s) in settings.enumerated() {
            let d = LinearProtocolFeatures.inputWidth(blockWidths: blockWidths, patchWidth: patchWidth, blocks: s.blocks,
                                                      averagePool: s.averagePool)
            let w = g.fork(UInt64(i)).normal([classes, d], std: 0.01).requiringGrad()       // (C, D_in)
            let b = Tensor.zeros([classes]).requiringGrad()
            weights.append(w); biases.append(b)
            groups.append(ParameterGroup(role: "linear", parameters: [w, b], names: ["\(s.name).linear.weight", "\(s.name).linear.bias"],
                                         lrMultiplier: s.learningRate))
        }
        self.groups = groups
        sgd = SGD(groups: groups, momentum: momentum)
    }

    /// One SGD step of every classifier on `batch` with the rates scaled by `factor` (the cosine
    /// schedule's value); returns the mean of the classifiers' losses.
    func step(_ batch: LinearProtocolFeatures, factor: Double) -> Double {
        groups.zeroGrad()
        var total: Tensor? = nil
        var inputs: [String: Tensor] = [:]
        for (i, s) in settings.enumerated() {
            let key = "\(s.blocks)-\(s.averagePool)"
            let x = inputs[key] ?? batch.input(blocks: s.blocks, averagePool: s.averagePool).to(.float32).contiguous()   // (B, D_in)
            inputs[key] = x
            let l = Tensor.crossEntropy(logits: x.linear(weight: weights[i], bias: biases[i]), labels: batch.labels)
            total = total.map { $0 + l } ?? l
        }
        total!.backward()
        sgd.step(learningRate: factor, weightDecay: 0)
        return Double(total!.item()) / Double(settings.count)
    }

    /// Every classifier scored on the held-out and validation features; the choice on held-out top-1.
    func evaluate(heldOut: LinearProtocolFeatures, val: LinearProtocolFeatures) -> (rows: [LinearProtocolResult.Row], chosen: LinearProtocolResult.Row) {
        var inputs: [String: (Tensor, Tensor)] = [:]
        let rows = settings.enumerated().map { i, s -> LinearProtocolResult.Row in
            let key = "\(s.blocks)-\(s.averagePool)"
            let x = inputs[key] ?? (heldOut.input(blocks: s.blocks, averagePool: s.averagePool).to(.float32).contiguous(),
                                    val.input(blocks: s.blocks, averagePool: s.averagePool).to(.float32).contiguous())
            inputs[key] = x
            let clf = LinearClassifier(weight: weights[i].detach(), bias: biases[i].detach())
            return .init(setting: s, heldOut: clf.accuracy(features: x.0, labels: heldOut.labels), val: clf.accuracy(features: x.1, labels: val.labels))
        }
        // Best held-out top-1; ties go to the first in the grid's order.
        var chosen = rows[0]
        for r in rows.dropFirst() where r.heldOut.top1 > chosen.heldOut.top1 { chosen = r }
        return (rows, chosen)
    }
}

/// `CosineAnnealingLR(max_iter, eta_min=0)`, stepped after every iteration: the factor of iteration t.
func cosineAnnealingFactor(iteration t: Int, of maxIter: Int) -> Double {
    0.5 * (1 + Foundation.cos(Double.pi * Double(t) / Double(maxIter)))
}

/// The held-out split of `n` training items: (fit, held) positions, from the seed.
func linearProtocolSplit(count n: Int, fraction: Double, seed: UInt64) -> (fit: [Int], held: [Int]) {
    let held = fraction > 0 ? Swift.max(1, Int((Double(n) * fraction).rounded())) : 0
    precondition(n - held >= 1, "linear protocol: \(n) training images leave none to fit after holding out \(held)")
    let order = RandomGenerator(seed: seed).fork(0x5EED).permutation(n)
    return (Array(order[held...]), Array(order[..<held]))
}

/// The cached variant: trains every classifier of the grid at once on precomputed `train` features
/// minus a held-out split, chooses on the held-out split, and scores every classifier on `val`.
/// Not the references' training (no augmentation; see `runAugmentedLinearProtocol`).
///
/// Reference: Oquab et al., "DINOv2" (2023), linear evaluation; dinov2/eval/linear.py.
public func runLinearProtocol(train: LinearProtocolFeatures, val: LinearProtocolFeatures, classes: Int,
                              options: LinearProtocolOptions = .init(), protocolName: String = "custom",
                              progress: ((Int, Int, Double) -> Void)? = nil) -> LinearProtocolResult {
    let settings = options.settings(depth: train.blockWidths.count)
    let (fitIndices, heldIndices) = linearProtocolSplit(count: train.count, fraction: options.heldOutFraction, seed: options.seed)
    let fit = train.subset(fitIndices)
    let holdOut = heldIndices.isEmpty ? fit : train.subset(heldIndices)
    let grid = LinearProtocolGrid(settings: settings, blockWidths: train.blockWidths, patchWidth: train.patchMean.shape[1], classes: classes,
                                  momentum: options.momentum, seed: options.seed)
    let g = RandomGenerator(seed: options.seed)
    let batch = Swift.min(options.batchSize, fit.count)
    let perEpoch = (fit.count + batch - 1) / batch
    let maxIter = perEpoch * options.epochs
    var iteration = 0
    for epoch in 0..<options.epochs {
        let shuffled = g.fork(0xE0000 + UInt64(epoch)).permutation(fit.count)
        var lossSum = 0.0
        for s in 0..<perEpoch {
            let idx = Array(shuffled[(s * batch)..<Swift.min((s + 1) * batch, fit.count)])
            lossSum += grid.step(fit.subset(idx), factor: cosineAnnealingFactor(iteration: iteration, of: maxIter))
            iteration += 1
        }
        progress?(epoch + 1, options.epochs, lossSum / Double(perEpoch))
    }
    let (rows, chosen) = grid.evaluate(heldOut: holdOut, val: val)
    return LinearProtocolResult(protocolName: protocolName, training: "cached", fitImages: fit.count, heldOutImages: heldIndices.count,
                                valImages: val.count, iterations: iteration, rows: rows, chosen: chosen)
}
