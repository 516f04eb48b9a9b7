// The configuration of a DINOv2 run: every field documented with the reference's value
// (facebookresearch/dinov2 dinov2/configs/ssl_default_config.yaml, the defaults of its
// `train.py`). Sections follow the reference's YAML (`dino`, `ibot`, `teacher`, `optim`,
// `student`, `crops`); the head, crop and data-loading sections are the shared ones
// (Methods/Shared/ConfigSections.swift). Values that depend on the run length, the data set or
// the model are `nil` ("auto") and are decided by `resolved(...)` with the rules DINO uses
// (Methods/Shared/AutomaticSettings.swift): prototypes, warm-ups, the frozen last layer, crop
// sizes and counts.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A DINOv2 training run's settings (JSON/YAML keys in snake_case, unknown keys rejected).
public struct DINOv2Config: Configuration, Equatable, Sendable {
    /// Model preset of student and teacher (reference: `vit_large` at patch 16, our
    /// `dinov2_vitl16`-like presets; this package defaults to the 32-px `vit_tiny_patch4`).
    public var model = "vit_tiny_patch4"
    /// Epochs (reference `optim.epochs`: 100, of `OFFICIAL_EPOCH_LENGTH` 1250 steps; here an
    /// epoch is one pass over the data).
    public var epochs = 100
    /// Steps in one epoch, the unit of `epochs` and of every warm-up; nil: one pass over the
    /// data. The reference's epoch is `OFFICIAL_EPOCH_LENGTH` = 1250 iterations whatever the
    /// data set (`epoch_length=1250` reproduces its schedules); the data then runs on across
    /// epoch boundaries, pass after pass.
    public var epochLength: Int? = nil
    /// Images per step (reference `batch_size_per_gpu`: 64).
    public var batchSize = 64
    /// Seed of the initial weights, the data order, the augmentations and the masks (reference: 0).
    public var seed: UInt64 = 0
    /// `auto`: the automatic values scaled to the data set, the run and the model (below);
    /// `reference`: the official values whatever the data (see `DINOConfig.recipe`).
    public var recipe = Recipe.auto
    /// The image-level (DINO) objective and KoLeo.
    public var dino = DINO()
    /// The patch-level (iBOT) objective and its masks.
    public var ibot = IBOT()
    /// Teacher momentum, temperatures and centring.
    public var teacher = Teacher()
    /// Student temperature τ_s of both objectives (reference: 0.1, fixed in the losses).
    public var studentTemperature = 0.1
    /// The student backbone's regularisation.
    public var student = Student()
    /// Optimisation.
    public var optim = Optim()
    /// Multi-crop augmentation (DINOv2's scales).
    public var crops: CropsConfig = {
        var c = CropsConfig()
        c.globalScale = [0.32, 1.0]
        c.localScale = [0.05, 0.32]
        return c
    }()
    /// Data loading.
    public var data = DataLoadingConfig()
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

    public init() {}

    /// `dino:` — the CLS-token objective and KoLeo.
    public struct DINO: Codable, Equatable, Sendable {
        /// Weight of the DINO terms (reference `loss_weight`: 1.0).
        public var lossWeight = 1.0
        /// Weight of KoLeo on the student's CLS tokens of each global crop (reference `koleo_loss_weight`: 0.1).
        public var koleoLossWeight = 0.1
        /// The DINO head (reference: 65 536 prototypes, bottleneck 256, 3 layers, hidden 2048;
        /// the last layer's scale is trained, `norm_last_layer` false).
        public var head: HeadConfig = DINOv2Config.defaultHead

        public init() {}
        enum CodingKeys: String, CodingKey {
            case head
            case lossWeight = "loss_weight", koleoLossWeight = "koleo_loss_weight"
        }
    }

