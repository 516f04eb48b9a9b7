// The settings of `dino finetune`: the BEiT/MAE full fine-tuning recipe, every field with the
// reference's value (facebookresearch/mae FINETUNE.md's ViT-B command and main_finetune.py's
// argparse defaults).
//
// Automatic values (nil by default), decided by `resolved(depth:)`:
//   layer_decay   0.65 for backbones of at most 12 blocks (MAE/BEiT ViT-B), 0.75 deeper
//                 (MAE ViT-L/H, 24/32 blocks): the rule of MAE's FINETUNE.md commands
//   drop_path     0.1 up to 12 blocks (ViT-B), 0.2 up to 24 (ViT-L), 0.3 deeper (ViT-H)
//   warmup_epochs the reference's 5, at most 10 % of the run (MAE's ViT-L/H: 5 of 50)
//
// Recipes (`recipe`, decided by `FinetuneConfig.load(file:overrides:train:)` before the keys
// of the file and the overrides are laid over the chosen recipe's values):
//   mae       the values above (ImageNet-size label sets)
//   low_shot  `FinetuneConfig.lowShot`: LP-FT's linear-probe head, SimCLR's crop-and-flip-only
//             fine-tuning without regularisation, a smaller rate and stronger layer decay
//             (docs/finetune.md, "The low-shot recipe", gives every value's source)
//   auto      low_shot when the labelled set has at most `lowShotImagesPerClass` (128) images
//             per class on average — ImageNet's 10 % split, the larger of SimCLRv2's and PAWS's
//             low-shot settings — else mae

import DinoNN
import DinoVision
import Foundation

/// Which recipe's values a fine-tuning config starts from (`recipe`).
public enum FinetuneRecipe: String, Codable, Sendable, CaseIterable {
    /// low_shot when the labelled set is small (`FinetuneConfig.lowShotImagesPerClass`), else mae.
    case auto
    /// MAE's full fine-tuning recipe (the defaults of `FinetuneConfig()`).
    case mae
    /// `FinetuneConfig.lowShot`.
    case lowShot = "low_shot"

    /// The recipe `auto` resolves to for a labelled set of `imagesPerClass` images per class
    /// (mean over classes); `mae` and `low_shot` resolve to themselves.
    public func resolved(imagesPerClass: Double) -> FinetuneRecipe {
        guard self == .auto else { return self }
        return imagesPerClass <= FinetuneConfig.lowShotImagesPerClass ? .lowShot : .mae
    }
}

