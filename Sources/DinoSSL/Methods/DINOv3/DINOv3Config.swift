// The configuration of a DINOv3 run: every field documented with the reference's value
// (facebookresearch/dinov3 dinov3/configs/ssl_default_config.yaml and the base recipe
// configs/train/vitl_im1k_lin834.yaml; the Gram section from configs/train/
// dinov3_vit7b16_gram_anchor.yaml). Sections follow the reference's YAML (`dino`, `ibot`,
// `gram`, `teacher`, `optim`, `student`, `crops`). Values that depend on the run length, the
// data set or the model are `nil` ("auto") and are decided by `resolved(...)` with the rules
// DINO and DINOv2 use (Methods/Shared/AutomaticSettings.swift).
//
// What the reference asserts is not a key here: Sinkhorn-Knopp centring
// (`train.centering: sinkhorn_knopp`), a separate iBOT head (`ibot.separate_head: true`) and
// local crops (`local_crops_number > 0`) are always so.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A DINOv3 training run's settings (JSON/YAML keys in snake_case, unknown keys rejected).
public struct DINOv3Config: Configuration, Equatable, Sendable {
    /// Model preset of student and teacher (reference: `vit_large` at patch 16 with RoPE;
    /// this package defaults to the 32-px `dinov3_vit_nano_patch4`: DINOv3's layout — RoPE,
    /// 4 storage tokens, LayerScale, masked key bias — at `vit_nano_patch4`'s sizes).
    public var model = "dinov3_vit_nano_patch4"
    /// Epochs (reference `optim.epochs`: 100 of `OFFICIAL_EPOCH_LENGTH` 1250 steps; here an
    /// epoch is one pass over the data unless `epoch_length` is set).
    public var epochs = 100
    /// Steps in one epoch; nil: one pass over the data (reference `OFFICIAL_EPOCH_LENGTH`: 1250).
    public var epochLength: Int? = nil
    /// Images per step (reference `batch_size_per_gpu`: 64, on 32 GPUs).
    public var batchSize = 64
    /// Seed of the initial weights, the data order, the augmentations and the masks (reference: 0).
    public var seed: UInt64 = 0
    /// `auto`: automatic values scaled to the data set and the run; `reference`: the
    /// official values whatever the data (see `DINOConfig.recipe`).
    public var recipe = Recipe.auto
    /// `cosine`: the base recipe's schedules (`build_schedulers`: cosine learning rate, weight
    /// decay and momentum); `constant`: DINOv3's schedules v2 as the ViT-7B run uses them —
    /// learning rate constant after its warm-up, constant weight decay and momentum.
    public var schedules = ScheduleKind.cosine
    /// `base` (pretraining or anchoring) or `high_res`, DINOv3's high-resolution adaptation
    /// (configs/train/dinov3_vit7b16_high_res_adapt.yaml; `dino train --phase high-res --from
    /// RUN` sets this with the phase's other keys): crop sizes drawn per batch from
    /// `multi_resolution`, by default scaled from the base global size G — global crops of
    /// 1.5·G and 2·G (48 and 64 px for G = 32), local crops of L and 1.5·L, Gram crops of 1.5×
    /// the global size, ratios 0.3 and 0.7 (the reference's 512 px : 768 px).
    public var phase = Phase.base
    /// Crop sizes per batch (reference `crops.global_crops_size`, `local_crops_size`,
    /// `gram_teacher_crops_size` as lists, `global_local_crop_pairs_ratios`); null: one
    /// resolution (`crops`, `gram.teacher_crops_size`), or the `high_res` defaults.
    public var multiResolution: MultiResolution? = nil
    public var dino = DINO()
    public var ibot = IBOT()
    public var gram = Gram()
    public var teacher = Teacher()
    /// Student temperature τ_s of the DINO and iBOT terms (reference: 0.1, fixed in the losses).
    public var studentTemperature = 0.1
    public var student = Student()
    public var optim = Optim()
    /// Multi-crop augmentation (DINOv3's scales: 0.32–1 and 0.05–0.32).
    public var crops = Crops()
    public var data = DataLoadingConfig()
    /// Start from an earlier run (`dino train --from RUN`): its newest checkpoint's student
    /// and teacher (backbones and heads); with `gram.use_loss` and no other Gram teacher, its
    /// teacher's backbone is also the Gram teacher. The optimiser starts afresh (AdamW
    /// moments at zero, schedules from step 0), as the reference's
    /// `student.resume_from_teacher_chkpt` does; nil: a fresh start (reference: none).
    public var from: String? = nil
    /// Stop the run when the collapse monitor has seen a collapse for a whole window.
    /// Precision of the matrix products: `float32`, or `bf16` (bfloat16 inputs and outputs,
    /// Float32 accumulation, Float32 master weights, optimiser and losses: PyTorch's CPU
    /// autocast; DinoTensor/Ops/Autocast.swift). Recorded in the checkpoints' config; a resume
    /// with another precision is refused. (`float64` is refused: only dino and dinov2 have it.)
    public var precision = Precision.float32
    public var stopOnCollapse = false
    public var collapseMonitor = CollapseMonitorOptions()

    public init() {}

    /// Which schedules the run uses.
    public enum ScheduleKind: String, Codable, Sendable, CaseIterable {
        case cosine
        case constant
        /// The high-resolution phase's: learning rate rising by a cosine from 0 to its peak
        /// over the run (reference: start 0, peak 0, end 1.25e-5, cosine 10 epochs), weight
        /// decay, momentum and τ_t constant, no warm-ups.
        case cosineRamp = "cosine_ramp"
    }

    /// The training phase.
    public enum Phase: String, Codable, Sendable, CaseIterable {
        case base
        case highRes = "high_res"
    }

    /// Several crop resolutions, one drawn per batch.
    public struct MultiResolution: Codable, Equatable, Sendable {
        public var globalSizes: [Int]
        public var localSizes: [Int]
        /// Gram teacher crop sizes (one per resolution), or null: the global crops.
        public var gramSizes: [Int]?
        public var ratios: [Double]

