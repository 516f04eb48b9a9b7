// The automatic values of a multi-crop self-distillation run (DINO, DINOv2, distillation):
// what depends on the data set size, the run length and the model, decided by one set of
// rules. The rules (with the reference's values at ImageNet size and LightlyTrain's for small
// data) are listed at the top of Methods/DINO/DINOConfig.swift; DINOv2 uses them for the
// fields it leaves automatic.

import DinoModels
import DinoNN
import Foundation

/// Every automatic value of a run, decided for one data set.
public struct AutomaticSettings: Equatable, Sendable {
    /// What decides them: the fields of a method config that may be nil ("auto") and those
    /// the rules read.
    public struct Inputs: Equatable, Sendable {
        public var model: String
        public var dropPathRate: Double
        public var layerScaleInit: Double?
        public var epochs: Int
        public var batchSize: Int
        /// Steps per epoch; nil: one pass over the data (DINOv2's `epoch_length`).
        public var epochLength: Int? = nil
        public var prototypes: Int?
        public var freezeLastLayerEpochs: Double?
        public var warmupEpochs: Double?
        public var teacherMomentum: Double?
        public var teacherTemperature: Double?
        public var teacherWarmupTemperature: Double?
        public var teacherWarmupTemperatureEpochs: Int?
        public var crops: CropsConfig
        public var data: DataLoadingConfig
        /// `auto`, or `reference`: the official values whatever the data and run.
        public var recipe = Recipe.auto
        /// KoLeo's weight; nil: auto (0.1 up to 20 000 images, falling to 0 at ImageNet size).
        public var koleoLossWeight: Double? = nil
        /// The reference's teacher momentum, reached at ImageNet size (DINO 0.996, DINOv2 0.992).
        public var referenceTeacherMomentum = 0.996
        /// Whether `model` may name a ConvNeXt preset (distillation's students only); its
        /// geometry then stands in for a ViT's (`VisionTransformerConfig.convNeXtGeometry`).
        public var allowsConvNeXt = false
    }

    /// The student's architecture: the preset with the run's stochastic depth and LayerScale.
    public var model: VisionTransformerConfig
    public var prototypes: Int
    public var globalSize: Int
    public var localSize: Int
    public var localCount: Int
    public var epochs: Int
    /// Steps per epoch: ⌊images / batch⌋ (the reference drops the last partial batch), or
    /// `epoch_length`.
    public var stepsPerEpoch: Int
    public var totalSteps: Int { epochs * stepsPerEpoch }
    /// Learning-rate warm-up, in steps.
    public var warmupSteps: Int
    /// Teacher-temperature warm-up, in steps (a whole number of epochs when `perEpoch`).
    public var teacherTemperatureWarmupSteps: Int
    /// The temperature changes once per epoch, as the reference (an explicit
    /// `warmup_temperature_epochs`, or the reference's 30 epochs in runs of 100 or more);
    /// shorter automatic warm-ups ramp every step.
    public var teacherTemperaturePerEpoch: Bool
    /// Steps during which the last layer is frozen.
    public var freezeLastLayerSteps: Int
    /// Teacher momentum at the start of its cosine.
    public var teacherMomentum: Double
    /// τ_t after and at the start of its warm-up.
    public var teacherTemperature: Double
    public var teacherWarmupTemperature: Double
    /// Weight of KoLeo on the student's class tokens (0: none).
    public var koleoLossWeight: Double
    /// Loader threads.
    public var workers: Int
    /// The data set size the scaled values were computed for (ImageNet's with
    /// `recipe=reference`: `scalingImages`).
    public var scalingImages: Int

        /// Images up to which the small-data values apply (prototypes, teacher temperature, momentum).
        public static let largeDatasetImages = 20_000

        /// The reference's global crop side (DINO, DINOv2, DINOv3); the automatic crop size never
        /// exceeds it, whatever the preset's inference size.
        public static let referenceGlobalCropSize = 224

        /// Images in ImageNet-1k's training set, where the reference values apply.
        public static let imageNetImages = 1_281_167

        /// The data set size the scaled values are computed for: the real one, or ImageNet's for
        /// `recipe=reference`.
        public static func scalingImages(_ datasetSize: Int, _ recipe: Recipe) -> Int {
            recipe == .reference ? imageNetImages : datasetSize
        }

        /// The fraction of the way from the small-data values (≤ 20 000 images: 0) to the
        /// reference's (ImageNet size: 1), linear in the data set size.
        public static func scalingFraction(_ images: Int) -> Double {
            Swift.min(Swift.max(Double(images - largeDatasetImages) / Double(imageNetImages - largeDatasetImages), 0), 1)
        }

