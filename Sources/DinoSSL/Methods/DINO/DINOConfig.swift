// The configuration of a DINO run: every field documented with the reference's value.
//
// Reference values are those of facebookresearch/dino `main_dino.py` (its argparse defaults)
// and, where the README's recommended ViT-S/16 command differs, that command (teacher
// temperature 0.07 warmed up over 30 epochs). Fields whose good value depends on the run
// length, the data set size or the model are `nil` ("auto") by default and are filled in by
// `resolved(...)`, as LightlyTrain's automatic settings do, so that short runs on small data
// sets work without flags:
//
//   prototypes                 1024 below 20 000 images, 2048 below 50 000, 4096 below 100 000,
//                              16 384 below 200 000, 32 768 below 500 000, then the reference's
//                              65 536 (LightlyTrain's buckets)
//   lr warm-up                 10 epochs (the reference), at most 10 % of the run
//   teacher temperature warm-up 30 epochs (the reference, per epoch); in runs under 100 epochs
//                              30 % of the run, ramped per step
//   last layer frozen          1 epoch (the reference), at most 10 % of the run
//   global / local crop sizes  the model's input size, at most the reference's 224 (a dinov2_*
//                              preset's 518 is its inference size) / 3/7 of it rounded up to
//                              whole patches (224 → 96 at patch 16, 98 at patch 14; 32 → 16 at patch 4)
//   local crops                8 (the reference); 6 for inputs under 96 px (LightlyTrain's count)
//   teacher τ_t, its warm-up start, momentum
//                              the reference's 0.07, 0.04, 0.996 at ImageNet size, falling
//                              linearly to 0.02, 0.02, 0.99 at 20 000 images (LightlyTrain)
//   KoLeo weight               the reference's 0 at ImageNet size, rising linearly to DINOv2's
//                              0.1 at 20 000 images (measured: docs/benchmarks-dino.md, "KoLeo")
//   teacher normalisation      Sinkhorn-Knopp (DINOv2's); the reference's centred softmax with
//                              recipe=reference (measured: docs/benchmarks-robustness.md)
//   peak learning rate         the reference's 0.0005 · batch/256 at ImageNet size, moving
//                              linearly to DINOv2's 0.004 · √(batch/1024) at 20 000 images
//                              (8× the reference's at batch 64; measured:
//                              docs/benchmarks-robustness.md, "Why DINO stayed at random init on scenes")
//
// `recipe=reference` gives every automatic value its reference setting whatever the data.

import DinoModels
import DinoNN
import DinoTensor
import Foundation