    /// `ibot:` — the masked-patch objective.
    public struct IBOT: Codable, Equatable, Sendable {
        /// Weight of the iBOT term (reference `loss_weight`: 1.0; 0 disables masking).
        public var lossWeight = 1.0
        /// Fraction of global crops masked (reference `mask_sample_probability`: 0.5).
        public var maskSampleProbability = 0.5
        /// Range of the masking ratio, stratified over the masked crops (reference `mask_ratio_min_max`: [0.1, 0.5]).
        public var maskRatio = [0.1, 0.5]
        /// A head of its own for the patch tokens (reference `separate_head`: false; the
        /// paper separates them for large models).
        public var separateHead = false
        /// The iBOT head when separate (same defaults as the DINO head).
        public var head: HeadConfig = DINOv2Config.defaultHead

        public init() {}
        enum CodingKeys: String, CodingKey {
            case head
            case lossWeight = "loss_weight", maskSampleProbability = "mask_sample_probability"
            case maskRatio = "mask_ratio", separateHead = "separate_head"
        }
    }

    /// `teacher:` and `train.centering`.
    public struct Teacher: Codable, Equatable, Sendable {
        /// EMA momentum at the start, raised to 1 by a cosine (reference `momentum_teacher`:
        /// 0.992); nil: auto (0.992 at ImageNet size, down to 0.99 at 20 000 images and below,
        /// as DINO's rule).
        public var momentum: Double? = nil
        /// τ_t after warm-up (reference `teacher_temp`: 0.07); nil: auto (0.07 at ImageNet size,
        /// down to 0.02 at 20 000 images and below: with 0.07 a short run on a small set keeps
        /// uniform targets from the first steps on, docs/benchmarks-robustness.md).
        public var temperature: Double? = nil
        /// τ_t at the start of the warm-up (reference `warmup_teacher_temp`: 0.04); nil: auto
        /// (0.04 at ImageNet size, 0.02 for small sets, never above `temperature`).
        public var warmupTemperature: Double? = nil
        /// Epochs of τ_t warm-up (reference `warmup_teacher_temp_epochs`: 30); nil: auto (30,
        /// at most 30 % of the run).
        public var warmupTemperatureEpochs: Int? = nil
        /// Softmax centring with an EMA centre, or Sinkhorn-Knopp (reference `train.centering`:
        /// "centering" in the ImageNet recipe `vitl16_short.yaml`, "sinkhorn_knopp" in the
        /// recipes of the released ViT-L/g, `vitl14.yaml`/`vitg14.yaml`, and in the paper); nil:
        /// auto (`centeringMode(recipe:)`: Sinkhorn-Knopp, the reference's "centering" with
        /// `recipe=reference`). With softmax centring a 10-epoch run on 1198 digits kept nearly
        /// uniform targets and ended at its random initialisation's k-NN; Sinkhorn-Knopp kept
        /// them informative (docs/benchmarks-robustness.md).
        public var centering: CenteringMode? = nil
        /// Momentum of both centres' EMA (reference `center_momentum`: 0.9).
        public var centerMomentum = 0.9

        public init() {}

        /// The centring a run uses: `centering`, or when automatic Sinkhorn-Knopp (the
        /// reference's "centering" with `recipe=reference`).
        public func centeringMode(recipe: Recipe) -> CenteringMode {
            centering ?? (recipe == .reference ? .centering : .sinkhornKnopp)
        }

        enum CodingKeys: String, CodingKey {
            case momentum, temperature, centering
            case warmupTemperature = "warmup_temperature", warmupTemperatureEpochs = "warmup_temperature_epochs"
            case centerMomentum = "center_momentum"
        }
    }

    /// `student:` — stochastic depth and LayerScale of the student backbone.
    public struct Student: Codable, Equatable, Sendable {
        /// Stochastic depth rate (reference `drop_path_rate`: 0.3 for ViT-L; 0.4 for ViT-g);
        /// nil: auto by depth (`DINOv2Config.automaticDropPath`: 0.1 up to 12 blocks, as DINO's
        /// ViT-S/B, 0.3 at 24, 0.4 from 40).
        public var dropPathRate: Double? = nil
        /// The same rate in every block instead of rising with depth (reference `drop_path_uniform`: true).
        public var dropPathUniform = true
        /// LayerScale initial value for presets that have LayerScale (reference `layerscale`:
        /// 1e-5); nil: auto by depth (`DINOv2Config.automaticLayerScale`: 1 up to 12 blocks, the
        /// reference's 1e-5 beyond — with 1e-5 the class token of a shallow model barely sees the
        /// image for hundreds of steps and every image gets the same target).
        public var layerScale: Double? = nil