        public init(globalSizes: [Int], localSizes: [Int], gramSizes: [Int]?, ratios: [Double]) {
            self.globalSizes = globalSizes; self.localSizes = localSizes; self.gramSizes = gramSizes; self.ratios = ratios
        }
        enum CodingKeys: String, CodingKey {
            case ratios
            case globalSizes = "global_sizes", localSizes = "local_sizes", gramSizes = "gram_sizes"
        }
    }

    /// `crops:` — the shared multi-crop keys (`CropsConfig`) with DINOv3's scales, and
    /// DINOv3's two options. (`teacher_no_color_jitter` is not a key: the reference's
    /// augmentation makes `global_crops_teacher` views, but its collate and `SSLMetaArch` never
    /// read them — the teacher always sees the student's global crops.)
    public struct Crops: Codable, Equatable, Sendable {
        /// Side of the 2 global views (reference: 224); nil: auto (the model's size, at most 224).
        public var globalSize: Int? = nil
        /// Side of the local views (reference: 96); nil: 3/7 of the global size in whole patches.
        public var localSize: Int? = nil
        /// Number of local views (reference `local_crops_number`: 8); nil: 8, or 6 under 96 px.
        public var localCount: Int? = nil
        /// Area ranges (reference `global_crops_scale` 0.32–1, `local_crops_scale` 0.05–0.32).
        public var globalScale = [0.32, 1.0]
        public var localScale = [0.05, 0.32]
        /// Colour jitter and grayscale once per image before cropping (reference `share_color_jitter`: false).
        public var shareColorJitter = false
        /// Local views cut from the two global views' crops at whole-patch offsets (reference
        /// `localcrops_subset_of_globalcrops`: false).
        public var localcropsSubsetOfGlobalcrops = false
        /// Colour distortions (`CropsConfig`'s keys; nil: the reference's).
        public var colorJitterProbability: Double? = nil
        public var brightness: Double? = nil
        public var contrast: Double? = nil
        public var saturation: Double? = nil
        public var hue: Double? = nil
        public var grayscaleProbability: Double? = nil
        public var solarizeProbability: Double? = nil
        public var blurSigma: [Double]? = nil

        public init() {}
        enum CodingKeys: String, CodingKey {
            case globalSize = "global_size", localSize = "local_size", localCount = "local_count"
            case globalScale = "global_scale", localScale = "local_scale"
            case shareColorJitter = "share_color_jitter", localcropsSubsetOfGlobalcrops = "localcrops_subset_of_globalcrops"
            case colorJitterProbability = "color_jitter_probability", brightness, contrast, saturation, hue
            case grayscaleProbability = "grayscale_probability", solarizeProbability = "solarize_probability"
            case blurSigma = "blur_sigma"
        }

        /// The shared keys, for the automatic values, their checks and the colour distortions.
        public var shared: CropsConfig {
            var c = CropsConfig()
            c.globalSize = globalSize; c.localSize = localSize; c.localCount = localCount
            c.globalScale = globalScale; c.localScale = localScale
            c.colorJitterProbability = colorJitterProbability; c.brightness = brightness; c.contrast = contrast
            c.saturation = saturation; c.hue = hue; c.grayscaleProbability = grayscaleProbability
            c.solarizeProbability = solarizeProbability; c.blurSigma = blurSigma
            return c
        }
    }

    /// A `linear_warmup_cosine_decay` over epochs (dinov3/train/cosine_lr_scheduler.py): linear
    /// from `start` to `peak` over `warmup_epochs`, then a cosine to `end` over
    /// `cosine_epochs` (nil: the rest of the run), then `end`.
    public struct WeightSchedule: Codable, Equatable, Sendable {
        public var start: Double
        public var peak: Double
        public var end: Double
        public var warmupEpochs: Int
        public var cosineEpochs: Int?

        public init(start: Double, peak: Double, end: Double, warmupEpochs: Int, cosineEpochs: Int? = nil) {
            self.start = start; self.peak = peak; self.end = end
            self.warmupEpochs = warmupEpochs; self.cosineEpochs = cosineEpochs
        }
        enum CodingKeys: String, CodingKey {
            case start, peak, end
            case warmupEpochs = "warmup_epochs", cosineEpochs = "cosine_epochs"
        }

        func schedule(epochs: Int, stepsPerEpoch: Int) -> WarmupCosineSchedule {
            GramLoss.weightSchedule(start: start, peak: peak, end: end, warmupEpochs: warmupEpochs,
                                    cosineEpochs: cosineEpochs, epochs: epochs, iterationsPerEpoch: stepsPerEpoch)
        }
    }

    /// `dino:` — the CLS-token objective and KoLeo.
    public struct DINO: Codable, Equatable, Sendable {
        /// Weight of the DINO terms (reference `loss_weight`: 1.0).
        public var lossWeight = 1.0
        /// Leave out the (crop g, crop g) pairs of the global term (reference
        /// `global_ignore_diagonal`: true): 2 global pairs instead of 4.
        public var globalIgnoreDiagonal = true
        /// Weight of KoLeo on the student's CLS tokens of each global crop (reference
        /// `koleo_loss_weight`: 0.1); nil: auto (0.1 up to 20 000 images, falling to 0 at
        /// ImageNet size, as DINOv2's automatic value).
        public var koleoLossWeight: Double? = 0.1
        /// KoLeo's nearest neighbours searched within groups of this many images of each
        /// global crop (reference `koleo_loss_distributed` with
        /// `koleo_distributed_loss_group_size`: off; 16 in the high-resolution phase); the
        /// batch must be a multiple. Null: the whole batch (under mpirun each rank's slice, the
        /// reference's `KoLeoLoss`). Under mpirun a group larger than a rank's images is
        /// all-gathered over whole ranks (`KoLeoLossDistributed`; docs/distributed.md).
        public var koleoGroupSize: Int? = nil
        /// Multiply the local DINO term by `local_loss_weight_schedule` (reference
        /// `reweight_dino_local_loss`: false).
        public var reweightDinoLocalLoss = false
        /// The local term's weight over the run (reference: constant 0.5).
        public var localLossWeightSchedule = WeightSchedule(start: 0.5, peak: 0.5, end: 0.5, warmupEpochs: 0)
        /// The DINO head (reference: 65 536 prototypes, bottleneck 256, 3 layers, hidden 2048,
        /// last layer a plain Linear with trunc-normal(0.02) initialisation).
        public var head: HeadConfig = DINOv3Config.defaultHead

