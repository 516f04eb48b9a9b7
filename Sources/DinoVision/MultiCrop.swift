// DINO's multi-crop augmentation: two global views and N local views of each image.
//
//   global 1: RandomResizedCrop(G, global scale, bicubic) → flip → [ColorJitter(0.4, 0.4, 0.2, 0.1)
//             with p 0.8] → grayscale p 0.2 → blur p b₁
//   global 2: the same with blur p b₂, then solarize p 0.2
//   local  i: RandomResizedCrop(L, local scale, bicubic) → flip → jitter → grayscale → blur p b₃
//
// Presets carry the official parameters of each method (see `MultiCropConfig.preset`);
// resolutions are the user's choice (224/96 for ImageNet-like images, 32/16 for 32-px sets).
//
// References: facebookresearch/dino main_dino.py `DataAugmentationDINO` and utils.py;
// facebookresearch/dinov2 dinov2/data/augmentations.py, transforms.py and
// configs/ssl_default_config.yaml; facebookresearch/dinov3 dinov3/data/augmentations.py,
// transforms.py and configs/ssl_default_config.yaml.

import DinoTensor
import Foundation

/// Every parameter of the multi-crop augmentation (defaults: DINOv2's official code at 224/96).
public struct MultiCropConfig: Equatable, Sendable, Codable {
    /// One kind of view: how many, their side in pixels, and the area fraction range of the crop.
    public struct Crops: Equatable, Sendable, Codable {
        public var count: Int
        public var size: Int
        public var scale: [Double]

        public init(count: Int, size: Int, scale: [Double]) {
            self.count = count; self.size = size; self.scale = scale
        }
    }

    /// Colour jitter amounts and the probability of applying it.
    public struct Jitter: Equatable, Sendable, Codable {
        public var probability = 0.8
        public var brightness = 0.4
        public var contrast = 0.4
        public var saturation = 0.2
        public var hue = 0.1
        public init() {}
    }

    /// Blur probabilities of global view 1, global view 2 and local views, σ range and kind.
    public struct Blur: Equatable, Sendable, Codable {
        public var probabilities: [Double]
        public var sigma: [Double] = [0.1, 2.0]
        public var kind: GaussianBlurKind = .torchvision(kernelSize: 9)

        public init(probabilities: [Double], sigma: [Double] = [0.1, 2.0], kind: GaussianBlurKind = .torchvision(kernelSize: 9)) {
            precondition(probabilities.count == 3, "MultiCropConfig.Blur: need 3 probabilities (global 1, global 2, local)")
            self.probabilities = probabilities; self.sigma = sigma; self.kind = kind
        }
    }

    /// The two global views (always 2 in DINO; `count` is kept for symmetry and checked).
    public var global: Crops
    public var local: Crops
    /// Aspect ratio range of the random crops.
    public var ratio: [Double] = [3.0 / 4.0, 4.0 / 3.0]
    public var filter: ResampleFilter = .bicubic
    public var flipProbability: Double = 0.5
    public var jitter = Jitter()
    public var grayscaleProbability: Double = 0.2
    public var blur: Blur
    /// Solarization probability of the second global view.
    public var solarizeProbability: Double = 0.2
    public var normalization: ImageNormalization = .imageNet
    /// DINOv3's Gram teacher crops (`crops.gram_teacher_crops_size`,
    /// `gram_teacher_no_distortions`), or nil for none.
    public var gramCrops: GramCrops? = nil
    /// DINOv3's `share_color_jitter`: colour jitter and grayscale drawn once per image, before
    /// any crop, instead of per view (default false).
    public var shareColorJitter = false
    /// DINOv3's `localcrops_subset_of_globalcrops` with this patch size: half of the local
    /// views are cut from global view 1's crop and half from view 2's (before their
    /// distortions), each after its own colour and blur, at a random whole-patch offset
    /// `randint(0, (G − l) / p) · p` per axis (an exclusive bound, as NumPy's); nil: local views
    /// are cropped from the image (default).
    public var localCropsFromGlobalCrops: Int? = nil