/// A DINO training run's settings (JSON/YAML keys in snake_case, unknown keys rejected).
public struct DINOConfig: Configuration, Equatable, Sendable {
    /// Model preset of student and teacher (reference: `vit_small`, our `dino_vits16`; this
    /// package defaults to the 32-px `dino_vit_tiny_patch4`, which trains on a CPU: DINO's ViT,
    /// without LayerScale and with a trunc-normal(0.02) class token, at the width and depth of
    /// `vit_tiny_patch4`).
    public var model = "dino_vit_tiny_patch4"
    /// Stochastic depth rate of the student (reference: 0.1; the teacher has none).
    public var dropPathRate = 0.1
    /// Initial LayerScale γ for presets that have LayerScale (reference: none — the DINO ViT has
    /// no LayerScale, which γ = 1 reproduces at the start); nil keeps the preset's value. The
    /// 32-px presets carry DINOv2's 1e-5, with which the class token barely sees the image
    /// for the first hundreds of steps (random-init k-NN on glyphs-dev: 4 % against 28 % at 1).
    public var layerScaleInit: Double? = 1
    /// Epochs (reference: 100).
    public var epochs = 100
    /// Images per step (reference: 64 per GPU).
    public var batchSize = 64
    /// Seed of the initial weights, the data order and the augmentations (reference: 0).
    public var seed: UInt64 = 0
    /// Where the automatic values come from: `auto` scales them to the data set, the run and
    /// the model; `reference` takes the official values whatever the data (ImageNet's
    /// prototypes, τ_t and momentum, warm-ups of 10 and 30 epochs, the last layer frozen for 1,
    /// 8 local crops). Values set explicitly win over both.
    public var recipe = Recipe.auto
    /// The projection head.
    public var head = Head()
    /// Teacher momentum, temperatures, centring.
    public var teacher = Teacher()
    /// Student temperature τ_s (reference: 0.1).
    public var studentTemperature = 0.1
    /// Weight of DINOv2's KoLeo regulariser on the student backbone's CLS tokens of each global
    /// crop (not part of DINO, whose reference has none: 0; DINOv2 uses 0.1); nil: auto (0.1 up
    /// to 20 000 images, falling linearly to the reference's 0 at ImageNet size). It spreads
    /// the features of a batch; on small data it is what lets the DINO loss learn in a short
    /// run (glyphs-dev, 10 epochs: 27.9 % k-NN without it, at the random-initialisation
    /// figure, 58.3 % with it; docs/benchmarks-dino.md, "KoLeo").
    public var koleoLossWeight: Double? = nil
    /// Optimisation.
    public var optim = Optim()
    /// Multi-crop augmentation.
    public var crops = Crops()
    /// Stop the run when the collapse monitor has seen a collapse for a whole window (the
    /// checkpoints written before it are kept; none of the collapsed state is written).
    /// Precision of the matrix products: `float32`, or `bf16` (bfloat16 inputs and outputs,
    /// Float32 accumulation, Float32 master weights, optimiser and losses: PyTorch's CPU
    /// autocast; DinoTensor/Ops/Autocast.swift), or `float64` (parameters, optimiser state,
    /// centres and batches in Float64, for numerical checks; slower). Recorded in the
    /// checkpoints' config; a resume with another precision is refused.
    public var precision = Precision.float32
    public var stopOnCollapse = false
    /// The collapse monitor's window and thresholds (CollapseMonitor.swift).
    public var collapseMonitor = CollapseMonitorOptions()
    /// Data loading.
    public var data = DataLoading()

    public init() {}

    /// The sections shared with DINOv2 and distillation (Methods/Shared/ConfigSections.swift).
    public typealias Head = HeadConfig
    public typealias Crops = CropsConfig
    public typealias DataLoading = DataLoadingConfig

    /// The teacher.
    public struct Teacher: Codable, Equatable, Sendable {
        /// EMA momentum at the start, raised to 1 by a cosine (reference `momentum_teacher`:
        /// 0.996); nil: auto (0.996 at ImageNet size, down to 0.99 at 20 000 images and below,
        /// as LightlyTrain: a slower teacher keeps the first epochs of small sets stable).
        public var momentum: Double? = nil
        /// τ_t after warm-up (reference: 0.07 in the README's ViT-S/16 recipe; CLI default
        /// 0.04); nil: auto (0.07 at ImageNet size, down to 0.02 at 20 000 images and below, as
        /// LightlyTrain: stronger sharpening keeps small sets from collapsing to uniform targets).
        public var temperature: Double? = nil
        /// τ_t at the start of the warm-up (reference `warmup_teacher_temp`: 0.04); nil: auto
        /// (0.04 at ImageNet size, 0.02 for small sets, never above `temperature`).
        public var warmupTemperature: Double? = nil
        /// Epochs of linear τ_t warm-up, stepped per epoch (reference: 30 in the README's
        /// recipe); nil: auto (30 epochs from 100-epoch runs on, else 30 % of the run per step).
        public var warmupTemperatureEpochs: Int? = nil
        /// Momentum of the centre's EMA (reference `center_momentum`: 0.9); 1 keeps the centre at
        /// 0, i.e. no centring (the DINO paper's collapse ablation, Fig. 7).
        public var centerMomentum = 0.9
        /// The teacher's normalisation: `centering` (the DINO paper's softmax of the centred
        /// outputs with the EMA centre, the reference) or `sinkhorn_knopp` (DINOv2's, 3
        /// iterations, no centre); nil: auto (`centeringMode(recipe:)`: Sinkhorn-Knopp, the
        /// reference's centring with `recipe=reference`). On 1198 digits the centred softmax
        /// drifted to near-uniform targets and ended below its random initialisation at one seed
        /// of three; Sinkhorn-Knopp kept them informative at all three
        /// (docs/benchmarks-robustness.md). RUN/config.json records the mode a run uses; runs
        /// recorded before the key existed used `centering`.
        public var centering: CenteringMode? = nil