        public init() {}
        enum CodingKeys: String, CodingKey {
            case head
            case lossWeight = "loss_weight", globalIgnoreDiagonal = "global_ignore_diagonal"
            case koleoLossWeight = "koleo_loss_weight", reweightDinoLocalLoss = "reweight_dino_local_loss"
            case koleoGroupSize = "koleo_group_size"
            case localLossWeightSchedule = "local_loss_weight_schedule"
        }
    }

    /// `ibot:` — the masked-patch objective and its exact-count masks.
    public struct IBOT: Codable, Equatable, Sendable {
        /// Weight of the iBOT term (reference `loss_weight`: 1.0).
        public var lossWeight = 1.0
        /// Fraction of global crops masked (reference `mask_sample_probability`: 0.5).
        public var maskSampleProbability = 0.5
        /// Range of the masking ratio, stratified over the masked crops (reference `mask_ratio_min_max`: [0.1, 0.5]).
        public var maskRatio = [0.1, 0.5]
        /// Roll each mask by a random offset (reference `mask_random_circular_shift`: false).
        public var maskRandomCircularShift = false
        /// The iBOT head, always separate (same defaults as the DINO head).
        public var head: HeadConfig = DINOv3Config.defaultHead

        public init() {}
        enum CodingKeys: String, CodingKey {
            case head
            case lossWeight = "loss_weight", maskSampleProbability = "mask_sample_probability"
            case maskRatio = "mask_ratio", maskRandomCircularShift = "mask_random_circular_shift"
        }
    }

    /// Which patch tokens the Gram loss compares (`gram.tokens_used`).
    public enum GramTokens: String, Codable, Sendable, CaseIterable {
        case all, masked, unmasked
    }

    /// `gram:` — Gram anchoring (dinov3/loss/gram_loss.py, ssl_meta_arch.py, train.py).
    public struct Gram: Codable, Equatable, Sendable {
        /// Add the Gram loss (reference `use_loss`: false; true in the anchoring stage).
        public var useLoss = false
        /// Weight of the Gram loss (reference `loss_weight`: 1.0), unless `loss_weight_schedule`.
        public var lossWeight = 1.0
        /// The weight over the run instead of `loss_weight` (reference: null; the anchoring
        /// config: start 0, peak 0, end 2, warm-up 1000 epochs, cosine 1 epoch).
        public var lossWeightSchedule: WeightSchedule? = nil
        /// Use the EMA teacher itself as the Gram teacher (reference `ema_teacher`: false).
        public var emaTeacher = false
        /// The first Gram teacher: a run folder (its newest checkpoint's teacher backbone) or
        /// a checkpoint file (reference `ckpt`: null).
        public var ckpt: String? = nil
        /// Step at which the EMA teacher is copied into the Gram teacher, before that step's
        /// forward pass (reference `it_load_ema_teacher`: -1, none). Without `gram.ckpt` the
        /// Gram term is left out (logged as 0) until then.
        public var itLoadEmaTeacher = -1
        /// Refresh the Gram teacher from the EMA teacher every `update_frequency` steps
        /// (reference `rep_update`: true).
        public var repUpdate = true
        /// Steps between refreshes (reference `update_frequency`: 50 000; the anchoring
        /// config's 10 000 = 10 of its epochs); nil: auto, 10 epochs.
        public var updateFrequency: Int? = nil
        /// First step after which a refresh may happen (reference `it_first_update`: 0).
        public var itFirstUpdate = 0
        /// At most this many refreshes (reference `max_updates`: null, unlimited; anchoring: 3).
        public var maxUpdates: Int? = nil
        /// L2-normalise features before the Gram matrices (reference `normalized`: true).
        public var normalized = true
        /// One Gram matrix per image, or one over the batch (reference `img_level`: false;
        /// the anchoring config: true).
        public var imgLevel = false
        /// Zero negative similarities of both matrices (reference `remove_neg`: false).
        public var removeNeg = false
        /// Zero negative similarities of the teacher's only (reference `remove_only_teacher_neg`: false).
        public var removeOnlyTeacherNeg = false
        /// Which patches enter the loss (reference `tokens_used`: all).
        public var tokensUsed = GramTokens.all
        /// Side of the Gram teacher's own renderings of the global crops (reference
        /// `crops.gram_teacher_crops_size`: null; the anchoring config: 512 for 256-px global
        /// crops); its patch features are resized bicubically (no antialias, the reference's
        /// `global_teacher_resize_method` and `_antialias`) to the student's grid. Null: the
        /// Gram teacher sees the student's global crops (unmasked).
        public var teacherCropsSize: Int? = nil
        /// The Gram teacher's crops without colour, blur and solarisation (reference
        /// `crops.gram_teacher_no_distortions`: false; the anchoring config: true).
        public var teacherNoDistortions = false

        public init() {}
        enum CodingKeys: String, CodingKey {
            case ckpt, normalized
            case useLoss = "use_loss", lossWeight = "loss_weight", lossWeightSchedule = "loss_weight_schedule"
            case emaTeacher = "ema_teacher", itLoadEmaTeacher = "it_load_ema_teacher", repUpdate = "rep_update"
            case updateFrequency = "update_frequency", itFirstUpdate = "it_first_update", maxUpdates = "max_updates"
            case imgLevel = "img_level", removeNeg = "remove_neg", removeOnlyTeacherNeg = "remove_only_teacher_neg"
            case tokensUsed = "tokens_used", teacherCropsSize = "teacher_crops_size", teacherNoDistortions = "teacher_no_distortions"
        }