    /// A second, usually larger, rendering of each global view for DINOv3's Gram teacher: the
    /// global crop is cut at max(global, gram) pixels and resized (bicubic) to both sizes —
    /// before the colour and blur distortions when `noDistortions` (the Gram view has none),
    /// after them otherwise (both share them). dinov3/data/augmentations.py.
    public struct GramCrops: Equatable, Sendable, Codable {
        public var size: Int
        public var noDistortions: Bool

        public init(size: Int, noDistortions: Bool) {
            self.size = size
            self.noDistortions = noDistortions
        }
    }

    public init(global: Crops, local: Crops, blur: Blur) {
        self.global = global
        self.local = local
        self.blur = blur
    }

    /// The methods whose official augmentation is available as a preset.
    public enum Method: String, Sendable, CaseIterable, Codable {
        /// DINO v1: global scale (0.4, 1), local (0.05, 0.4); PIL box-approximated blur
        /// p 1.0 / 0.1 / 0.5.
        case dino
        /// DINOv2 as its official code runs: global (0.32, 1), local (0.05, 0.32); its
        /// `GaussianBlur(p)` wraps `RandomApply(p = 1 − p)`, so blur is applied with
        /// probability 0 / 0.9 / 0.5 (torchvision kernel 9).
        case dinov2
        /// DINOv2 as its paper describes it: blur with probability 1.0 / 0.1 / 0.5.
        case dinov2Paper = "dinov2-paper"
        /// DINOv3's official code: DINOv2's pipeline (same 1 − p blur wrapper: 0 / 0.9 / 0.5)
        /// with horizontal flips on (its default config; the ViT-7B run turns them off and
        /// uses 256/112 crops).
        case dinov3
    }

    /// The preset of `method` at the given resolutions.
    ///
    /// - Parameters:
    ///   - globalSize: side of the global views (224 for ImageNet-like images, 32 for 32-px sets).
    ///   - localSize: side of the local views (96, or 16).
    ///   - localCount: number of local views (8 in every official config).
    public static func preset(_ method: Method, globalSize: Int = 224, localSize: Int = 96, localCount: Int = 8) -> MultiCropConfig {
        switch method {
        case .dino:
            return MultiCropConfig(global: Crops(count: 2, size: globalSize, scale: [0.4, 1.0]),
                                   local: Crops(count: localCount, size: localSize, scale: [0.05, 0.4]),
                                   blur: Blur(probabilities: [1.0, 0.1, 0.5], kind: .pil))
        case .dinov2, .dinov3:
            return MultiCropConfig(global: Crops(count: 2, size: globalSize, scale: [0.32, 1.0]),
                                   local: Crops(count: localCount, size: localSize, scale: [0.05, 0.32]),
                                   blur: Blur(probabilities: [0.0, 0.9, 0.5]))
        case .dinov2Paper:
            return MultiCropConfig(global: Crops(count: 2, size: globalSize, scale: [0.32, 1.0]),
                                   local: Crops(count: localCount, size: localSize, scale: [0.05, 0.32]),
                                   blur: Blur(probabilities: [1.0, 0.1, 0.5]))
        }
    }

    /// The shorter side a decoded image needs so that no crop is ever upsampled: decoding a
    /// larger JPEG at reduced scale down to this side changes nothing the crops can resolve.
    /// size / √(min scale · min ratio), the worst case over global and local views.
    public var decodeShorterSide: Int {
        func need(_ c: Crops) -> Double { Double(c.size) / (c.scale[0] * ratio[0]).squareRoot() }
        return Int(max(need(global), local.count > 0 ? need(local) : 0).rounded(.up))
    }
}

/// The views of one image, before normalisation (8-bit RGB).
public struct MultiCropViews: Sendable {
    public var global: [RGBImage]
    public var local: [RGBImage]
    /// The Gram teacher's renderings of the two global views (empty without `gramCrops`).
    public var gram: [RGBImage] = []
}

/// DINO's `DataAugmentationDINO`: one image → 2 global and N local views.
public struct MultiCropAugmentation: Sendable {
    public let config: MultiCropConfig
    let globalGeometry: [any ImageTransform]
    let localGeometry: [any ImageTransform]
    let colour: [any ImageTransform]
    let blurs: [RandomGaussianBlur]
    let solarize: RandomSolarize

