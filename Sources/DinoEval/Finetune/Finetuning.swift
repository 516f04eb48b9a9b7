// Full fine-tuning of a backbone with a linear head on the method-agnostic Trainer: the
// classifier as a `TrainingMethod` (one step: logits → soft-target cross-entropy), a labelled
// batch source (augmentations, mixup/CutMix), MAE's schedule and parameter groups, and a run
// folder that resumes bit-exactly, exports the classifier and reports top-1/top-5.
//
//     OUT/finetune.json            what the run was built from (config, backbone, data, classes)
//     OUT/train_subset.txt         with a label fraction: the labelled images used
//     OUT/checkpoints/, metrics.jsonl, tensorboard/   the Trainer's
//     OUT/model.safetensors        the fine-tuned classifier (backbone keys, fc_norm.*, head.*)
//     OUT/eval.json                top-1 / top-5 on val
//
// What it is not: a second training loop (the Trainer runs it), or the command line
// (Sources/dino/FinetuneCommand.swift).
//
// Reference: facebookresearch/mae main_finetune.py, engine_finetune.py, util/lr_decay.py,
// util/lr_sched.py; timm/data/transforms_factory.py `transforms_imagenet_train`.

import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

// MARK: - The method

/// One training batch: images and their soft targets.
public struct FinetuneBatch {
    /// (B, 3, S, S), normalised, augmented, mixed.
    public var images: Tensor
    /// (B, K), smoothed and mixed one-hot targets.
    public var targets: Tensor
}

/// The classifier as the Trainer drives it.
public final class FinetuneMethod: TrainingMethod {
    public typealias Batch = FinetuneBatch
    public let model: ImageClassifier
    public let parameterGroups: [ParameterGroup]
    /// Drop path (and RoPE jitter) of the backbone.
    let generator: RandomGenerator

    public init(model: ImageClassifier, layerDecay: Double, generator: RandomGenerator) {
        self.model = model
        self.generator = generator
        parameterGroups = model.parameterGroups(layerDecay: layerDecay)
        model.train()
    }

    public func step(batch: FinetuneBatch, schedules: ScheduleValues) -> [String: Tensor] {
        let logits = model(batch.images)                                           // (B, K)
        return ["loss": softTargetCrossEntropy(logits: logits, targets: batch.targets)]
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {}

    /// The backbone's buffers (saved so that a checkpoint is a whole state dict).
    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, p) in model.backbone.namedBuffers() { out[k] = p.value }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { ["model.drop_path": generator] }
        set { if let g = newValue["model.drop_path"] { generator.restore(g) } }
    }
}

// MARK: - Data

/// The class-balanced subset of a labelled set kept by `--label-fraction f`: in each class of
/// n images, `max(1, round(f·n))` of them (half to even), the first of a permutation seeded by
/// (seed, class); returned in data set order.
public func balancedLabelSubset(labels: [Int], fraction: Double, seed: UInt64) -> [Int] {
    precondition(fraction > 0 && fraction <= 1, "balancedLabelSubset: fraction \(fraction) outside (0, 1]")
    var byClass: [Int: [Int]] = [:]
    for (i, l) in labels.enumerated() { byClass[l, default: []].append(i) }
    let root = RandomGenerator(seed: seed).fork(0x4C41_4245)   // "LABE"
    var keep: [Int] = []
    for c in byClass.keys.sorted() {
        let members = byClass[c]!
        let k = Swift.max(1, Int((fraction * Double(members.count)).rounded(.toNearestOrEven)))
        let order = root.fork(UInt64(c)).permutation(members.count)
        keep += order.prefix(k).map { members[$0] }
    }
    return keep.sorted()
}

/// The training view of one image: RandomResizedCrop (bicubic, scale [min, 1], ratio 3/4–4/3),
/// horizontal flip ½, RandAugment; then normalised and randomly erased.
/// Reference: timm `transforms_imagenet_train` as MAE's `build_dataset` calls it.
public struct FinetuneTrainTransform: Sendable {
    public var crop: RandomResizedCrop
    public var randAugment: RandAugmentPolicy?
    public var erasing: RandomErasing
    /// Probability of the horizontal flip (`hflip`).
    public var flip: Double
    public var normalization = ImageNormalization.imageNet