        public init() {}
        enum CodingKeys: String, CodingKey {
            case dropPathRate = "drop_path_rate", dropPathUniform = "drop_path_uniform", layerScale = "layerscale"
        }
    }

    /// `optim:` — AdamW, schedules, clipping.
    public struct Optim: Codable, Equatable, Sendable {
        /// Peak learning rate for 1024 images, scaled by √(batch / 1024) (reference `base_lr`:
        /// 0.004, `scaling_rule`: sqrt_wrt_1024).
        public var baseLR = 0.004
        /// Final learning rate (reference `min_lr`: 1e-6).
        public var minLR = 1e-6
        /// Epochs of linear warm-up (reference: 10); nil: auto (10, at most 10 % of the run).
        public var warmupEpochs: Double? = nil
        /// Weight decay at the start and end of its cosine (reference: 0.04 → 0.4).
        public var weightDecay = 0.04
        public var weightDecayEnd = 0.4
        /// Total gradient norm of each of backbone, DINO head and iBOT head, clipped
        /// separately; nil or 0 for none (reference `clip_grad`: 3.0).
        public var clipGrad: Double? = 3.0
        /// Layer-wise learning-rate decay per block from the top (reference `layerwise_decay`: 0.9).
        public var layerwiseDecay = 0.9
        /// Learning-rate factor of the patch embedding (reference `patch_embed_lr_mult`: 0.2).
        public var patchEmbedLRMultiplier = 0.2
        /// AdamW β₁, β₂ (reference: 0.9, 0.999).
        public var adamBeta1 = 0.9
        public var adamBeta2 = 0.999

        public init() {}
        enum CodingKeys: String, CodingKey {
            case baseLR = "base_lr", minLR = "min_lr", warmupEpochs = "warmup_epochs"
            case weightDecay = "weight_decay", weightDecayEnd = "weight_decay_end", clipGrad = "clip_grad"
            case layerwiseDecay = "layerwise_decay", patchEmbedLRMultiplier = "patch_embed_lr_mult"
            case adamBeta1 = "adamw_beta1", adamBeta2 = "adamw_beta2"
        }
    }

    /// DINOv2's head: DINO's, with the last layer's scale trained (no `norm_last_layer`).
    public static var defaultHead: HeadConfig {
        var h = HeadConfig()
        h.normLastLayer = false
        return h
    }

    enum CodingKeys: String, CodingKey {
        case model, epochs, seed, dino, ibot, teacher, student, optim, crops, data, recipe
        case batchSize = "batch_size", studentTemperature = "student_temperature", epochLength = "epoch_length"
        case stopOnCollapse = "stop_on_collapse", collapseMonitor = "collapse_monitor", precision
    }

