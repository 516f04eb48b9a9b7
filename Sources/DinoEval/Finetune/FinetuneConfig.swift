// The settings of `dino finetune`: the BEiT/MAE full fine-tuning recipe, every field with the
// reference's value (facebookresearch/mae FINETUNE.md's ViT-B command and main_finetune.py's
// argparse defaults).
//
// Automatic values (nil by default), decided by `resolved(depth:)`:
//   layer_decay   0.65 for backbones of at most 12 blocks (MAE/BEiT ViT-B), 0.75 deeper
//                 (MAE ViT-L/H, 24/32 blocks): the rule of MAE's FINETUNE.md commands
//   drop_path     0.1 up to 12 blocks (ViT-B), 0.2 up to 24 (ViT-L), 0.3 deeper (ViT-H)
//   warmup_epochs the reference's 5, at most 10 % of the run (MAE's ViT-L/H: 5 of 50)

import DinoNN
import DinoVision
import Foundation

/// A fine-tuning run's settings (JSON/YAML keys in snake_case, unknown keys rejected).
public struct FinetuneConfig: Configuration, Equatable, Sendable {
    /// Epochs (MAE ViT-B: 100; ViT-L/H: 50).
    public var epochs = 100
    /// Images per step (MAE: 64 per GPU × 16 GPUs = 1024 effective); must be even (mixup pairs
    /// each image with the reversed batch).
    public var batchSize = 64
    /// Base learning rate per 256 images: `lr = blr · batch / 256` (MAE ViT-B: 5e-4; L/H: 1e-3).
    public var blr = 5e-4
    /// Absolute learning rate; overrides `blr` when set (MAE `--lr`).
    public var lr: Double? = nil
    /// Floor of the cosine (MAE: 1e-6).
    public var minLR = 1e-6
    /// Linear warm-up from 0, in epochs (fractional), per iteration; nil: 5 (MAE), at most 10 % of the run.
    public var warmupEpochs: Double? = nil
    /// AdamW weight decay on weight matrices (MAE: 0.05); biases, norms, tokens get none.
    public var weightDecay = 0.05
    /// Layer-wise learning-rate decay; nil: 0.65 up to 12 blocks, else 0.75 (see the header).
    public var layerDecay: Double? = nil
    /// Stochastic depth, the rate of the last block (linear from 0); nil: by depth (header).
    public var dropPath: Double? = nil
    /// Label smoothing (MAE: 0.1).
    public var smoothing = 0.1
    /// Mixup / CutMix (MAE ViT-B: mixup 0.8, cutmix 1.0, prob 1.0, switch_prob 0.5).
    public var mixup = MixupOptions()
    /// RandAugment policy string (MAE: `rand-m9-mstd0.5-inc1`); "" disables it.
    public var autoAugment = "rand-m9-mstd0.5-inc1"
    /// Random erasing probability, per-pixel normal fill, one box (MAE: 0.25, 'pixel', 1).
    public var randomErasing = 0.25
    /// Smallest crop area of RandomResizedCrop (timm: 0.08; the largest is 1).
    public var cropScaleMin = 0.08
    /// What the head reads (MAE: global pool + fc_norm).
    public var pooling = ClassifierPooling.globalPool
    /// Maximum total gradient norm; nil: no clipping (MAE's default).
    public var clipGrad: Double? = nil
    /// Fraction of the training labels kept, class-balanced (nil: all). The low-shot settings
    /// are 0.01 and 0.1.
    public var labelFraction: Double? = nil
    /// Input side in pixels; nil: the backbone's (a run's global crop size).
    public var inputSize: Int? = nil
    /// Seed of the head, the label subset, the data order and every augmentation (MAE: 0).
    public var seed: UInt64 = 0

    public init() {}

    /// The learning rate the schedule peaks at.
    public var peakLearningRate: Double { lr ?? blr * Double(batchSize) / 256 }

    /// The warm-up in epochs: the set value, or 5 at most 10 % of the run.
    public var resolvedWarmupEpochs: Double { warmupEpochs ?? Swift.min(5, 0.1 * Double(epochs)) }