        var negatives: GramLoss.Negatives {
            removeNeg ? .removeBoth : removeOnlyTeacherNeg ? .removeTeacher : .keep
        }
    }

    /// `teacher:` — momentum and temperatures.
    public struct Teacher: Codable, Equatable, Sendable {
        /// EMA momentum at the start (reference `momentum_teacher`: 0.992); nil: auto (0.992
        /// at ImageNet size, down to 0.99 at 20 000 images and below; in the high-resolution
        /// phase 1 − 10 / steps within [0.99, 0.999], `DINOv3Config.highResolutionMomentum`).
        public var momentum: Double? = nil
        /// Momentum at the end of its cosine (reference `final_momentum_teacher`: 1; unused
        /// with `schedules: constant`).
        public var finalMomentum = 1.0
        /// τ_t after warm-up (reference `teacher_temp`: 0.07); nil: auto (0.07 at ImageNet
        /// size, down to 0.02·(0.02·√bottleneck) — 0.006 with the plain-linear head of 256 —
        /// at 20 000 images and below; 0.02 with a weight-normalised last layer).
        public var temperature: Double? = nil
        /// τ_t at the start of the warm-up (reference `warmup_teacher_temp`: 0.04); nil: auto
        /// (the same small-data value, 0.04 at ImageNet size).
        public var warmupTemperature: Double? = nil
        /// Epochs of τ_t warm-up (reference `warmup_teacher_temp_epochs`: 30); nil: auto (30,
        /// at most 30 % of the run).
        public var warmupTemperatureEpochs: Int? = nil

        public init() {}
        enum CodingKeys: String, CodingKey {
            case momentum, temperature
            case finalMomentum = "final_momentum", warmupTemperature = "warmup_temperature"
            case warmupTemperatureEpochs = "warmup_temperature_epochs"
        }
    }

    /// `student:` — stochastic depth, LayerScale and RoPE's training augmentations.
    public struct Student: Codable, Equatable, Sendable {
        /// Stochastic depth rate (reference `drop_path_rate`: 0.3 for ViT-L, 0.4 for ViT-7B);
        /// nil: auto by depth (`AutomaticSettings.dropPath`: 0.1 up to 12 blocks).
        public var dropPathRate: Double? = nil
        /// The same rate in every block (reference: DINOv3's `drop_path_rate` is uniform).
        public var dropPathUniform = true
        /// How drop path drops (reference dinov3/layers/block.py: an exact random subset of
        /// the batch goes through each branch, rescaled; `batch_subset`).
        public var dropPathMode = DropPath.Mode.batchSubset
        /// LayerScale's initial γ (reference `layerscale`: 1e-5); nil: auto by depth
        /// (`AutomaticSettings.layerScale`: 1 up to 12 blocks, 1e-5 beyond).
        public var layerScale: Double? = nil
        /// RoPE coordinate augmentation in training (reference `pos_embed_rope_shift_coords`,
        /// `_jitter_coords`, `_rescale_coords`: null, null, 2 in the ViT-7B pretraining
        /// config; null in vitl_im1k_lin834). Rescale 2 is on by default.
        public var ropeShiftCoords: Double? = nil
        public var ropeJitterCoords: Double? = nil
        public var ropeRescaleCoords: Double? = 2
        /// A norm of its own for the local crops' class and storage tokens in training
        /// (reference `untie_global_and_local_cls_norm`: false; true in the ViT-7B configs);
        /// null: the preset's. Starting `--from` a run without it, the new norm starts as a
        /// copy of the final norm.
        public var untieGlobalAndLocalClsNorm: Bool? = nil

        public init() {}
        enum CodingKeys: String, CodingKey {
            case dropPathRate = "drop_path_rate", dropPathUniform = "drop_path_uniform", dropPathMode = "drop_path_mode"
            case layerScale = "layerscale", ropeShiftCoords = "rope_shift_coords", ropeJitterCoords = "rope_jitter_coords"
            case ropeRescaleCoords = "rope_rescale_coords", untieGlobalAndLocalClsNorm = "untie_global_and_local_cls_norm"
        }
    }

    /// `optim:` — AdamW, schedules, clipping.
    public struct Optim: Codable, Equatable, Sendable {
        /// Learning rate before the scaling rule `sqrt_wrt_1024`, peak = `lr · 4 · √(batch /
        /// 1024)` (reference `lr`: 0.001, i.e. 0.004 for 1024 images).
        public var lr = 0.001
        /// Final learning rate of the cosine (reference `min_lr`: 1e-6; not scaled).
        public var minLR = 1e-6
        /// Epochs of linear warm-up (reference: 10); nil: auto (10, at most 10 % of the run).
        public var warmupEpochs: Double? = nil
        /// Weight decay at the start and end of its cosine (reference: 0.04 → 0.4; constant
        /// 0.04 with `schedules: constant`).
        public var weightDecay = 0.04
        public var weightDecayEnd = 0.4
        /// Total gradient norm of each of backbone, DINO head and iBOT head (reference `clip_grad`: 3.0).
        public var clipGrad: Double? = 3.0
        /// Layer-wise learning-rate decay (reference `layerwise_decay`: 0.9; ViT-7B 0.98).
        public var layerwiseDecay = 0.9
        /// Learning-rate factor of the patch embedding (reference `patch_embed_lr_mult`: 0.2).
        public var patchEmbedLRMultiplier = 0.2
        /// AdamW β₁, β₂ (reference: 0.9, 0.999).
        public var adamBeta1 = 0.9
        public var adamBeta2 = 0.999

        public init() {}
        enum CodingKeys: String, CodingKey {
            case lr, minLR = "min_lr", warmupEpochs = "warmup_epochs"
            case weightDecay = "weight_decay", weightDecayEnd = "weight_decay_end", clipGrad = "clip_grad"
            case layerwiseDecay = "layerwise_decay", patchEmbedLRMultiplier = "patch_embed_lr_mult"
            case adamBeta1 = "adamw_beta1", adamBeta2 = "adamw_beta2"
        }
    }