    public init(size: Int, config: FinetuneConfig) throws {
        crop = RandomResizedCrop(size: size, scale: [config.cropScaleMin, 1], filter: .bicubic)
        randAugment = config.autoAugment.isEmpty ? nil : try RandAugmentPolicy(parsing: config.autoAugment)
        erasing = RandomErasing(probability: config.randomErasing)
        flip = config.hflip
    }

    /// (3·S·S) normalised floats.
    public func apply(_ image: RGBImage, _ g: RandomGenerator) -> [Float] {
        var view = crop.apply(image, g.fork(1))
        view = RandomHorizontalFlip(probability: flip).apply(view, g.fork(2))
        if let randAugment { view = randAugment.apply(view, g.fork(3)) }
        var out = [Float](repeating: 0, count: 3 * view.pixelCount)
        out.withUnsafeMutableBufferPointer { normalization.write(view, to: $0.baseAddress!) }
        erasing.apply(&out, channels: 3, height: view.height, width: view.width, g.fork(4))
        return out
    }
}

/// Batches of augmented, mixed training images, reproducible by (seed, epoch, index).
public final class FinetuneBatchSource: BatchSource {
    public typealias Batch = FinetuneBatch
    let loader: DataLoader<([Float], Int), FinetuneBatch>
    public let itemsPerBatch: Int
    public var batchesPerEpoch: Int { loader.batchesPerEpoch }

    /// - Parameters:
    ///   - indices: the training images used (all, or the label subset).
    public init(dataset: ImageFileDataset, indices: [Int], size: Int, classes: Int, config: FinetuneConfig,
                workers: Int, issues: DataIssueLog) throws {
        precondition(indices.count >= config.batchSize,
                     "FinetuneBatchSource: \(indices.count) training images for batches of \(config.batchSize)")
        let transform = try FinetuneTrainTransform(size: size, config: config)
        let mixup = config.mixup, smoothing = config.smoothing
        itemsPerBatch = config.batchSize
        loader = DataLoader(
            count: indices.count,
            options: LoaderOptions(batchSize: config.batchSize, shuffle: true, dropLast: true, seed: config.seed, workers: workers),
            sample: { i, g in
                let index = indices[i]
                guard let image = dataset.loadImage(at: index, issues: issues) else { return nil }
                return (transform.apply(image, g), dataset.label(at: index)!)
            },
            collate: { samples, _, g in
                // Mixup pairs each image with the reversed batch: an unreadable image leaves an
                // odd count, and the last one is dropped.
                let kept = samples.count % 2 == 0 ? samples : Array(samples.dropLast())
                precondition(!kept.isEmpty, "FinetuneBatchSource: no readable image in a batch")
                let images = Tensor(kept.flatMap(\.0), shape: [kept.count, 3, size, size])  // (B, 3, S, S)
                let draw = mixup.draw(height: size, width: size, generator: g)
                return FinetuneBatch(images: applyMixup(images, draw),
                                     targets: mixupTargets(labels: kept.map(\.1), classes: classes,
                                                           lambda: draw.lambda, smoothing: smoothing))
            })
    }

    public func batches(epoch: Int, startingAt start: Int) -> AnyIterator<FinetuneBatch> {
        AnyIterator(loader.epoch(epoch, startingAt: start))
    }
}

// MARK: - Evaluation

/// Top-1 and top-5 accuracy (percent) of a classifier on a labelled set.
public struct FinetuneAccuracy: Codable, Equatable, Sendable {
    /// Top-1 and top-5 in percent, and the images scored.
    public var top1: Double
    public var top5: Double
    public var images: Int
}

/// The k best classes of each row of logits (B, K), best first (ties: lower class first).
public func topClasses(_ logits: Tensor, k: Int) -> [[(index: Int, probability: Double)]] {
    let (b, classes) = (logits.shape[0], logits.shape[1])
    let probs = logits.softmax(axis: 1).doubles
    return (0..<b).map { i in
        let row = Array(probs[(i * classes)..<((i + 1) * classes)])
        let order = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
        return order.prefix(k).map { (index: $0, probability: row[$0]) }
    }
}