    /// The automatic layer decay for a backbone of `depth` blocks.
    public static func automaticLayerDecay(depth: Int) -> Double { depth <= 12 ? 0.65 : 0.75 }
    /// The automatic drop-path rate for a backbone of `depth` blocks.
    public static func automaticDropPath(depth: Int) -> Double { depth <= 12 ? 0.1 : depth <= 24 ? 0.2 : 0.3 }

    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: key, message: message) }
        }
        try check(epochs >= 1, "epochs", "\(epochs) must be at least 1")
        try check(batchSize >= 2 && batchSize % 2 == 0, "batch_size", "\(batchSize) must be even and at least 2 (mixup pairs the batch with its reverse)")
        try check(blr > 0, "blr", "must be positive")
        try check(lr.map { $0 > 0 } ?? true, "lr", "must be positive, or null to use blr")
        try check(minLR >= 0, "min_lr", "must be non-negative")
        try check(warmupEpochs.map { $0 >= 0 && $0 < Double(epochs) } ?? true, "warmup_epochs",
                  "\(warmupEpochs ?? 0) must lie in [0, epochs), or null for automatic")
        try check(weightDecay >= 0, "weight_decay", "must be non-negative")
        try check(layerDecay.map { $0 > 0 && $0 <= 1 } ?? true, "layer_decay", "must lie in (0, 1], or null for automatic")
        try check(dropPath.map { $0 >= 0 && $0 < 1 } ?? true, "drop_path", "must lie in [0, 1), or null for automatic")
        try check((0..<1).contains(smoothing), "smoothing", "must lie in [0, 1)")
        try check(mixup.mixupAlpha >= 0 && mixup.cutmixAlpha >= 0, "mixup.mixup", "alphas must be non-negative")
        try check((0...1).contains(mixup.probability) && (0...1).contains(mixup.switchProbability), "mixup.prob", "probabilities must lie in [0, 1]")
        if !autoAugment.isEmpty {
            do { _ = try RandAugmentPolicy(parsing: autoAugment) } catch {
                throw ConfigError.invalidValue(path: "auto_augment", message: "\(error)")
            }
        }
        try check((0...1).contains(randomErasing), "random_erasing", "must lie in [0, 1]")
        try check(cropScaleMin > 0 && cropScaleMin <= 1, "crop_scale_min", "must lie in (0, 1]")
        try check(clipGrad.map { $0 > 0 } ?? true, "clip_grad", "must be positive, or null")
        try check(labelFraction.map { $0 > 0 && $0 <= 1 } ?? true, "label_fraction", "must lie in (0, 1], or null for all labels")
        try check(inputSize.map { $0 >= 1 } ?? true, "input_size", "must be positive")
    }

    enum CodingKeys: String, CodingKey {
        case epochs, blr, lr, smoothing, mixup, pooling, seed
        case batchSize = "batch_size", minLR = "min_lr", warmupEpochs = "warmup_epochs", weightDecay = "weight_decay"
        case layerDecay = "layer_decay", dropPath = "drop_path", autoAugment = "auto_augment"
        case randomErasing = "random_erasing", cropScaleMin = "crop_scale_min", clipGrad = "clip_grad"
        case labelFraction = "label_fraction", inputSize = "input_size"
    }
}

/// MAE's per-iteration learning rate: linear warm-up from 0, then a half cosine to `minimum`.
///
/// With `e = iteration / iterationsPerEpoch` (fractional epochs):
/// `e < W: peak · e / W`, else `min + (peak − min) · ½ (1 + cos(π (e − W) / (E − W)))`.
/// Each group's rate is this times its layer-decay scale (MAE multiplies `min_lr` too).
///
/// Reference: facebookresearch/mae util/lr_sched.py `adjust_learning_rate`, called with
/// `data_iter_step / len(data_loader) + epoch` (main engine_finetune.py).
public struct MAELearningRateSchedule: Schedule, Codable, Equatable {
    public var peak: Double
    public var minimum: Double
    public var epochs: Int
    public var warmupEpochs: Double
    public var iterationsPerEpoch: Int

    public init(peak: Double, minimum: Double, epochs: Int, warmupEpochs: Double, iterationsPerEpoch: Int) {
        precondition(iterationsPerEpoch > 0 && epochs > 0, "MAELearningRateSchedule: \(epochs) epochs of \(iterationsPerEpoch) iterations")
        self.peak = peak
        self.minimum = minimum
        self.epochs = epochs
        self.warmupEpochs = warmupEpochs
        self.iterationsPerEpoch = iterationsPerEpoch
    }

    public func value(at iteration: Int) -> Double {
        let e = Double(iteration % iterationsPerEpoch) / Double(iterationsPerEpoch) + Double(iteration / iterationsPerEpoch)
        if e < warmupEpochs { return peak * e / warmupEpochs }
        return minimum + (peak - minimum) * 0.5
            * (1 + Foundation.cos(Double.pi * (e - warmupEpochs) / (Double(epochs) - warmupEpochs)))
    }
}