    /// DINOv3's head: DINOv2's sizes, the last layer a plain Linear (dinov3/layers/dino_head.py).
    public static var defaultHead: HeadConfig {
        var h = HeadConfig()
        h.normLastLayer = false
        h.lastLayer = .linear
        return h
    }

    enum CodingKeys: String, CodingKey {
        case model, epochs, seed, dino, ibot, gram, teacher, student, optim, crops, data, recipe, schedules, from, phase
        case multiResolution = "multi_resolution"
        case batchSize = "batch_size", studentTemperature = "student_temperature", epochLength = "epoch_length"
        case stopOnCollapse = "stop_on_collapse", collapseMonitor = "collapse_monitor", precision
    }

    /// Checks ranges, naming the key of the first bad value.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: key, message: message) }
        }
        try check(precision != .float64, "precision", "float64 is implemented for dino and dinov2 only; use float32 or bf16")
        try check(epochs >= 1, "epochs", "\(epochs) must be at least 1")
        try check(epochLength.map { $0 >= 1 } ?? true, "epoch_length", "must be at least 1, or null for one pass over the data")
        try check(batchSize >= 2, "batch_size", "\(batchSize) must be at least 2 (KoLeo needs a neighbour)")
        try check(dino.lossWeight >= 0 && ibot.lossWeight >= 0, "dino.loss_weight", "loss weights must be non-negative")
        try check(dino.koleoLossWeight.map { $0 >= 0 } ?? true, "dino.koleo_loss_weight", "must be non-negative")
        try check(dino.lossWeight > 0 || ibot.lossWeight > 0, "dino.loss_weight", "the DINO or the iBOT term must have a positive weight")
        // The reference asserts 0 ≤ low < high ≤ 1.
        try check(ibot.maskRatio.count == 2 && 0 <= ibot.maskRatio[0] && ibot.maskRatio[0] < ibot.maskRatio[1] && ibot.maskRatio[1] <= 1,
                  "ibot.mask_ratio", "\(ibot.maskRatio) must be [low, high] with 0 ≤ low < high ≤ 1")
        try check((0...1).contains(ibot.maskSampleProbability), "ibot.mask_sample_probability", "must lie in [0, 1]")
        for (key, h) in [("dino.head", dino.head), ("ibot.head", ibot.head)] {
            try check(h.prototypes.map { $0 >= 1 } ?? true, key + ".prototypes", "must be positive")
            try check(h.layers >= 1 && h.hiddenDimensions >= 1 && h.bottleneckDimensions >= 1, key + ".layers", "layers and widths must be positive")
            try check(h.freezeLastLayerEpochs.map { $0 >= 0 } ?? true, key + ".freeze_last_layer_epochs", "must be non-negative")
        }
        try check(teacher.momentum.map { (0...1).contains($0) } ?? true, "teacher.momentum", "must lie in [0, 1]")
        try check((0...1).contains(teacher.finalMomentum), "teacher.final_momentum", "must lie in [0, 1]")
        try check(teacher.temperature.map { $0 > 0 } ?? true, "teacher.temperature", "must be positive")
        try check(teacher.warmupTemperature.map { $0 > 0 } ?? true, "teacher.warmup_temperature", "must be positive")
        try check(teacher.warmupTemperatureEpochs.map { $0 >= 0 } ?? true, "teacher.warmup_temperature_epochs", "must be non-negative")
        try check(studentTemperature > 0, "student_temperature", "must be positive")
        try collapseMonitor.validate(prefix: "collapse_monitor.")
        try check(student.dropPathRate.map { (0..<1).contains($0) } ?? true, "student.drop_path_rate", "must lie in [0, 1)")
        try check(student.layerScale.map { $0 > 0 } ?? true, "student.layerscale", "must be positive, or null")
        for (key, v) in [("student.rope_shift_coords", student.ropeShiftCoords)] {
            try check(v.map { $0 >= 0 } ?? true, key, "must be non-negative, or null")
        }
        for (key, v) in [("student.rope_jitter_coords", student.ropeJitterCoords), ("student.rope_rescale_coords", student.ropeRescaleCoords)] {
            try check(v.map { $0 >= 1 } ?? true, key, "must be at least 1 (a log-uniform factor in [1/v, v]), or null")
        }
        try check(optim.lr > 0 && optim.minLR >= 0, "optim.lr", "learning rates must be positive")
        try check(optim.warmupEpochs.map { $0 >= 0 } ?? true, "optim.warmup_epochs", "must be non-negative")
        try check(optim.weightDecay >= 0 && optim.weightDecayEnd >= 0, "optim.weight_decay", "must be non-negative")
        try check(optim.clipGrad.map { $0 >= 0 } ?? true, "optim.clip_grad", "must be non-negative, or null")
        try check(optim.layerwiseDecay > 0 && optim.layerwiseDecay <= 1, "optim.layerwise_decay", "must lie in (0, 1]")
        try check(optim.patchEmbedLRMultiplier >= 0, "optim.patch_embed_lr_mult", "must be non-negative")
        try check((0..<1).contains(optim.adamBeta1) && (0..<1).contains(optim.adamBeta2), "optim.adamw_beta1", "betas must lie in [0, 1)")
        try crops.shared.validate()
        try check(!crops.localcropsSubsetOfGlobalcrops || (crops.localCount ?? 8) % 2 == 0, "crops.localcrops_subset_of_globalcrops",
                  "needs an even local_count (half of the local views from each global view)")
        try check(crops.localCount.map { $0 >= 1 } ?? true, "crops.local_count", "DINOv3 needs local crops (the reference asserts local_crops_number > 0)")
        try data.validate()
        // Gram (the reference's checks in SSLMetaArch.__init__).
        try check(gram.lossWeight >= 0, "gram.loss_weight", "must be non-negative")
        try check(!(gram.removeNeg && gram.removeOnlyTeacherNeg), "gram.remove_neg", "remove_neg and remove_only_teacher_neg exclude each other")
        try check(gram.updateFrequency.map { $0 >= 1 } ?? true, "gram.update_frequency", "must be at least 1")
        try check(gram.maxUpdates.map { $0 >= 0 } ?? true, "gram.max_updates", "must be non-negative, or null")
        try check(gram.itFirstUpdate >= 0, "gram.it_first_update", "must be non-negative")
        try check(gram.imgLevel == false || gram.tokensUsed == .all, "gram.tokens_used",
                  "\(gram.tokensUsed.rawValue) needs img_level false (the reference flattens the chosen tokens)")
        try check(gram.teacherCropsSize.map { $0 >= 1 } ?? true, "gram.teacher_crops_size", "must be positive, or null")
        try check(dino.koleoGroupSize.map { $0 >= 2 && batchSize % $0 == 0 } ?? true, "dino.koleo_group_size",
                  "must be at least 2 and divide batch_size \(batchSize)")
        if let m = multiResolution {
            let n = m.globalSizes.count
            try check(n >= 1 && m.localSizes.count == n && (m.gramSizes?.count ?? n) == n && m.ratios.count == n,
                      "multi_resolution", "global_sizes, local_sizes, gram_sizes and ratios must have the same length ≥ 1")
            try check(m.ratios.allSatisfy { $0 >= 0 } && m.ratios.reduce(0, +) > 0, "multi_resolution.ratios", "must be non-negative, not all 0")
            try check((m.globalSizes + m.localSizes + (m.gramSizes ?? [])).allSatisfy { $0 >= 1 }, "multi_resolution", "sizes must be positive")
        }
        try check(phase == .base || from != nil, "phase", "high_res adapts a trained model: start it with --from RUN")
        if gram.useLoss {
            try check(!(gram.emaTeacher && gram.teacherCropsSize != nil), "gram.teacher_crops_size",
                      "must be null with gram.ema_teacher=true (the EMA teacher sees the global crops)")
            try check(!(gram.emaTeacher && gram.ckpt != nil), "gram.ckpt", "cannot be used with gram.ema_teacher=true")
            try check(!(gram.emaTeacher && gram.repUpdate), "gram.rep_update", "must be false with gram.ema_teacher=true")
            try check(gram.emaTeacher || gram.ckpt != nil || from != nil || gram.itLoadEmaTeacher >= 0, "gram.it_load_ema_teacher",
                      "without gram.ckpt (or --from RUN) the Gram teacher must be loaded from the EMA teacher at a step ≥ 0")
        }
    }

    /// DINOv3's learning-rate scaling rule `sqrt_wrt_1024`: `lr · 4 · √(batch / 1024)`
    /// (dinov3/configs/config.py `apply_scaling_rules_to_cfg`, train.py `build_schedulers_v2`).
    public static func scaledLearningRate(_ lr: Double, batchSize: Int) -> Double {
        lr * 4 * (Double(batchSize) / 1024).squareRoot()
    }
}

