// Random image transforms with torchvision's semantics, driven by a seeded RandomGenerator.
//
// Each transform draws its random numbers from the generator it is handed, so a sample's
// augmentation is a pure function of (image, generator state): the loader gives every sample
// a generator derived from (seed, epoch, index), and results never depend on which thread
// or how many threads did the work. The draws follow torchvision's logic (what is drawn and
// how it is used) though not torch's random stream.
//
// References: torchvision transforms/transforms.py (RandomResizedCrop.get_params,
// RandomHorizontalFlip, RandomApply, ColorJitter.get_params/forward, RandomGrayscale,
// GaussianBlur, RandomSolarize); facebookresearch/dino utils.py (GaussianBlur, Solarization).

import DinoTensor
import Foundation

/// Something that maps an image to an image, possibly drawing random numbers.
public protocol ImageTransform: Sendable {
    func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage
}

extension RandomGenerator {
    /// Uniform in [low, high) (Python's `random.uniform`, torch's `uniform_`).
    func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextDouble() }

    /// Uniform integer in the closed range `low...high` (Python's `random.randint`).
    func randint(_ low: Int, _ high: Int) -> Int { low + nextInt(high - low + 1) }
}

/// A crop box in pixels.
public struct CropBox: Equatable, Sendable, Codable {
    public var top: Int, left: Int, height: Int, width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top; self.left = left; self.height = height; self.width = width
    }
}

/// A crop of random area and aspect ratio, resized to `size × size`.
///
/// Area fraction ~ U(scale), log aspect ~ U(log ratio); w = round(√(A·r)), h = round(√(A/r))
/// (Python rounding, halves to even); up to 10 tries for a box that fits, then the fallback:
/// the whole image clamped to the ratio range, centred.
///
/// Reference: torchvision `RandomResizedCrop.get_params`.
public struct RandomResizedCrop: ImageTransform, Equatable, Codable {
    public var size: Int
    public var scale: [Double]
    public var ratio: [Double]
    public var filter: ResampleFilter

    public init(size: Int, scale: [Double] = [0.08, 1], ratio: [Double] = [3.0 / 4.0, 4.0 / 3.0],
                filter: ResampleFilter = .bilinear) {
        precondition(size > 0, "RandomResizedCrop: size must be positive, got \(size)")
        precondition(scale.count == 2 && scale[0] <= scale[1] && scale[0] > 0,
                     "RandomResizedCrop: scale must be [low, high] with 0 < low ≤ high, got \(scale)")
        precondition(ratio.count == 2 && ratio[0] <= ratio[1] && ratio[0] > 0,
                     "RandomResizedCrop: ratio must be [low, high] with 0 < low ≤ high, got \(ratio)")
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.filter = filter
    }

    /// torchvision's `get_params` for an image of `width × height`.
    public static func parameters(width: Int, height: Int, scale: [Double], ratio: [Double],
                                  generator: RandomGenerator) -> CropBox {
        let area = Double(width * height)
        let logRatio = (Foundation.log(ratio[0]), Foundation.log(ratio[1]))
        for _ in 0..<10 {
            let targetArea = area * generator.uniform(scale[0], scale[1])
            let aspect = Foundation.exp(generator.uniform(logRatio.0, logRatio.1))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = generator.randint(0, height - h)
                let left = generator.randint(0, width - w)
                return CropBox(top: top, left: left, height: h, width: w)
            }
        }
        // Fallback to a central crop.
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.min()! {
            h = Int((Double(w) / ratio.min()!).rounded(.toNearestOrEven))
        } else if inRatio > ratio.max()! {
            w = Int((Double(h) * ratio.max()!).rounded(.toNearestOrEven))
        }
        return CropBox(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        let box = RandomResizedCrop.parameters(width: image.width, height: image.height, scale: scale,
                                               ratio: ratio, generator: generator)
        return image.resizedCrop(top: box.top, left: box.left, height: box.height, width: box.width,
                                 outputWidth: size, outputHeight: size, filter: filter)
    }
}

/// Mirrors the image with probability p (torchvision `RandomHorizontalFlip`).
public struct RandomHorizontalFlip: ImageTransform, Equatable, Codable {
    public var probability: Double
    public init(probability: Double = 0.5) { self.probability = probability }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        generator.nextDouble() < probability ? image.flippedHorizontally() : image
    }
}