        public init() {}

        /// The normalisation a run uses: `centering`, or when automatic Sinkhorn-Knopp (the DINO
        /// paper's centred softmax with `recipe=reference`).
        public func centeringMode(recipe: Recipe) -> CenteringMode {
            centering ?? (recipe == .reference ? .centering : .sinkhornKnopp)
        }

        enum CodingKeys: String, CodingKey {
            case momentum, temperature, centering
            case warmupTemperature = "warmup_temperature", warmupTemperatureEpochs = "warmup_temperature_epochs"
            case centerMomentum = "center_momentum"
        }
    }

    /// AdamW, schedules and clipping.
    public struct Optim: Codable, Equatable, Sendable {
        /// Peak learning rate per 256 images, scaled by batch/256 (reference `lr`: 0.0005);
        /// nil: auto (`DINOConfig.automaticPeakLearningRate`: DINOv2's 0.004 · √(batch/1024) up
        /// to 20 000 images, the reference's at ImageNet size). Runs recorded before it was
        /// automatic hold the reference's 0.0005 in their config and keep it.
        public var lr: Double? = nil
        /// Final learning rate of the cosine (reference `min_lr`: 1e-6).
        public var minLR = 1e-6
        /// Epochs of linear learning-rate warm-up (reference: 10); nil: auto (10, at most
        /// 10 % of the run; fractions are counted in steps).
        public var warmupEpochs: Double? = nil
        /// Weight decay at the start of its cosine (reference: 0.04).
        public var weightDecay = 0.04
        /// Weight decay at the end (reference `weight_decay_end`: 0.4).
        public var weightDecayEnd = 0.4
        /// Gradient clipping norm, nil or 0 for none (reference `clip_grad`: 3.0).
        public var clipGrad: Double? = 3.0
        /// Clip each parameter's gradient (reference) or their total norm.
        public var clipMode = ClipMode.perParameter

        public init() {}
        enum CodingKeys: String, CodingKey {
            case lr
            case minLR = "min_lr", warmupEpochs = "warmup_epochs", weightDecay = "weight_decay"
            case weightDecayEnd = "weight_decay_end", clipGrad = "clip_grad", clipMode = "clip_mode"
        }
    }



    enum CodingKeys: String, CodingKey {
        case model, epochs, seed, head, teacher, optim, crops, data, recipe
        case dropPathRate = "drop_path_rate", batchSize = "batch_size", studentTemperature = "student_temperature"
        case layerScaleInit = "layer_scale_init", koleoLossWeight = "koleo_loss_weight"
        case stopOnCollapse = "stop_on_collapse", collapseMonitor = "collapse_monitor", precision
    }

    // MARK: Validation