// MARK: - Resolved settings

/// A DINOv3 configuration with every automatic value decided for one data set and model.
public struct ResolvedDINOv3Config: Equatable {
    /// One crop resolution of the run.
    public struct Resolution: Equatable, Sendable {
        public var globalSize: Int
        public var localSize: Int
        public var gramSize: Int?
        public var ratio: Double
    }

    public var config: DINOv3Config
    /// The automatic values (prototypes, crops, warm-ups, frozen last layer), by the shared rules.
    public var base: AutomaticSettings
    /// The student's architecture: the preset with the run's stochastic depth (mode, rate),
    /// LayerScale and RoPE augmentations.
    public var model: VisionTransformerConfig
    public var prototypes: Int { base.prototypes }
    public var ibotPrototypes: Int
    /// Steps between Gram teacher refreshes.
    public var gramUpdateFrequency: Int
    /// The crop resolutions (one for the base phase): global, local and Gram sizes, ratio.
    public var resolutions: [Resolution]
    /// The backbone weights the Gram teacher starts from (`gram.ckpt`), read at resolution;
    /// nil when it is loaded from the EMA teacher.
    public var gramTeacherWeights: [String: Tensor]? = nil
    /// `--from RUN`: student and teacher modules to start from (checkpoint keys `student.…`,
    /// `teacher.…`), read at resolution.
    public var initialWeights: [String: Tensor]? = nil

    /// Peak learning rate `lr · 4 · √(batch / 1024)`.
    public var peakLearningRate: Double { DINOv3Config.scaledLearningRate(config.optim.lr, batchSize: config.batchSize) }
    public var stepsPerEpoch: Int { base.stepsPerEpoch }
    public var totalSteps: Int { base.totalSteps }
    public var freezeLastLayerSteps: Int { base.freezeLastLayerSteps }

    public static func == (a: ResolvedDINOv3Config, b: ResolvedDINOv3Config) -> Bool {
        a.config == b.config && a.base == b.base && a.model == b.model && a.ibotPrototypes == b.ibotPrototypes
            && a.gramUpdateFrequency == b.gramUpdateFrequency && a.resolutions == b.resolutions
            && (a.gramTeacherWeights == nil) == (b.gramTeacherWeights == nil) && (a.initialWeights == nil) == (b.initialWeights == nil)
    }
}

extension DINOv3Config {
    var automaticInputs: AutomaticSettings.Inputs {
        AutomaticSettings.Inputs(model: model, dropPathRate: student.dropPathRate ?? 0, layerScaleInit: nil,
                                 epochs: epochs, batchSize: batchSize, epochLength: epochLength, prototypes: dino.head.prototypes,
                                 freezeLastLayerEpochs: dino.head.freezeLastLayerEpochs, warmupEpochs: optim.warmupEpochs,
                                 teacherMomentum: teacher.momentum, teacherTemperature: teacher.temperature,
                                 teacherWarmupTemperature: teacher.warmupTemperature,
                                 teacherWarmupTemperatureEpochs: teacher.warmupTemperatureEpochs, crops: crops.shared, data: data,
                                 recipe: recipe, koleoLossWeight: dino.koleoLossWeight, referenceTeacherMomentum: 0.992)
    }