/// Logits of every readable image of a set with the evaluation view (resize and centre crop
/// as `EvaluationTransform.forInput`), in data set order, and the indices they belong to.
public func classifierLogits(_ model: ImageClassifier, dataset: ImageFileDataset, indices: [Int]? = nil, size: Int,
                             batchSize: Int = 64, workers: Int = 1,
                             issues: DataIssueLog = DataIssueLog()) -> (logits: Tensor, indices: [Int]) {
    let (out, kept) = classifierOutputs(model, dataset: dataset, indices: indices, size: size, batchSize: batchSize,
                                        workers: workers, issues: issues, width: model.classes) { model($0) }
    return (out, kept)
}

/// The head's input (`ImageClassifier.features`, (N, D)) of the readable images among
/// `indices` (all when nil) with the evaluation view, in evaluation mode, and the data set
/// indices they belong to: what the linear probe of `head_init: linear` is fitted on.
public func classifierFeatures(_ model: ImageClassifier, dataset: ImageFileDataset, indices: [Int]? = nil, size: Int,
                               batchSize: Int = 64, workers: Int = 1,
                               issues: DataIssueLog = DataIssueLog()) -> (features: Tensor, indices: [Int]) {
    let (out, kept) = classifierOutputs(model, dataset: dataset, indices: indices, size: size, batchSize: batchSize,
                                        workers: workers, issues: issues, width: model.backbone.embedDimensions) { model.features($0) }
    return (out, kept)
}

/// `f` of batches of evaluation views (evaluation mode, no gradient), concatenated (N, width).
func classifierOutputs(_ model: ImageClassifier, dataset: ImageFileDataset, indices: [Int]?, size: Int, batchSize: Int,
                       workers: Int, issues: DataIssueLog, width: Int, _ f: (Tensor) -> Tensor) -> (Tensor, [Int]) {
    let t = EvaluationTransform.forInput(size: size)
    let chosen = indices ?? Array(0..<dataset.count)
    model.train(false)
    defer { model.train(true) }
    let loader = DataLoader<RGBImage, (Tensor, [Int])>(
        count: chosen.count,
        options: LoaderOptions(batchSize: batchSize, shuffle: false, dropLast: false, workers: workers),
        sample: { i, _ in dataset.loadImage(at: chosen[i], options: DecodeOptions(minimumShorterSide: t.resizeSize), issues: issues).map { t.view($0) } },
        collate: { images, positions, _ in (stackViews(images, normalization: t.normalization), positions.map { chosen[$0] }) })
    var parts: [Tensor] = []
    var kept: [Int] = []
    withNoGrad {
        for (images, idx) in loader.epoch(0) {
            parts.append(f(images))
            kept += idx
        }
    }
    return (parts.isEmpty ? Tensor.zeros([0, width]) : Tensor.concat(parts, axis: 0), kept)
}

/// Top-1/top-5 on a labelled set (MAE's `evaluate`: `accuracy(output, target, topk=(1, 5))`).
public func evaluateClassifier(_ model: ImageClassifier, dataset: ImageFileDataset, size: Int, batchSize: Int = 64,
                               workers: Int = 1) -> FinetuneAccuracy {
    let (logits, indices) = classifierLogits(model, dataset: dataset, size: size, batchSize: batchSize, workers: workers)
    let top = topClasses(logits, k: Swift.min(5, model.classes))
    var hit1 = 0, hit5 = 0
    for (row, i) in zip(top, indices) {
        let label = dataset.label(at: i)!
        if row[0].index == label { hit1 += 1 }
        if row.contains(where: { $0.index == label }) { hit5 += 1 }
    }
    let n = Swift.max(indices.count, 1)
    return FinetuneAccuracy(top1: 100 * Double(hit1) / Double(n), top5: 100 * Double(hit5) / Double(n), images: indices.count)
}