        /// Prototypes for a data set of `images` (LightlyTrain's buckets; 65 536 is the reference's).
        public static func automaticPrototypes(_ images: Int) -> Int {
            for (below, k) in [(20_000, 1024), (50_000, 2048), (100_000, 4096), (200_000, 16_384), (500_000, 32_768)]
            where images < below { return k }
            return 65_536
        }

        /// `start` at ≤ 20 000 images, `end` at ImageNet size, linear in between, rounded to
        /// `digits` decimals (LightlyTrain's `_scaling.interpolate` over the data set size).
        public static func scaled(_ images: Int, start: Double, end: Double, digits: Int) -> Double {
            let t = scalingFraction(images)
            let scale = Foundation.pow(10, Double(digits))
            return ((start + t * (end - start)) * scale).rounded() / scale
        }

    /// Decides every automatic value for a data set of `datasetSize` images.
    ///
    /// - Throws: `ConfigError` for an unknown model, crop sizes that are not whole patches, or
    ///   a data set smaller than one batch.
    public static func resolve(_ i: Inputs, datasetSize: Int) throws -> AutomaticSettings {
        var model: VisionTransformerConfig
        if let convNeXt = ConvNeXtPresets.all[i.model] {
            guard i.allowsConvNeXt else {
                throw ConfigError.invalidValue(path: "model", message: "\(i.model) is a ConvNeXt; only distillation (method distill) trains ConvNeXt students")
            }
            model = .convNeXtGeometry(convNeXt)
        } else {
            do { model = try ModelPresets.config(named: i.model) } catch let e as PresetError {
                throw ConfigError.invalidValue(path: "model", message: e.description)
            }
        }
        guard datasetSize >= i.batchSize else {
            throw ConfigError.invalidValue(path: "batch_size", message: "\(i.batchSize) is larger than the data set (\(datasetSize) images); lower it")
        }
        model.dropPathRate = i.dropPathRate
        if let ls = i.layerScaleInit, model.layerScaleInit != nil { model.layerScaleInit = ls }
        let patch = model.patchSize
        let global = i.crops.globalSize ?? Swift.min(model.imageSize, AutomaticSettings.referenceGlobalCropSize)
        let local = i.crops.localSize ?? Int((Double(global) * 3 / 7 / Double(patch)).rounded(.up)) * patch
        for (key, size) in [("crops.global_size", global), ("crops.local_size", local)] where size % patch != 0 {
            throw ConfigError.invalidValue(path: key, message: "\(size) px is not a whole number of \(patch)-px patches")
        }
        let steps = i.epochLength ?? datasetSize / i.batchSize
        let total = i.epochs * steps
        let reference = i.recipe == .reference
        let images = scalingImages(datasetSize, i.recipe)
        let warmup = i.warmupEpochs.map { Int(($0 * Double(steps)).rounded()) }
            ?? (reference ? 10 * steps : Swift.min(10 * steps, Int((0.1 * Double(total)).rounded(.down))))
        let temperatureWarmup: (steps: Int, perEpoch: Bool)
        if let e = i.teacherWarmupTemperatureEpochs {
            temperatureWarmup = (Swift.min(e, i.epochs) * steps, true)
        } else if reference || 30 * 10 <= i.epochs * 3 {
            temperatureWarmup = (Swift.min(30, i.epochs) * steps, true)
        } else {
            temperatureWarmup = (Int((0.3 * Double(total)).rounded(.down)), false)
        }
        let freeze = i.freezeLastLayerEpochs.map { Int(($0 * Double(steps)).rounded()) }
            ?? (reference ? steps : Swift.min(steps, Int((0.1 * Double(total)).rounded(.down))))
        let temperature = i.teacherTemperature ?? AutomaticSettings.scaled(images, start: 0.02, end: 0.07, digits: 2)
        let warmupTemperature = i.teacherWarmupTemperature
            ?? Swift.min(temperature, ((0.02 + (temperature - 0.02) * 0.4) * 100).rounded() / 100)
        return AutomaticSettings(
            model: model, prototypes: i.prototypes ?? automaticPrototypes(images),
            globalSize: global, localSize: local, localCount: i.crops.localCount ?? (global < 96 && !reference ? 6 : 8),
            epochs: i.epochs, stepsPerEpoch: steps, warmupSteps: Swift.min(warmup, total),
            teacherTemperatureWarmupSteps: temperatureWarmup.steps, teacherTemperaturePerEpoch: temperatureWarmup.perEpoch,
            freezeLastLayerSteps: Swift.min(freeze, total),
            teacherMomentum: i.teacherMomentum ?? scaled(images, start: 0.99, end: i.referenceTeacherMomentum, digits: 3),
            teacherTemperature: temperature, teacherWarmupTemperature: warmupTemperature,
            koleoLossWeight: i.koleoLossWeight ?? scaled(images, start: 0.1, end: 0, digits: 3),
            workers: i.data.workers ?? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2),
            scalingImages: images)
    }
}