    /// Checks ranges, naming the key of the first bad value.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: key, message: message) }
        }
        try check(epochs >= 1, "epochs", "\(epochs) must be at least 1")
        try check(batchSize >= 1, "batch_size", "\(batchSize) must be at least 1")
        try check((0..<1).contains(dropPathRate), "drop_path_rate", "\(dropPathRate) must lie in [0, 1)")
        try check(head.prototypes.map { $0 >= 1 } ?? true, "head.prototypes", "must be positive")
        try check(head.layers >= 1 && head.hiddenDimensions >= 1 && head.bottleneckDimensions >= 1,
                  "head.layers", "layers and widths must be positive")
        try check(head.freezeLastLayerEpochs.map { $0 >= 0 } ?? true, "head.freeze_last_layer_epochs", "must be non-negative")
        try check(teacher.momentum.map { (0...1).contains($0) } ?? true, "teacher.momentum", "must lie in [0, 1]")
        try check(teacher.temperature.map { $0 > 0 } ?? true, "teacher.temperature", "must be positive")
        try check(teacher.warmupTemperature.map { $0 > 0 } ?? true, "teacher.warmup_temperature", "must be positive")
        try check(teacher.warmupTemperatureEpochs.map { $0 >= 0 } ?? true, "teacher.warmup_temperature_epochs", "must be non-negative")
        try check((0...1).contains(teacher.centerMomentum), "teacher.center_momentum", "must lie in [0, 1]")
        try check(studentTemperature > 0, "student_temperature", "must be positive")
        try collapseMonitor.validate(prefix: "collapse_monitor.")
        try check((koleoLossWeight ?? 0) >= 0, "koleo_loss_weight", "must be non-negative")
        try check((koleoLossWeight ?? 0) == 0 || batchSize >= 2, "koleo_loss_weight", "KoLeo needs a batch of at least 2 (a neighbour)")
        try check((optim.lr ?? 1) > 0 && optim.minLR >= 0, "optim.lr", "learning rates must be positive")
        try check(optim.warmupEpochs.map { $0 >= 0 } ?? true, "optim.warmup_epochs", "must be non-negative")
        try check(optim.weightDecay >= 0 && optim.weightDecayEnd >= 0, "optim.weight_decay", "must be non-negative")
        try check(optim.clipGrad.map { $0 >= 0 } ?? true, "optim.clip_grad", "must be non-negative, or null")
        try crops.validate()
        try data.validate()
    }
}

// MARK: - Resolved settings

/// A DINO configuration with every automatic value decided for one data set and model.
///
/// The automatic values (`model`, `prototypes`, `globalSize`, `stepsPerEpoch`, `warmupSteps`,
/// `teacherTemperature`, …) are those of `automatic`, read through this type.
@dynamicMemberLookup
public struct ResolvedDINOConfig: Equatable, Sendable {
    public var config: DINOConfig
    public var automatic: AutomaticSettings

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<AutomaticSettings, T>) -> T {
        get { automatic[keyPath: keyPath] }
        set { automatic[keyPath: keyPath] = newValue }
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<AutomaticSettings, T>) -> T { automatic[keyPath: keyPath] }

    /// The peak learning rate: `lr · batch / 256`, or the automatic one for the data set size
    /// (`DINOConfig.automaticPeakLearningRate`).
    public var peakLearningRate: Double {
        if let lr = config.optim.lr { return lr * Double(config.batchSize) / 256 }
        return DINOConfig.automaticPeakLearningRate(images: automatic.scalingImages, batchSize: config.batchSize)
    }
}

extension DINOConfig {
    /// The reference's learning rate per 256 images (`main_dino.py` `--lr`).
    public static let referenceLearningRate = 0.0005

    /// The automatic peak learning rate for `images` (the scaling size: ImageNet's under
    /// `recipe=reference`) and a batch of `batchSize`: DINOv2's 0.004 · √(batch/1024) up to 20 000
    /// images, the reference's 0.0005 · batch/256 at ImageNet size, linear in the data set size
    /// between them (each end exact). At batch 64 the small-data value is 8× the reference's:
    /// with it DINO moves the dense probes on scenes-dev, where the reference's left the patch
    /// tokens at their random initialisation (docs/benchmarks-robustness.md).
    public static func automaticPeakLearningRate(images: Int, batchSize: Int) -> Double {
        let small = 0.004 * (Double(batchSize) / 1024).squareRoot()
        let reference = referenceLearningRate * Double(batchSize) / 256
        let t = AutomaticSettings.scalingFraction(images)
        return t == 0 ? small : t == 1 ? reference : small * (1 - t) + reference * t
    }