    /// The high-resolution phase's constant teacher momentum for a phase of `steps` steps:
    /// 1 − 10 / steps, between 0.99 and 0.999. The reference's 0.999 over its 10 000
    /// iterations gives the EMA teacher a memory (1 / (1 − m)) of a tenth of the phase; the
    /// same tenth of a short phase keeps the teacher following the student (at 0.999, 92 steps
    /// carry 9 % of the student into it, and the phase moved nothing: docs/dinov3.md). Never
    /// below 0.99, the base recipe's small-data start: a teacher averaging fewer than 100 steps
    /// is a noisy target. 0.999 from 10 000 steps on; `recipe=reference` keeps 0.999.
    public static func highResolutionMomentum(steps: Int) -> Double {
        let m = 1 - 10 / Double(Swift.max(steps, 1))
        return (Swift.min(0.999, Swift.max(0.99, m)) * 10_000).rounded() / 10_000
    }

    /// Decides every automatic value for a data set of `datasetSize` images.
    ///
    /// - Throws: `ConfigError` for bad values, an unknown model, a model without RoPE-free
    ///   mask token, crops that are not whole patches, or a data set smaller than one batch.
    public func resolved(datasetSize: Int) throws -> ResolvedDINOv3Config {
        try validate()
        var base = try AutomaticSettings.resolve(automaticInputs, datasetSize: datasetSize)
        let reference = recipe == .reference
        // The teacher temperature for DINOv3's head. DINO's and DINOv2's automatic τ_t (0.02
        // on small data) is for a weight-normalised last layer, whose logits are cosines
        // (spread ~1/√bottleneck). DINOv3's last layer is a plain Linear initialised
        // trunc-normal(0.02), whose logits are 0.02·√bottleneck (0.32 at 256) times smaller
        // at the start, and a short run on a small set does not grow them: at τ_t 0.02 the
        // targets stayed uniform on digits for a whole protocol run (H(q) 6.86 of ln 1024 = 6.93,
        // the monitor flagging every step; docs/benchmarks-robustness.md). So the small-data end
        // of the scale is 0.02 times that factor (0.006 at 256), rising linearly to the
        // reference's 0.07 (and 0.04 at the warm-up's start) at ImageNet size, as the others'.
        if !reference, teacher.temperature == nil || teacher.warmupTemperature == nil {
            let bottleneck = Double(dino.head.bottleneckDimensions)
            let factor = dino.head.lastLayer == .linear ? Swift.min(1, 0.02 * bottleneck.squareRoot()) : 1
            if factor < 1 {
                let images = AutomaticSettings.scalingImages(datasetSize, recipe)
                let t = teacher.temperature ?? AutomaticSettings.scaled(images, start: 0.02 * factor, end: 0.07, digits: 3)
                base.teacherTemperature = t
                base.teacherWarmupTemperature = teacher.warmupTemperature
                    ?? Swift.min(t, AutomaticSettings.scaled(images, start: 0.02 * factor, end: 0.04, digits: 3))
            }
        }
        if phase == .highRes && teacher.momentum == nil {
            base.teacherMomentum = reference ? 0.999 : DINOv3Config.highResolutionMomentum(steps: base.totalSteps)
        }
        var model = base.model
        model.dropPathRate = student.dropPathRate ?? (reference ? 0.3 : AutomaticSettings.dropPath(depth: model.depth))
        model.dropPathUniform = student.dropPathUniform
        model.dropPathMode = student.dropPathMode
        if model.layerScaleInit != nil {
            model.layerScaleInit = student.layerScale ?? (reference ? 1e-5 : AutomaticSettings.layerScale(depth: model.depth))
        }
        if let untie = student.untieGlobalAndLocalClsNorm { model.untieGlobalAndLocalClsNorm = untie }
        if var rope = model.rope {
            rope.shiftCoords = student.ropeShiftCoords
            rope.jitterCoords = student.ropeJitterCoords
            rope.rescaleCoords = student.ropeRescaleCoords
            model.rope = rope
        }
        base.model = model
        if !model.maskToken {
            throw ConfigError.invalidValue(path: "model", message: "\(self.model) has no mask token, which DINOv3's iBOT masks need")
        }
        let ibotPrototypes = ibot.head.prototypes ?? base.prototypes
        let p = model.patchSize
        func patches(_ x: Double) -> Int { Swift.max(1, Int((x / Double(p)).rounded())) * p }
        var resolutions = [ResolvedDINOv3Config.Resolution(globalSize: base.globalSize, localSize: base.localSize,
                                                            gramSize: gram.teacherCropsSize, ratio: 1)]
        var multi = multiResolution
        if multi == nil && phase == .highRes {
            let (g, l) = (Double(base.globalSize), Double(base.localSize))
            let globals = [patches(1.5 * g), patches(2 * g)]
            multi = MultiResolution(globalSizes: globals, localSizes: [patches(l), patches(1.5 * l)],
                                    gramSizes: globals.map { patches(1.5 * Double($0)) }, ratios: [0.3, 0.7])
        }
        if let m = multi {
            resolutions = m.globalSizes.indices.map {
                ResolvedDINOv3Config.Resolution(globalSize: m.globalSizes[$0], localSize: m.localSizes[$0], gramSize: m.gramSizes?[$0],
                                                ratio: m.ratios[$0])
            }
        }
        for r in resolutions {
            if crops.localcropsSubsetOfGlobalcrops && (r.localSize + p > r.globalSize || (r.gramSize ?? 0) > r.globalSize) {
                throw ConfigError.invalidValue(path: "crops.localcrops_subset_of_globalcrops",
                                               message: "local crops of \(r.localSize) px must fit at least one patch inside \(r.globalSize)-px global crops, without larger Gram crops")
            }
            for (key, size) in [("global", r.globalSize), ("local", r.localSize), ("gram", r.gramSize ?? r.globalSize)] where size % p != 0 {
                throw ConfigError.invalidValue(path: multi == nil ? (key == "gram" ? "gram.teacher_crops_size" : "crops.\(key)_size") : "multi_resolution",
                                               message: "\(key) crops of \(size) px are not a whole number of \(p)-px patches")
            }
        }
        return ResolvedDINOv3Config(config: self, base: base, model: model, ibotPrototypes: ibotPrototypes,
                                    gramUpdateFrequency: gram.updateFrequency ?? 10 * base.stepsPerEpoch, resolutions: resolutions)
    }
}

