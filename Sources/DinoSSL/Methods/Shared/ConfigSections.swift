// Config sections that several methods share (JSON/YAML keys in snake_case, each field with
// the reference's value): the projection head, the multi-crop views and the data loader. DINO
// names them `head`, `crops`, `data`; DINOv2 and distillation use them under `dino.head`,
// `ibot.head`, `crops` and `data` (with their own defaults where their references differ).

import DinoModels
import DinoVision

/// The projection head (`DINOHead`).
public struct HeadConfig: Codable, Equatable, Sendable {
    /// K, number of prototypes (reference `out_dim`: 65 536); nil: auto (1024 below 20 000
    /// images, rising with the data set size to 65 536 from 500 000).
    public var prototypes: Int? = nil
    /// Hidden width of the MLP (reference: 2048).
    public var hiddenDimensions = 2048
    /// Bottleneck width before the last layer (reference: 256).
    public var bottleneckDimensions = 256
    /// Linear layers in the MLP (reference: 3).
    public var layers = 3
    /// Fix the weight-normalised last layer's scale at 1 (reference `norm_last_layer`: true);
    /// only for `last_layer: weight_norm`.
    public var normLastLayer = true
    /// The last layer: `weight_norm` (DINO, DINOv2; the default) or `linear`, a plain linear
    /// map with trunc-normal(0.02) initialisation (DINOv3 dinov3/layers/dino_head.py).
    public var lastLayer: DINOHead.LastLayerKind = .weightNormalized
    /// Epochs during which the last layer is not updated (reference `freeze_last_layer`: 1);
    /// nil: auto (1, at most 10 % of the run; fractions are counted in steps).
    public var freezeLastLayerEpochs: Double? = nil

    public init() {}
    enum CodingKeys: String, CodingKey {
        case prototypes, layers
        case hiddenDimensions = "hidden_dimensions", bottleneckDimensions = "bottleneck_dimensions"
        case normLastLayer = "norm_last_layer", freezeLastLayerEpochs = "freeze_last_layer_epochs"
        case lastLayer = "last_layer"
    }
}

/// Multi-crop views (`DataAugmentationDINO`).
public struct CropsConfig: Codable, Equatable, Sendable {
    /// Side of the 2 global views in pixels (reference: 224); nil: the model's input size, at
    /// most 224 (a `dinov2_*` preset's 518 is its inference size, not its training crop).
    public var globalSize: Int? = nil
    /// Side of the local views (reference: 96); nil: 3/7 of the global size, rounded up to
    /// whole patches.
    public var localSize: Int? = nil
    /// Number of local views (reference `local_crops_number`: 8); nil: 8, or 6 for global
    /// views under 96 px.
    public var localCount: Int? = nil
    /// Area range of the global crops (reference `global_crops_scale`: 0.4–1).
    public var globalScale = [0.4, 1.0]
    /// Area range of the local crops (reference `local_crops_scale`: 0.05–0.4).
    public var localScale = [0.05, 0.4]
    /// Colour distortions of every view; nil: the reference's (`ColorJitter(0.4, 0.4, 0.2, 0.1)`
    /// with probability 0.8, grayscale 0.2, solarization of global view 2 0.2). On images
    /// whose colours are random per image and kept by every view (glyphs-dev-wild), colour
    /// is a shortcut that matches two views without their content; stronger hue jitter or
    /// grayscale takes it away.
    public var colorJitterProbability: Double? = nil
    public var brightness: Double? = nil
    public var contrast: Double? = nil
    public var saturation: Double? = nil
    public var hue: Double? = nil
    public var grayscaleProbability: Double? = nil
    public var solarizeProbability: Double? = nil
    /// Range of the Gaussian blur's σ in pixels of the view; nil: the reference's 0.1–2.
    public var blurSigma: [Double]? = nil

    public init() {}
    enum CodingKeys: String, CodingKey {
        case globalSize = "global_size", localSize = "local_size", localCount = "local_count"
        case globalScale = "global_scale", localScale = "local_scale"
        case colorJitterProbability = "color_jitter_probability", brightness, contrast, saturation, hue
        case grayscaleProbability = "grayscale_probability", solarizeProbability = "solarize_probability"
        case blurSigma = "blur_sigma"
    }

    /// Sets the colour distortions given here on `m`, leaving the preset's others.
    public func applyColor(to m: inout MultiCropConfig) {
        if let colorJitterProbability { m.jitter.probability = colorJitterProbability }
        if let brightness { m.jitter.brightness = brightness }
        if let contrast { m.jitter.contrast = contrast }
        if let saturation { m.jitter.saturation = saturation }
        if let hue { m.jitter.hue = hue }
        if let grayscaleProbability { m.grayscaleProbability = grayscaleProbability }
        if let solarizeProbability { m.solarizeProbability = solarizeProbability }
        if let blurSigma { m.blur.sigma = blurSigma }
    }
}

/// The data loader.
public struct DataLoadingConfig: Codable, Equatable, Sendable {
    /// Decoding and augmentation threads (reference `num_workers`: 10 per GPU); nil: half
    /// the cores, at least 1.
    public var workers: Int? = nil
    /// Batches prepared ahead of training.
    public var prefetchBatches = 2

    public init() {}
    enum CodingKeys: String, CodingKey { case workers, prefetchBatches = "prefetch_batches" }
}

extension DINOHead {
    /// A head shaped by `config` on features of width `inputDimensions` (random weights:
    /// call `initializeWeights`).
    public convenience init(config h: HeadConfig, inputDimensions: Int, prototypes: Int) {
        self.init(inputDimensions: inputDimensions, prototypes: prototypes, hiddenDimensions: h.hiddenDimensions,
                  bottleneckDimensions: h.bottleneckDimensions, layers: h.layers, normLastLayer: h.normLastLayer,
                  lastLayerKind: h.lastLayer)
    }
}