    /// Checks ranges, naming the key of the first bad value.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: key, message: message) }
        }
        try check(epochs >= 1, "epochs", "\(epochs) must be at least 1")
        try check(epochLength.map { $0 >= 1 } ?? true, "epoch_length", "must be at least 1, or null for one pass over the data")
        try check(batchSize >= 2, "batch_size", "\(batchSize) must be at least 2 (KoLeo needs a neighbour)")
        try check(dino.lossWeight >= 0 && dino.koleoLossWeight >= 0 && ibot.lossWeight >= 0, "dino.loss_weight", "loss weights must be non-negative")
        try check(dino.lossWeight > 0 || ibot.lossWeight > 0, "dino.loss_weight", "the DINO or the iBOT term must have a positive weight")
        try check(ibot.maskRatio.count == 2 && 0 <= ibot.maskRatio[0] && ibot.maskRatio[0] <= ibot.maskRatio[1] && ibot.maskRatio[1] <= 1,
                  "ibot.mask_ratio", "\(ibot.maskRatio) must be [low, high] within [0, 1]")
        try check((0...1).contains(ibot.maskSampleProbability), "ibot.mask_sample_probability", "must lie in [0, 1]")
        for (key, h) in [("dino.head", dino.head), ("ibot.head", ibot.head)] {
            try check(h.prototypes.map { $0 >= 1 } ?? true, key + ".prototypes", "must be positive")
            try check(h.layers >= 1 && h.hiddenDimensions >= 1 && h.bottleneckDimensions >= 1, key + ".layers", "layers and widths must be positive")
            try check(h.freezeLastLayerEpochs.map { $0 >= 0 } ?? true, key + ".freeze_last_layer_epochs", "must be non-negative")
        }
        try check(teacher.momentum.map { (0...1).contains($0) } ?? true, "teacher.momentum", "must lie in [0, 1]")
        try check(teacher.temperature.map { $0 > 0 } ?? true, "teacher.temperature", "must be positive")
        try check(teacher.warmupTemperature.map { $0 > 0 } ?? true, "teacher.warmup_temperature", "must be positive")
        try check(teacher.warmupTemperatureEpochs.map { $0 >= 0 } ?? true, "teacher.warmup_temperature_epochs", "must be non-negative")
        try check((0..<1).contains(teacher.centerMomentum), "teacher.center_momentum", "must lie in [0, 1)")
        try check(studentTemperature > 0, "student_temperature", "must be positive")
        try collapseMonitor.validate(prefix: "collapse_monitor.")
        try check(student.dropPathRate.map { (0..<1).contains($0) } ?? true, "student.drop_path_rate", "must lie in [0, 1)")
        try check(student.layerScale.map { $0 > 0 } ?? true, "student.layerscale", "must be positive, or null")
        try check(optim.baseLR > 0 && optim.minLR >= 0, "optim.base_lr", "learning rates must be positive")
        try check(optim.warmupEpochs.map { $0 >= 0 } ?? true, "optim.warmup_epochs", "must be non-negative")
        try check(optim.weightDecay >= 0 && optim.weightDecayEnd >= 0, "optim.weight_decay", "must be non-negative")
        try check(optim.clipGrad.map { $0 >= 0 } ?? true, "optim.clip_grad", "must be non-negative, or null")
        try check(optim.layerwiseDecay > 0 && optim.layerwiseDecay <= 1, "optim.layerwise_decay", "must lie in (0, 1]")
        try check(optim.patchEmbedLRMultiplier >= 0, "optim.patch_embed_lr_mult", "must be non-negative")
        try check((0..<1).contains(optim.adamBeta1) && (0..<1).contains(optim.adamBeta2), "optim.adamw_beta1", "betas must lie in [0, 1)")
        try crops.validate()
        try data.validate()
    }

    /// Stochastic depth for a student of `depth` blocks: 0.1 up to 12 (DINO's ViT-S/B), rising
    /// linearly to 0.3 at 24 (DINOv2's ViT-L) and 0.4 at 40 (ViT-g), then constant.
    public static func automaticDropPath(depth: Int) -> Double { AutomaticSettings.dropPath(depth: depth) }

    /// LayerScale's initial γ for a model of `depth` blocks: 1 up to 12 blocks (DINO's ViT-S/B
    /// train without LayerScale, which γ = 1 reproduces at the start), the reference's 1e-5
    /// beyond (DINOv2 trains ViT-L/g). Measured on a 6-block model, 3900 images, τ_t 0.02: with
    /// 1e-5 every image gets the same target from the first step (the class token barely sees
    /// the image), with CaiT's 0.1 the targets stay nearly identical (H(q̄) − H(q) 0.03–0.06
    /// nats over the first 30 steps), with 1 they carry 0.2–0.5 nats
    /// (docs/benchmarks-robustness.md).
    public static func automaticLayerScale(depth: Int) -> Double { AutomaticSettings.layerScale(depth: depth) }

    /// DINOv2's learning-rate scaling rule `sqrt_wrt_1024`: `base_lr · √(batch / 1024)`.
    public static func scaledLearningRate(base: Double, batchSize: Int) -> Double {
        base * (Double(batchSize) / 1024).squareRoot()
    }
}