extension ResolvedDINOv3Config {
    /// The schedules of the run, counted in steps.
    ///
    /// `cosine` (dinov3 train.py `build_schedulers`, as DINOv2):
    /// - `lr`: linear warm-up from 0 to `lr · 4√(batch/1024)`, then cosine to `min_lr`;
    /// - `wd`: cosine from `weight_decay` to `weight_decay_end`;
    /// - `momentum`: cosine from `teacher.momentum` to `final_momentum`;
    ///
    /// `constant` (`build_schedulers_v2` with start/peak/end as the ViT-7B config):
    /// - `lr`: linear warm-up from 0 to the peak, then constant;
    /// - `wd`: `weight_decay`; `momentum`: `teacher.momentum`;
    ///
    /// both: `last_layer_lr` = `lr`, 0 for the first `freezeLastLayerSteps`; `teacher_temp`:
    /// linear warm-up from `warmup_temperature` to `temperature`, then constant; and, when
    /// used, `gram_weight` and `dino_local_weight` (`linear_warmup_cosine_decay` over epochs).
    public var schedules: ScheduleSet {
        let c = config, total = totalSteps
        let lr: any Schedule
        var set: [String: any Schedule] = [:]
        switch c.schedules {
        case .cosine:
            let cosine = DINOv2CosineSchedule(base: peakLearningRate, final: c.optim.minLR, totalIterations: total,
                                              warmupIterations: base.warmupSteps)
            lr = cosine
            set[ScheduleValues.lastLayerLearningRate] = cosine.zeroed(before: freezeLastLayerSteps)
            set[ScheduleValues.weightDecay] = DINOv2CosineSchedule(base: c.optim.weightDecay, final: c.optim.weightDecayEnd, totalIterations: total)
            set[ScheduleValues.teacherMomentum] = DINOv2CosineSchedule(base: base.teacherMomentum, final: c.teacher.finalMomentum, totalIterations: total)
        case .constant:
            let constant = WarmupCosineSchedule(start: 0, peak: peakLearningRate, end: peakLearningRate,
                                                warmupIterations: base.warmupSteps, totalIterations: total)
            lr = constant
            set[ScheduleValues.lastLayerLearningRate] = constant.zeroed(before: freezeLastLayerSteps)
            set[ScheduleValues.weightDecay] = ConstantSchedule(c.optim.weightDecay)
            set[ScheduleValues.teacherMomentum] = ConstantSchedule(base.teacherMomentum)
        case .cosineRamp:
            // linear_warmup_cosine_decay(start 0, peak 0, end lr, warmup 0, cosine = the run).
            let ramp = WarmupCosineSchedule(start: 0, peak: 0, end: peakLearningRate, warmupIterations: 0, totalIterations: total,
                                            cosineIterations: total)
            lr = ramp
            set[ScheduleValues.lastLayerLearningRate] = ramp.zeroed(before: freezeLastLayerSteps)
            set[ScheduleValues.weightDecay] = ConstantSchedule(c.optim.weightDecay)
            set[ScheduleValues.teacherMomentum] = ConstantSchedule(base.teacherMomentum)
        }
        set[ScheduleValues.learningRate] = lr
        let warmTemperature = c.schedules == .cosineRamp ? 0 : Swift.min(base.teacherTemperatureWarmupSteps, total)
        set[ScheduleValues.teacherTemperature] = DINOv2CosineSchedule(base: base.teacherTemperature, final: base.teacherTemperature,
                                                                      totalIterations: warmTemperature, warmupIterations: warmTemperature,
                                                                      startWarmupValue: base.teacherWarmupTemperature)
        if c.dino.reweightDinoLocalLoss {
            set[DINOv3.localWeightSchedule] = c.dino.localLossWeightSchedule.schedule(epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
        }
        if c.gram.useLoss {
            set[DINOv3.gramWeightSchedule] = c.gram.lossWeightSchedule?.schedule(epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
                ?? ConstantSchedule(c.gram.lossWeight)
        }
        return ScheduleSet(set)
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

    /// The multi-crop augmentation: DINOv2's preset (DINOv3's `DataAugmentationDINO` has the
    /// same transforms) at the resolved sizes and the configured scales.
    public var multiCrop: MultiCropConfig { multiCrop(resolutions[0]) }

    /// The augmentation of one resolution (the Gram crops only with `gram.use_loss`).
    public func multiCrop(_ r: Resolution) -> MultiCropConfig {
        var m = MultiCropConfig.preset(.dinov2, globalSize: r.globalSize, localSize: r.localSize, localCount: base.localCount)
        m.global.scale = config.crops.globalScale
        m.local.scale = config.crops.localScale
        if config.gram.useLoss, let size = r.gramSize {
            m.gramCrops = MultiCropConfig.GramCrops(size: size, noDistortions: config.gram.teacherNoDistortions)
        }
        config.crops.shared.applyColor(to: &m)
        m.shareColorJitter = config.crops.shareColorJitter
        if config.crops.localcropsSubsetOfGlobalcrops { m.localCropsFromGlobalCrops = model.patchSize }
        return m
    }

    public var maskCollator: MaskCollator { maskCollator(globalSize: resolutions[0].globalSize) }

    /// DINOv3's exact-count masks (data/masking.py, collate.py) for global crops of
    /// `globalSize`, the largest block `max_num_patches` as train.py computes it.
    public func maskCollator(globalSize: Int) -> MaskCollator {
        MaskCollator(gridSize: globalSize / model.patchSize, ratio: config.ibot.maskRatio, probability: config.ibot.maskSampleProbability,
                     variant: .dinov3,
                     maxPatches: BlockMaskGenerator.referenceMaxPatches(cropSize: globalSize, patchSize: model.patchSize),
                     randomCircularShift: config.ibot.maskRandomCircularShift)
    }
}