    /// The inputs of the automatic values (AutomaticSettings.swift, shared with DINOv2).
    var automaticInputs: AutomaticSettings.Inputs {
        AutomaticSettings.Inputs(model: model, dropPathRate: dropPathRate, layerScaleInit: layerScaleInit, epochs: epochs,
                                 batchSize: batchSize, prototypes: head.prototypes, freezeLastLayerEpochs: head.freezeLastLayerEpochs,
                                 warmupEpochs: optim.warmupEpochs, teacherMomentum: teacher.momentum,
                                 teacherTemperature: teacher.temperature, teacherWarmupTemperature: teacher.warmupTemperature,
                                 teacherWarmupTemperatureEpochs: teacher.warmupTemperatureEpochs, crops: crops, data: data,
                                 recipe: recipe, koleoLossWeight: koleoLossWeight)
    }

    /// Decides every automatic value for a data set of `datasetSize` images (the rules are
    /// `AutomaticSettings.resolve`'s, listed at the top of this file).
    ///
    /// - Throws: `ConfigError` for an unknown model or values that do not fit the model (crop
    ///   sizes that are not whole patches), or a data set smaller than one batch.
    public func resolved(datasetSize: Int) throws -> ResolvedDINOConfig {
        try validate()
        return ResolvedDINOConfig(config: self, automatic: try AutomaticSettings.resolve(automaticInputs, datasetSize: datasetSize))
    }
}

extension ResolvedDINOConfig {
    /// The schedules of the run, by the names the trainer and the method read.
    ///
    /// - `lr`: linear warm-up from 0 to `lr · batch/256` over `warmupSteps`, then a half cosine
    ///   to `min_lr` (`utils.cosine_scheduler`, here counted in steps).
    /// - `wd`: half cosine from `weight_decay` to `weight_decay_end`.
    /// - `momentum`: half cosine from `teacher.momentum` to 1.
    /// - `teacher_temp`: `np.linspace(warmup, temperature, W)` then `temperature`, indexed by
    ///   epoch as the reference (or by step for short automatic warm-ups).
    public var schedules: ScheduleSet {
        let total = automatic.totalSteps, c = config
        return ScheduleSet([
            ScheduleValues.learningRate: DINOv2CosineSchedule(base: peakLearningRate, final: c.optim.minLR,
                                                              totalIterations: total, warmupIterations: automatic.warmupSteps),
            ScheduleValues.weightDecay: DINOv2CosineSchedule(base: c.optim.weightDecay, final: c.optim.weightDecayEnd,
                                                             totalIterations: total),
            ScheduleValues.teacherMomentum: DINOv2CosineSchedule(base: automatic.teacherMomentum, final: 1, totalIterations: total),
            ScheduleValues.teacherTemperature: automatic.teacherTemperaturePerEpoch
                ? LinearWarmupSchedule(start: automatic.teacherWarmupTemperature, end: automatic.teacherTemperature,
                                       warmupIterations: automatic.teacherTemperatureWarmupSteps / automatic.stepsPerEpoch)
                    .perEpoch(iterationsPerEpoch: automatic.stepsPerEpoch)
                : LinearWarmupSchedule(start: automatic.teacherWarmupTemperature, end: automatic.teacherTemperature,
                                       warmupIterations: automatic.teacherTemperatureWarmupSteps) as any Schedule,
        ])
    }

    /// The trainer's options for this run: epochs and clipping from the config, a checkpoint
    /// every epoch and every 5 minutes; the rest the trainer's defaults.
    public var trainerOptions: TrainerOptions {
        var o = TrainerOptions()
        o.epochs = config.epochs
        o.checkpointEveryMinutes = 5
        o.clipGrad = (config.optim.clipGrad ?? 0) > 0 ? config.optim.clipGrad : nil
        o.clipMode = config.optim.clipMode
        o.stopOnCollapse = config.stopOnCollapse
        o.precision = config.precision
        o.collapseMonitor = config.collapseMonitor
        return o
    }
}

/// Where a method's automatic settings come from (`recipe=auto|reference`).
public enum Recipe: String, Codable, Equatable, Sendable {
    /// Scaled to the data set size, the run length and the model, so that short runs on
    /// small data sets learn (each method's config documents its rules).
    case auto
    /// The official recipe's values whatever the data, the run and the model.
    case reference
}