extension CropsConfig {
    /// Checks the sizes, count and scales, naming the key (`crops.…`) of the first bad one.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: "crops." + key, message: message) }
        }
        try check(globalSize.map { $0 >= 1 } ?? true, "global_size", "must be positive")
        try check(localSize.map { $0 >= 1 } ?? true, "local_size", "must be positive")
        try check(localCount.map { $0 >= 0 } ?? true, "local_count", "must be non-negative")
        for (key, s) in [("global_scale", globalScale), ("local_scale", localScale)] {
            try check(s.count == 2 && s[0] > 0 && s[0] <= s[1] && s[1] <= 1, key, "\(s) must be [low, high] with 0 < low ≤ high ≤ 1")
        }
        for (key, p) in [("color_jitter_probability", colorJitterProbability), ("grayscale_probability", grayscaleProbability),
                         ("solarize_probability", solarizeProbability)] {
            try check(p.map { $0 >= 0 && $0 <= 1 } ?? true, key, "must be a probability in [0, 1]")
        }
        for (key, f) in [("brightness", brightness), ("contrast", contrast), ("saturation", saturation)] {
            try check(f.map { $0 >= 0 } ?? true, key, "must be non-negative (a factor drawn from [max(0, 1 − x), 1 + x])")
        }
        try check(hue.map { $0 >= 0 && $0 <= 0.5 } ?? true, "hue", "must be in [0, 0.5] (torchvision's ColorJitter)")
        try check(blurSigma.map { $0.count == 2 && $0[0] > 0 && $0[0] <= $0[1] } ?? true, "blur_sigma",
                  "must be [low, high] pixels with 0 < low ≤ high")
    }
}

extension DataLoadingConfig {
    /// Checks the loader settings, naming the key (`data.…`) of the first bad one.
    public func validate() throws {
        if !(workers.map { $0 >= 0 } ?? true) { throw ConfigError.invalidValue(path: "data.workers", message: "must be non-negative") }
        if prefetchBatches < 1 { throw ConfigError.invalidValue(path: "data.prefetch_batches", message: "must be at least 1") }
    }
}

extension AutomaticSettings {
    /// Stochastic depth for a student of `depth` blocks (DINOv2 and DINOv3): 0.1 up to 12
    /// (DINO's ViT-S/B), rising linearly to 0.3 at 24 (DINOv2's ViT-L) and 0.4 at 40 (ViT-g),
    /// then constant (`DINOv2Config.automaticDropPath`).
    public static func dropPath(depth: Int) -> Double {
        let d = Double(depth)
        let rate = d <= 12 ? 0.1 : d <= 24 ? 0.1 + (d - 12) / 12 * 0.2 : Swift.min(0.4, 0.3 + (d - 24) / 16 * 0.1)
        return (rate * 1000).rounded() / 1000
    }

    /// LayerScale's initial γ for a model of `depth` blocks (DINOv2 and DINOv3): 1 up to 12
    /// blocks, the references' 1e-5 beyond (`DINOv2Config.automaticLayerScale` says why).
    public static func layerScale(depth: Int) -> Double {
        depth <= 12 ? 1 : 1e-5
    }
}

extension VisionTransformerConfig {
    /// What the automatic values read from a model (input size, the stride of its tokens,
    /// width, depth), for a ConvNeXt student: its image size, stride 32 as the patch size, the
    /// last stage's width, its total number of blocks, no mask token and no LayerScale to decide.
    /// Never built as a ViT: distillation builds the ConvNeXt itself (`DistillationStudent`).
    static func convNeXtGeometry(_ c: ConvNeXtConfig) -> VisionTransformerConfig {
        var v = VisionTransformerConfig()
        v.imageSize = c.imageSize
        v.patchSize = c.stride
        v.inChannels = c.inChannels
        v.embedDimensions = c.dims[3]
        v.depth = c.depths.reduce(0, +)
        v.numHeads = 1
        v.maskToken = false
        v.layerScaleInit = nil
        v.learnedPosition = nil
        return v
    }
}