/// How the classifier's head starts (`head_init`).
public enum FinetuneHeadInit: String, Codable, Sendable, CaseIterable {
    /// MAE: `trunc_normal_(std=2e-5)`, bias 0.
    case random
    /// LP-FT (Kumar et al. 2022): the linear probe fitted on the frozen backbone's pooled
    /// features of the labelled images (`LinearProbe`, its rate chosen on a held-out part of them).
    case linear
}

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
    /// Probability of the horizontal flip of a training view (timm `transforms_imagenet_train`'s
    /// `hflip`: 0.5, as MAE; 0 for data whose mirror image is another class or no class, e.g. glyphs).
    public var hflip = 0.5
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
    /// The recipe whose values the settings were laid over (see the header); recorded resolved.
    public var recipe = FinetuneRecipe.auto
    /// The head's initialisation (MAE: random; low_shot: linear, LP-FT).
    public var headInit = FinetuneHeadInit.random

    public init() {}

    /// Largest mean number of labelled images per class for which `auto` picks `low_shot`:
    /// ImageNet's 10 % split (≈ 128 per class), the larger low-shot setting of SimCLRv2 and PAWS.
    public static let lowShotImagesPerClass = 128.0

    /// The low-shot recipe: MAE's values except
    ///   head_init linear           LP-FT (Kumar et al. 2022, §3): fit the head on frozen features first
    ///   mixup.mixup, mixup.cutmix 0, auto_augment "", random_erasing 0
    ///                              SimCLR/SimCLRv2 fine-tuning on 1 %/10 %: random crop and flip only
    ///   smoothing 0, weight_decay 0, drop_path 0
    ///                              SimCLR (App. B.5) and SimCLRv2: no regularisation, weight decay included
    ///   blr 1e-3                   LP-FT: a small rate keeps the pretrained features (chosen on a
    ///                              held-out part of glyphs-dev's train split, docs/finetune.md)
    ///   layer_decay 0.5            stronger than MAE's 0.65: lower blocks move less (our choice)
    ///   crop_scale_min 0.6         LP-FT: training views near the evaluation view the head was
    ///                              fitted on, so the first steps' gradients are small (chosen on
    ///                              glyphs-dev's tuning split at 10 % over 0.35, docs/finetune.md)
    ///   pooling cls_token          the token DINO's objective trains and its linear evaluation
    ///                              reads (facebookresearch/dino eval_linear.py); on glyphs-dev's
    ///                              tuning split the probe on it beat global pooling (docs/finetune.md)
    public static var lowShot: FinetuneConfig {
        var c = FinetuneConfig()
        c.recipe = .lowShot
        c.headInit = .linear
        c.mixup.mixupAlpha = 0
        c.mixup.cutmixAlpha = 0
        c.autoAugment = ""
        c.randomErasing = 0
        c.smoothing = 0
        c.weightDecay = 0
        c.dropPath = 0
        c.blr = 1e-3
        c.layerDecay = 0.5
        c.cropScaleMin = 0.6
        c.pooling = .classToken
        return c
    }

    /// The values a tree is laid over: `lowShot`'s when it names `recipe: low_shot`, else MAE's.
    public static func defaults(under tree: JSONValue) throws -> JSONValue {
        if case .object(let o) = tree, case .string(FinetuneRecipe.lowShot.rawValue)? = o["recipe"] {
            return try JSONValue(encoding: FinetuneConfig.lowShot)
        }
        return try JSONValue(encoding: FinetuneConfig())
    }

    /// Loads a config for a labelled ImageFolder `train`: the file's keys then the overrides,
    /// laid over the values of the recipe they name — `auto` (or none) resolved by the mean
    /// number of labelled images per class that the label fraction keeps. The result names
    /// the resolved recipe, so that a record replays it.
    ///
    /// - Throws: `ConfigError` (naming the key), `DatasetError` for an unreadable `train`.
    public static func load(file: URL? = nil, overrides: [String] = [], train: String) throws -> FinetuneConfig {
        try load(file: file, overrides: overrides) { config in
            let set = try ImageFileDataset.imageFolder(train)
            let labels = (0..<set.count).map { set.label(at: $0)! }
            let kept = config.labelFraction.map { balancedLabelSubset(labels: labels, fraction: $0, seed: config.seed).count } ?? labels.count
            return Double(kept) / Double(Swift.max(set.classes.count, 1))
        }
    }

    /// `load(file:overrides:train:)` with the mean labelled images per class computed by
    /// `imagesPerClass` from the provisional (MAE-valued) config.
    public static func load(file: URL?, overrides: [String],
                            imagesPerClass: (FinetuneConfig) throws -> Double) throws -> FinetuneConfig {
        var tree = try ConfigLoader.apply(overrides: overrides, to: try file.map(ConfigLoader.readTree) ?? .object([:]))
        let provisional = try ConfigLoader.decode(FinetuneConfig.self, from: tree)
        let recipe = provisional.recipe.resolved(imagesPerClass: provisional.recipe == .auto ? try imagesPerClass(provisional) : 0)
        try tree.set(path: ["recipe"], to: .string(recipe.rawValue))
        return try ConfigLoader.decode(FinetuneConfig.self, from: tree)
    }

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
                throw ConfigError.invalidValue(path: "auto_augment",
                                               message: "\(error); an empty value (`auto_augment=`) turns RandAugment off")
            }
        }
        try check((0...1).contains(randomErasing), "random_erasing", "must lie in [0, 1]")
        try check(cropScaleMin > 0 && cropScaleMin <= 1, "crop_scale_min", "must lie in (0, 1]")
        try check((0...1).contains(hflip), "hflip", "must lie in [0, 1]")
        try check(clipGrad.map { $0 > 0 } ?? true, "clip_grad", "must be positive, or null")
        try check(labelFraction.map { $0 > 0 && $0 <= 1 } ?? true, "label_fraction", "must lie in (0, 1], or null for all labels")
        try check(inputSize.map { $0 >= 1 } ?? true, "input_size", "must be positive")
    }

    enum CodingKeys: String, CodingKey {
        case epochs, blr, lr, smoothing, mixup, pooling, seed, hflip
        case batchSize = "batch_size", minLR = "min_lr", warmupEpochs = "warmup_epochs", weightDecay = "weight_decay"
        case layerDecay = "layer_decay", dropPath = "drop_path", autoAugment = "auto_augment"
        case randomErasing = "random_erasing", cropScaleMin = "crop_scale_min", clipGrad = "clip_grad"
        case labelFraction = "label_fraction", inputSize = "input_size", recipe, headInit = "head_init"
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