// MARK: - Resolved settings

/// A DINOv2 configuration with every automatic value decided for one data set and model.
public struct ResolvedDINOv2Config: Equatable, Sendable {
    public var config: DINOv2Config
    /// The automatic values (prototypes, crops, warm-ups, frozen last layer), by the shared rules.
    public var base: AutomaticSettings
    /// The student's architecture: the preset with uniform stochastic depth and LayerScale.
    public var model: VisionTransformerConfig
    /// K of the DINO head, and of the iBOT head (its own when separate, else the DINO head's).
    public var prototypes: Int { base.prototypes }
    public var ibotPrototypes: Int
    /// Peak learning rate `base_lr · √(batch / 1024)`.
    public var peakLearningRate: Double { DINOv2Config.scaledLearningRate(base: config.optim.baseLR, batchSize: config.batchSize) }
    public var stepsPerEpoch: Int { base.stepsPerEpoch }
    public var totalSteps: Int { base.totalSteps }
}

extension DINOv2Config {
    /// The inputs of the automatic values (AutomaticSettings.swift, DINO's rules); drop path and
    /// LayerScale are DINOv2's own (by depth), decided in `resolved`.
    var automaticInputs: AutomaticSettings.Inputs {
        AutomaticSettings.Inputs(model: model, dropPathRate: student.dropPathRate ?? 0, layerScaleInit: nil,
                                 epochs: epochs, batchSize: batchSize, epochLength: epochLength, prototypes: dino.head.prototypes,
                                 freezeLastLayerEpochs: dino.head.freezeLastLayerEpochs, warmupEpochs: optim.warmupEpochs,
                                 teacherMomentum: teacher.momentum, teacherTemperature: teacher.temperature,
                                 teacherWarmupTemperature: teacher.warmupTemperature,
                                 teacherWarmupTemperatureEpochs: teacher.warmupTemperatureEpochs, crops: crops, data: data,
                                 recipe: recipe, koleoLossWeight: dino.koleoLossWeight, referenceTeacherMomentum: 0.992)
    }

    /// Decides every automatic value for a data set of `datasetSize` images.
    ///
    /// - Throws: `ConfigError` for bad values, an unknown model, crops that are not whole
    ///   patches, or a data set smaller than one batch.
    ///
    /// - Parameter distilled: the settings of a distillation's student, which sees its crops
    ///   unmasked (no mask token needed for iBOT) and may be a ConvNeXt preset.
    public func resolved(datasetSize: Int, distilled: Bool = false) throws -> ResolvedDINOv2Config {
        try validate()
        var inputs = automaticInputs
        inputs.allowsConvNeXt = distilled
        var base = try AutomaticSettings.resolve(inputs, datasetSize: datasetSize)
        let reference = recipe == .reference
        var model = base.model
        model.dropPathRate = student.dropPathRate ?? (reference ? 0.3 : DINOv2Config.automaticDropPath(depth: model.depth))
        model.dropPathUniform = student.dropPathUniform
        if model.layerScaleInit != nil {
            model.layerScaleInit = student.layerScale ?? (reference ? 1e-5 : DINOv2Config.automaticLayerScale(depth: model.depth))
        }
        base.model = model
        if ibot.lossWeight > 0 && !model.maskToken && !distilled {
            throw ConfigError.invalidValue(path: "model", message: "\(self.model) has no mask token, which iBOT needs (set ibot.loss_weight=0)")
        }
        let ibotPrototypes = ibot.separateHead ? (ibot.head.prototypes ?? base.prototypes) : base.prototypes
        return ResolvedDINOv2Config(config: self, base: base, model: model, ibotPrototypes: ibotPrototypes)
    }
}