    public init(_ config: MultiCropConfig) {
        precondition(config.global.count == 2, "MultiCropAugmentation: DINO uses exactly 2 global views, got \(config.global.count)")
        precondition(config.local.count >= 0, "MultiCropAugmentation: negative local view count")
        if let p = config.localCropsFromGlobalCrops {
            precondition(config.local.count % 2 == 0 && p >= 1 && config.local.size + p <= config.global.size
                         && config.gramCrops.map { $0.size <= config.global.size } ?? true,
                         "MultiCropAugmentation: local views from the global views need an even count, smaller local views and no larger Gram crops")
        }
        self.config = config
        let flip = RandomHorizontalFlip(probability: config.flipProbability)
        globalGeometry = [RandomResizedCrop(size: max(config.global.size, config.gramCrops?.size ?? 0), scale: config.global.scale,
                                            ratio: config.ratio, filter: config.filter), flip]
        localGeometry = [RandomResizedCrop(size: config.local.size, scale: config.local.scale,
                                           ratio: config.ratio, filter: config.filter), flip]
        let j = config.jitter
        colour = [
            RandomApply(ColorJitter(brightness: j.brightness, contrast: j.contrast, saturation: j.saturation, hue: j.hue),
                        probability: j.probability),
            RandomGrayscale(probability: config.grayscaleProbability),
        ]
        blurs = config.blur.probabilities.map {
            RandomGaussianBlur(probability: $0, sigma: config.blur.sigma, kind: config.blur.kind)
        }
        solarize = RandomSolarize(probability: config.solarizeProbability, threshold: 128)
    }

    /// The views of `image`; view k draws from `generator.fork(k)` (global 0, 1, then locals).
    public func callAsFunction(_ image: RGBImage, generator: RandomGenerator) -> MultiCropViews {
        var gramViews: [RGBImage] = []
        var globalBases: [RGBImage] = []
        func resized(_ v: RGBImage, _ size: Int) -> RGBImage {
            v.width == size && v.height == size ? v : v.resized(width: size, height: size, filter: .bicubic)
        }
        var source = image
        if config.shareColorJitter {
            let g = generator.fork(1_000_000)
            for t in colour { source = t.apply(source, g) }
        }
        func view(_ k: Int, geometry: [any ImageTransform], blur: RandomGaussianBlur, solarizing: Bool, gram: Bool = false) -> RGBImage {
            let g = generator.fork(UInt64(k))
            var v = source
            for t in geometry { v = t.apply(v, g) }
            if gram { globalBases.append(v) }
            let gc = gram ? config.gramCrops : nil
            if let gc, gc.noDistortions {
                gramViews.append(resized(v, gc.size))
                v = resized(v, config.global.size)
            }
            if !config.shareColorJitter { for t in colour { v = t.apply(v, g) } }
            v = blur.apply(v, g)
            if solarizing { v = solarize.apply(v, g) }
            if let gc, !gc.noDistortions {
                gramViews.append(resized(v, gc.size))
                v = resized(v, config.global.size)
            }
            return v
        }
        let global = [view(0, geometry: globalGeometry, blur: blurs[0], solarizing: false, gram: true),
                      view(1, geometry: globalGeometry, blur: blurs[1], solarizing: true, gram: true)]
        let local: [RGBImage]
        if let patch = config.localCropsFromGlobalCrops {
            let (gs, ls) = (config.global.size, config.local.size)
            local = (0..<config.local.count).map { k in
                let g = generator.fork(UInt64(2 + k))
                var v = globalBases[k < config.local.count / 2 ? 0 : 1]
                if !config.shareColorJitter { for t in colour { v = t.apply(v, g) } }
                v = blurs[2].apply(v, g)
                let top = g.nextInt((gs - ls) / patch) * patch, left = g.nextInt((gs - ls) / patch) * patch
                return v.cropped(top: top, left: left, height: ls, width: ls)
            }
        } else {
            local = (0..<config.local.count).map {
                view(2 + $0, geometry: localGeometry, blur: blurs[2], solarizing: false)
            }
        }
        return MultiCropViews(global: global, local: local, gram: gramViews)
    }
}