/// Random brightness, contrast, saturation and hue changes in a random order.
///
/// Factors: brightness, contrast, saturation ~ U[max(0, 1 − v), 1 + v]; hue ~ U[−v, v]
/// (v ≤ 0.5). The four are applied in a uniformly random order; a zero amount skips that
/// adjustment. Reference: torchvision `ColorJitter` (get_params, forward).
public struct ColorJitter: ImageTransform, Equatable, Codable {
    public var brightness: Double
    public var contrast: Double
    public var saturation: Double
    public var hue: Double

    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0,
                     "ColorJitter: amounts must be non-negative, got \(brightness), \(contrast), \(saturation)")
        precondition(hue >= 0 && hue <= 0.5, "ColorJitter: hue amount must be in [0, 0.5], got \(hue)")
        self.brightness = brightness; self.contrast = contrast; self.saturation = saturation; self.hue = hue
    }

    /// The order (a permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue) and factors.
    public func parameters(_ generator: RandomGenerator) -> (order: [Int], factors: [Double?]) {
        let order = generator.permutation(4)
        func factor(_ v: Double) -> Double? { v == 0 ? nil : generator.uniform(max(0, 1 - v), 1 + v) }
        let b = factor(brightness), c = factor(contrast), s = factor(saturation)
        let h: Double? = hue == 0 ? nil : generator.uniform(-hue, hue)
        return (order, [b, c, s, h])
    }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        let (order, factors) = parameters(generator)
        var img = image
        for op in order {
            guard let f = factors[op] else { continue }
            switch op {
            case 0: img = img.adjustingBrightness(f)
            case 1: img = img.adjustingContrast(f)
            case 2: img = img.adjustingSaturation(f)
            default: img = img.adjustingHue(f)
            }
        }
        return img
    }
}

/// Applies `transform` with probability p (torchvision `RandomApply`).
public struct RandomApply<T: ImageTransform>: ImageTransform {
    public var transform: T
    public var probability: Double

    public init(_ transform: T, probability: Double) {
        self.transform = transform
        self.probability = probability
    }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        generator.nextDouble() < probability ? transform.apply(image, generator) : image
    }
}

/// Converts to gray (three equal channels) with probability p (torchvision `RandomGrayscale`).
public struct RandomGrayscale: ImageTransform, Equatable, Codable {
    public var probability: Double
    public init(probability: Double = 0.1) { self.probability = probability }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        generator.nextDouble() < probability ? image.grayscale() : image
    }
}

/// Gaussian blur with σ ~ U[sigma], applied with probability p.
///
/// References: torchvision `GaussianBlur` (σ drawn per call, kernel size fixed) as DINOv2/v3
/// wrap it; DINO v1 `utils.GaussianBlur` (PIL `ImageFilter.GaussianBlur(radius = σ)`).
public struct RandomGaussianBlur: ImageTransform, Equatable, Codable {
    public var probability: Double
    public var sigma: [Double]
    public var kind: GaussianBlurKind

    public init(probability: Double, sigma: [Double] = [0.1, 2.0], kind: GaussianBlurKind = .torchvision(kernelSize: 9)) {
        precondition(sigma.count == 2 && sigma[0] > 0 && sigma[0] <= sigma[1],
                     "RandomGaussianBlur: sigma must be [min, max] with 0 < min ≤ max, got \(sigma)")
        self.probability = probability
        self.sigma = sigma
        self.kind = kind
    }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        guard generator.nextDouble() < probability else { return image }
        return image.gaussianBlurred(sigma: generator.uniform(sigma[0], sigma[1]), kind: kind)
    }
}

/// Inverts values ≥ threshold with probability p (torchvision `RandomSolarize`, DINO `Solarization`).
public struct RandomSolarize: ImageTransform, Equatable, Codable {
    public var probability: Double
    public var threshold: Int

    public init(probability: Double, threshold: Int = 128) {
        self.probability = probability
        self.threshold = threshold
    }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        generator.nextDouble() < probability ? image.solarized(threshold: threshold) : image
    }
}

/// Resizes the shorter side to `size` (torchvision `Resize(int)`), or to exactly `width × height`.
public struct Resize: ImageTransform, Equatable, Codable {
    public var shorterSide: Int?
    public var width: Int?
    public var height: Int?
    public var filter: ResampleFilter

    public init(shorterSide: Int, filter: ResampleFilter = .bilinear) {
        self.shorterSide = shorterSide; self.filter = filter
    }

    public init(width: Int, height: Int, filter: ResampleFilter = .bilinear) {
        self.width = width; self.height = height; self.filter = filter
    }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        if let s = shorterSide { return image.resized(shorterSide: s, filter: filter) }
        return image.resized(width: width!, height: height!, filter: filter)
    }
}

/// The central crop of a fixed size (torchvision `CenterCrop`).
public struct CenterCrop: ImageTransform, Equatable, Codable {
    public var width: Int, height: Int
    public init(size: Int) { width = size; height = size }
    public init(width: Int, height: Int) { self.width = width; self.height = height }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        image.centerCropped(width: width, height: height)
    }
}

/// Transforms applied in sequence (torchvision `Compose`).
public struct Compose: ImageTransform {
    public var transforms: [any ImageTransform]
    public init(_ transforms: [any ImageTransform]) { self.transforms = transforms }

    public func apply(_ image: RGBImage, _ generator: RandomGenerator) -> RGBImage {
        transforms.reduce(image) { $1.apply($0, generator) }
    }
}