extension ResolvedDINOv2Config {
    /// Steps during which the last layers learn at rate 0 (`freeze_last_layer_epochs`).
    public var freezeLastLayerSteps: Int { base.freezeLastLayerSteps }

    /// The schedules of the run (DINOv2 `build_schedulers`, counted in steps):
    ///
    /// - `lr`: linear warm-up from 0 to `base_lr · √(batch/1024)`, then cosine to `min_lr`;
    /// - `last_layer_lr`: the same, 0 for the first `freezeLastLayerSteps` steps;
    /// - `wd`: cosine from `weight_decay` to `weight_decay_end`;
    /// - `momentum`: cosine from `teacher.momentum` to 1;
    /// - `teacher_temp`: linear warm-up per step from `warmup_temperature` to `temperature`,
    ///   then constant (DINOv2's `CosineScheduler` with base = final = `teacher_temp`).
    public var schedules: ScheduleSet {
        let c = config, total = totalSteps
        let lr = DINOv2CosineSchedule(base: peakLearningRate, final: c.optim.minLR, totalIterations: total,
                                      warmupIterations: base.warmupSteps)
        let warmTemperature = Swift.min(base.teacherTemperatureWarmupSteps, total)
        return ScheduleSet([
            ScheduleValues.learningRate: lr,
            ScheduleValues.lastLayerLearningRate: lr.zeroed(before: freezeLastLayerSteps),
            ScheduleValues.weightDecay: DINOv2CosineSchedule(base: c.optim.weightDecay, final: c.optim.weightDecayEnd, totalIterations: total),
            ScheduleValues.teacherMomentum: DINOv2CosineSchedule(base: base.teacherMomentum, final: 1, totalIterations: total),
            ScheduleValues.teacherTemperature: DINOv2CosineSchedule(base: base.teacherTemperature, final: base.teacherTemperature,
                                                                    totalIterations: warmTemperature, warmupIterations: warmTemperature,
                                                                    startWarmupValue: base.teacherWarmupTemperature),
        ])
    }

    /// The trainer's options: epochs, AdamW betas, clipping of backbone and heads separately.
    public var trainerOptions: TrainerOptions {
        var o = TrainerOptions()
        o.epochs = config.epochs
        o.clipGrad = (config.optim.clipGrad ?? 0) > 0 ? config.optim.clipGrad : nil
        o.clipMode = .totalNormPerModule
        o.adamBeta1 = config.optim.adamBeta1
        o.adamBeta2 = config.optim.adamBeta2
        o.stopOnCollapse = config.stopOnCollapse
        o.precision = config.precision
        o.collapseMonitor = config.collapseMonitor
        return o
    }

    /// The multi-crop augmentation: DINOv2's preset at the resolved sizes and the configured scales.
    public var multiCrop: MultiCropConfig {
        var m = MultiCropConfig.preset(.dinov2, globalSize: base.globalSize, localSize: base.localSize, localCount: base.localCount)
        m.global.scale = config.crops.globalScale
        m.local.scale = config.crops.localScale
        config.crops.applyColor(to: &m)
        return m
    }

    /// iBOT's mask collator for the global crops.
    ///
    /// The masks are made even when iBOT is off (`ibot.loss_weight` 0): the reference's collate
    /// always masks the student's global crops, and its `forward_backward` always passes the
    /// masks to the student backbone, so the DINO and KoLeo terms see masked crops either way.
    /// Nil only for a model without a mask token (which `resolved` allows only with iBOT off).
    public var maskCollator: MaskCollator? {
        guard model.maskToken else { return nil }
        return MaskCollator(gridSize: base.globalSize / model.patchSize, ratio: config.ibot.maskRatio,
                            probability: config.ibot.maskSampleProbability, variant: .dinov2)
    }
}
