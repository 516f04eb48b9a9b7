// RandAugment as timm implements it (`rand-m9-mstd0.5-inc1`, the DeiT/BEiT/MAE fine-tuning
// policy), and random erasing: the two augmentations of MAE's fine-tuning besides the
// random-resized crop and flip.
//
// RandAugment: for each image, `n` ops (default 2) chosen uniformly with replacement from the
// policy's list; each applied with probability `p` (0.5) at a magnitude drawn from
// N(m, mstd²) clipped to [0, 10]; signed ops (rotate, shear, translate, the enhancements)
// flip their sign with probability ½. The ops are Pillow's, ported on 8-bit RGB:
// point tables (AutoContrast, Equalize, Invert, Posterize, Solarize, SolarizeAdd), blends
// with a degenerate image (Color, Contrast, Brightness, Sharpness: `Image.blend`, float32,
// truncated) and affine maps sampled with Pillow's transform bicubic (a = −1, rows and
// columns clamped at the edge, outside the image: the fill colour `img_mean`).
//
// What it is not: bit-compatible random draws (timm uses Python's `random` and NumPy's global
// state; these draws come from the sample's `RandomGenerator`, so runs are reproducible and
// resumable). Each op given its level is deterministic and tested against Pillow/timm.
//
// Reference: timm/data/auto_augment.py (`rand_augment_transform`, `AugmentOp`,
// `_RAND_INCREASING_TRANSFORMS`, the `*_level_to_arg` functions), timm/data/random_erasing.py;
// Pillow ImageOps.py, ImageEnhance.py, Image.py (`rotate`, `transform`), libImaging/Geometry.c
// (`affine_transform`, `bicubic_filter32RGB`), Blend.c, Filter.c, Convert.c (`L24`).

import DinoTensor
import Foundation

/// The ops of timm's RandAugment "increasing" list (`inc1`).
public enum RandAugmentOp: String, CaseIterable, Sendable, Codable {
    case autoContrast = "AutoContrast", equalize = "Equalize", invert = "Invert", rotate = "Rotate"
    case posterizeIncreasing = "PosterizeIncreasing", solarizeIncreasing = "SolarizeIncreasing"
    case solarizeAdd = "SolarizeAdd", colorIncreasing = "ColorIncreasing", contrastIncreasing = "ContrastIncreasing"
    case brightnessIncreasing = "BrightnessIncreasing", sharpnessIncreasing = "SharpnessIncreasing"
    case shearX = "ShearX", shearY = "ShearY", translateXRel = "TranslateXRel", translateYRel = "TranslateYRel"

    /// Whether the level's sign is drawn (`_randomly_negate`).
    public var isSigned: Bool {
        switch self {
        case .rotate, .colorIncreasing, .contrastIncreasing, .brightnessIncreasing, .sharpnessIncreasing,
             .shearX, .shearY, .translateXRel, .translateYRel: return true
        default: return false
        }
    }

    /// The op's argument at magnitude `m` ∈ [0, 10] (timm's `*_level_to_arg`, with `negate`
    /// standing for `_randomly_negate` choosing the minus sign); nil for ops without one.
    public func argument(magnitude m: Double, negate: Bool, translatePercent: Double = 0.45) -> Double? {
        let s = negate ? -1.0 : 1.0
        switch self {
        case .autoContrast, .equalize, .invert: return nil
        case .rotate: return s * (m / 10) * 30
        case .posterizeIncreasing: return Double(4 - Int((m / 10) * 4))
        case .solarizeIncreasing: return Double(256 - Int((m / 10) * 256))
        case .solarizeAdd: return Double(Swift.min(128, Int((m / 10) * 110)))
        case .colorIncreasing, .contrastIncreasing, .brightnessIncreasing, .sharpnessIncreasing:
            return Swift.max(0.1, 1 + s * (m / 10) * 0.9)
        case .shearX, .shearY: return s * (m / 10) * 0.3
        case .translateXRel, .translateYRel: return s * (m / 10) * translatePercent
        }
    }

    /// Applies the op with its argument (from `argument(magnitude:negate:)`); `fill` is the
    /// colour of pixels mapped from outside the image by the affine ops.
    public func apply(_ image: RGBImage, argument a: Double?, fill: (UInt8, UInt8, UInt8)) -> RGBImage {
        switch self {
        case .autoContrast: return PillowOps.autoContrast(image)
        case .equalize: return PillowOps.equalize(image)
        case .invert: return PillowOps.point(image) { 255 - $0 }
        case .posterizeIncreasing:
            let bits = Int(a!)
            if bits >= 8 { return image }
            let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - bits)) - 1))
            return PillowOps.point(image) { $0 & mask }
        case .solarizeIncreasing:
            let t = Int(a!)
            return PillowOps.point(image) { Int($0) < t ? $0 : 255 - $0 }
        case .solarizeAdd:
            let add = Int(a!)
            return PillowOps.point(image) { Int($0) < 128 ? UInt8(Swift.min(255, Int($0) + add)) : $0 }
        case .colorIncreasing: return PillowOps.blend(PillowOps.grayscaleRGB(image), image, alpha: Float(a!))
        case .contrastIncreasing:
            let mean = PillowOps.grayMean(image)
            return PillowOps.blend(RGBImage(width: image.width, height: image.height, red: mean, green: mean, blue: mean),
                                   image, alpha: Float(a!))
        case .brightnessIncreasing:
            return PillowOps.blend(RGBImage(width: image.width, height: image.height), image, alpha: Float(a!))
        case .sharpnessIncreasing: return PillowOps.blend(PillowOps.smooth(image), image, alpha: Float(a!))
        case .rotate: return PillowOps.rotate(image, degrees: a!, fill: fill)
        case .shearX: return PillowOps.affine(image, [1, a!, 0, 0, 1, 0], fill: fill)
        case .shearY: return PillowOps.affine(image, [1, 0, 0, a!, 1, 0], fill: fill)
        case .translateXRel: return PillowOps.affine(image, [1, 0, a! * Double(image.width), 0, 1, 0], fill: fill)
        case .translateYRel: return PillowOps.affine(image, [1, 0, 0, 0, 1, a! * Double(image.height)], fill: fill)
        }
    }
}

/// Why a RandAugment policy string cannot be read.
public struct RandAugmentPolicyError: Error, CustomStringConvertible {
    public let description: String
}

/// A RandAugment policy: `rand-m9-mstd0.5-inc1` and the other timm sections `n`, `p`.
public struct RandAugmentPolicy: Equatable, Sendable, ImageTransform {
    /// Magnitude m (timm default 10).
    public var magnitude = 10.0
    /// Ops per image (timm: 2).
    public var layers = 2
    /// Probability of applying each chosen op (timm: 0.5).
    public var probability = 0.5
    /// Standard deviation of the magnitude noise (`mstd`; 0 for none).
    public var magnitudeStd = 0.0
    /// The op list (only `inc1`, the increasing list, is supported).
    public var ops = RandAugmentOp.allCases
    /// Fill colour of the affine ops: timm's `img_mean`, `round(255 · ImageNet mean)`.
    public var fill: (UInt8, UInt8, UInt8) = (124, 116, 104)

    public static func == (a: Self, b: Self) -> Bool {
        a.magnitude == b.magnitude && a.layers == b.layers && a.probability == b.probability
            && a.magnitudeStd == b.magnitudeStd && a.ops == b.ops && a.fill == b.fill
    }

    /// Parses timm's policy string (`rand-m9-mstd0.5-inc1`: magnitude 9, std 0.5, the
    /// increasing ops). Sections: `m` (int), `n` (int), `p` (float), `mstd` (float), `inc` (must
    /// be 1: timm's non-increasing list is not ported).
    ///
    /// - Throws: `RandAugmentPolicyError` naming the bad section.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "-").map(String.init)
        guard parts.first == "rand" else {
            throw RandAugmentPolicyError(description: "RandAugment policy '\(text)' must start with 'rand-' (e.g. rand-m9-mstd0.5-inc1)")
        }
        var increasing = false
        for part in parts.dropFirst() {
            guard let i = part.firstIndex(where: { $0.isNumber }) else {
                throw RandAugmentPolicyError(description: "RandAugment policy '\(text)': section '\(part)' has no value")
            }
            let key = String(part[..<i]), value = String(part[i...])
            switch (key, Double(value)) {
            case ("m", let v?) where v == v.rounded(): magnitude = v
            case ("n", let v?) where v >= 1 && v == v.rounded(): layers = Int(v)
            case ("p", let v?) where (0...1).contains(v): probability = v
            case ("mstd", let v?) where v >= 0 && v <= 100: magnitudeStd = v
            case ("inc", let v?): increasing = v != 0
            default:
                throw RandAugmentPolicyError(description: "RandAugment policy '\(text)': unsupported section '\(part)' (m<int>, n<int>, p<float>, mstd<float ≤ 100>, inc1)")
            }
        }
        guard increasing else {
            throw RandAugmentPolicyError(description: "RandAugment policy '\(text)': only the increasing op list (inc1) is implemented")
        }
    }

    /// `n` ops with replacement, each with probability `p` at magnitude N(m, mstd²) in [0, 10].
    public func apply(_ image: RGBImage, _ g: RandomGenerator) -> RGBImage {
        var out = image
        for _ in 0..<layers {
            let op = ops[g.nextInt(ops.count)]
            // timm: `if random.random() > prob: return img`
            if probability < 1 && g.nextDouble() > probability { continue }
            var m = magnitude
            if magnitudeStd > 0 { m = magnitude + magnitudeStd * g.standardNormal() }
            m = Swift.max(0, Swift.min(m, 10))
            let negate = op.isSigned ? g.nextDouble() > 0.5 : false
            out = op.apply(out, argument: op.argument(magnitude: m, negate: negate), fill: fill)
        }
        return out
    }
}

extension RandomGenerator {
    /// One N(0, 1) sample (Box–Muller from two uniforms).
    func standardNormal() -> Double {
        let u1 = Swift.max(nextDouble(), .leastNonzeroMagnitude), u2 = nextDouble()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}

/// Random erasing on a normalised image (3, H, W): with probability p, one box of area
/// U(0.02, 1/3)·H·W and aspect exp(U(log 0.3, log(1/0.3))) (10 tries to fit), filled with
/// per-pixel N(0, 1) values (`mode='pixel'`).
///
/// Reference: timm/data/random_erasing.py `RandomErasing._erase` (count 1); Zhong et al.,
/// "Random Erasing Data Augmentation" (2020).
public struct RandomErasing: Equatable, Sendable {
    public var probability: Double
    public var minArea = 0.02, maxArea = 1.0 / 3, minAspect = 0.3

    public init(probability: Double) { self.probability = probability }

    /// The box (top, left, height, width) for an image of `height × width`, or nil (not
    /// erased, or no box fitted in 10 tries).
    public func box(height: Int, width: Int, _ g: RandomGenerator) -> CropBox? {
        if g.nextDouble() > probability { return nil }
        let area = Double(height * width)
        let (lo, hi) = (Foundation.log(minAspect), Foundation.log(1 / minAspect))
        for _ in 0..<10 {
            let target = (minArea + (maxArea - minArea) * g.nextDouble()) * area
            let aspect = Foundation.exp(lo + (hi - lo) * g.nextDouble())
            let h = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w < width && h < height {
                // random.randint is inclusive of both ends.
                let top = g.nextInt(height - h + 1), left = g.nextInt(width - w + 1)
                return CropBox(top: top, left: left, height: h, width: w)
            }
        }
        return nil
    }

    /// Erases in place a (C, H, W) float buffer.
    public func apply(_ pixels: inout [Float], channels: Int, height: Int, width: Int, _ g: RandomGenerator) {
        guard let b = box(height: height, width: width, g) else { return }
        let noise = g.normal([channels, b.height, b.width]).scalars
        var k = 0
        for c in 0..<channels {
            for y in b.top..<(b.top + b.height) {
                for x in b.left..<(b.left + b.width) {
                    pixels[(c * height + y) * width + x] = noise[k]
                    k += 1
                }
            }
        }
    }
}

// MARK: - Pillow's ops on 8-bit RGB

/// Pillow's image operations used by RandAugment, ported on `RGBImage`.
public enum PillowOps {
    /// Applies a per-value table to every channel (`Image.point`).
    public static func point(_ image: RGBImage, _ f: (UInt8) -> UInt8) -> RGBImage {
        let lut = (0..<256).map { f(UInt8($0)) }
        return RGBImage(width: image.width, height: image.height, pixels: image.pixels.map { lut[Int($0)] })
    }

    /// Applies one table per channel.
    static func point(_ image: RGBImage, luts: [[UInt8]]) -> RGBImage {
        var px = image.pixels
        for i in 0..<px.count { px[i] = luts[i % 3][Int(px[i])] }
        return RGBImage(width: image.width, height: image.height, pixels: px)
    }

    static func histograms(_ image: RGBImage) -> [[Int]] {
        var h = [[Int]](repeating: [Int](repeating: 0, count: 256), count: 3)
        for (i, v) in image.pixels.enumerated() { h[i % 3][Int(v)] += 1 }
        return h
    }

    /// `ImageOps.autocontrast(img)` (cutoff 0): each channel stretched from its lowest to its
    /// highest value, `int(v · 255/(hi − lo) − lo · 255/(hi − lo))` clipped to [0, 255].
    public static func autoContrast(_ image: RGBImage) -> RGBImage {
        let luts = histograms(image).map { h -> [UInt8] in
            guard let lo = h.firstIndex(where: { $0 > 0 }), let hi = h.lastIndex(where: { $0 > 0 }), hi > lo else {
                return (0..<256).map { UInt8($0) }
            }
            let scale = 255.0 / Double(hi - lo), offset = -Double(lo) * scale
            return (0..<256).map { UInt8(Swift.max(0, Swift.min(255, Int(Double($0) * scale + offset)))) }
        }
        return point(image, luts: luts)
    }

    /// `ImageOps.equalize(img)`: per channel, `step = (Σ h − h_last) // 256`,
    /// `lut[i] = (step // 2 + Σ_{j<i} h[j]) // step` (identity when a channel has one value).
    public static func equalize(_ image: RGBImage) -> RGBImage {
        let luts = histograms(image).map { h -> [UInt8] in
            let nonzero = h.filter { $0 > 0 }
            guard nonzero.count > 1 else { return (0..<256).map { UInt8($0) } }
            let step = (nonzero.reduce(0, +) - nonzero.last!) / 256
            guard step > 0 else { return (0..<256).map { UInt8($0) } }
            var n = step / 2
            var lut = [UInt8]()
            for i in 0..<256 {
                lut.append(UInt8(Swift.min(255, n / step)))
                n += h[i]
            }
            return lut
        }
        return point(image, luts: luts)
    }

    /// Pillow's `L` of a pixel: `(299 R + 587 G + 114 B) / 1000` in 16-bit fixed point (Convert.c `L24`).
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let r24: Int = Int(r) * 19595, g24: Int = Int(g) * 38470, b24: Int = Int(b) * 7471
        return UInt8((r24 + g24 + b24 + 0x8000) >> 16)
    }

    /// `img.convert("L").convert("RGB")`.
    public static func grayscaleRGB(_ image: RGBImage) -> RGBImage {
        var px = image.pixels
        for i in stride(from: 0, to: px.count, by: 3) {
            let l = luma(px[i], px[i + 1], px[i + 2])
            px[i] = l; px[i + 1] = l; px[i + 2] = l
        }
        return RGBImage(width: image.width, height: image.height, pixels: px)
    }

    /// `int(ImageStat.Stat(img.convert("L")).mean[0] + 0.5)` (ImageEnhance.Contrast).
    static func grayMean(_ image: RGBImage) -> UInt8 {
        var sum = 0
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            sum += Int(luma(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]))
        }
        return UInt8(Swift.min(255, Int(Double(sum) / Double(image.pixelCount) + 0.5)))
    }

    /// `Image.blend(a, b, alpha)`: `a + alpha (b − a)` in float32, truncated (clipped to
    /// [0, 255] when extrapolating, alpha outside [0, 1]) (Blend.c).
    public static func blend(_ a: RGBImage, _ b: RGBImage, alpha: Float) -> RGBImage {
        var px = a.pixels
        for i in 0..<px.count {
            let t = Float(Int(a.pixels[i])) + alpha * Float(Int(b.pixels[i]) - Int(a.pixels[i]))
            px[i] = t <= 0 ? 0 : t >= 255 ? 255 : UInt8(t)
        }
        return RGBImage(width: a.width, height: a.height, pixels: px)
    }

    /// `img.filter(ImageFilter.SMOOTH)`: the 3×3 kernel [1 1 1; 1 5 1; 1 1 1] / 13, the
    /// border rows and columns copied unchanged (Filter.c `ImagingFilter3x3`, rounded by +0.5).
    public static func smooth(_ image: RGBImage) -> RGBImage {
        let (w, h) = (image.width, image.height)
        var px = image.pixels
        guard w >= 3 && h >= 3 else { return image }
        let kernel: [Float] = [1, 1, 1, 1, 5, 1, 1, 1, 1].map { $0 / 13 }
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                for c in 0..<3 {
                    var s: Float = 0
                    var k = 0
                    for dy in -1...1 {
                        for dx in -1...1 {
                            s += Float(image.pixels[((y + dy) * w + x + dx) * 3 + c]) * kernel[k]
                            k += 1
                        }
                    }
                    s += 0.5
                    px[(y * w + x) * 3 + c] = s <= 0 ? 0 : s >= 255 ? 255 : UInt8(s)
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// `img.rotate(degrees, resample=BICUBIC, fillcolor=fill)`: the inverse affine map about the
    /// centre (w/2, h/2), matrix entries rounded to 15 decimals as Pillow does.
    public static func rotate(_ image: RGBImage, degrees: Double, fill: (UInt8, UInt8, UInt8)) -> RGBImage {
        // Python's `angle % 360.0` (non-negative).
        var angle: Double = degrees.truncatingRemainder(dividingBy: 360)
        if angle < 0 { angle += 360 }
        if angle == 0 { return image }
        if angle == 180 { return image.rotated180() }
        let (w, h) = (Double(image.width), Double(image.height))
        let r = -angle * Double.pi / 180
        func round15(_ v: Double) -> Double { (v * 1e15).rounded(.toNearestOrEven) / 1e15 }
        let cosR: Double = round15(Foundation.cos(r)), sinR: Double = round15(Foundation.sin(r))
        let minusSinR: Double = round15(-Foundation.sin(r))
        var m: [Double] = [cosR, sinR, 0, minusSinR, cosR, 0]
        let (cx, cy) = (w / 2, h / 2)
        m[2] = m[0] * -cx + m[1] * -cy + m[2]
        m[5] = m[3] * -cx + m[4] * -cy + m[5]
        m[2] += cx
        m[5] += cy
        return affine(image, m, fill: fill)
    }

    /// `img.transform(size, AFFINE, (a, b, c, d, e, f), BICUBIC, fillcolor=fill)`: output
    /// pixel (x, y) samples the input at `(a(x+½) + b(y+½) + c, d(x+½) + e(y+½) + f)` with
    /// Pillow's transform bicubic (a = −1); samples outside the image keep the fill colour.
    public static func affine(_ image: RGBImage, _ m: [Double], fill: (UInt8, UInt8, UInt8)) -> RGBImage {
        let (w, h) = (image.width, image.height)
        var out = RGBImage(width: w, height: h, red: fill.0, green: fill.1, blue: fill.2)
        let src = image.pixels
        @inline(__always) func cubic(_ v1: Double, _ v2: Double, _ v3: Double, _ v4: Double, _ d: Double) -> Double {
            let p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4
            return p1 + d * (p2 + d * (p3 + d * p4))
        }
        @inline(__always) func clipX(_ x: Int) -> Int { x < 0 ? 0 : x < w ? x : w - 1 }
        for y in 0..<h {
            for x in 0..<w {
                let xo = Double(x) + 0.5, yo = Double(y) + 0.5
                var xin = m[0] * xo + m[1] * yo + m[2]
                var yin = m[3] * xo + m[4] * yo + m[5]
                if xin < 0 || xin >= Double(w) || yin < 0 || yin >= Double(h) { continue }
                xin -= 0.5
                yin -= 0.5
                var xi = Int(Foundation.floor(xin)), yi = Int(Foundation.floor(yin))
                let dx = xin - Double(xi), dy = yin - Double(yi)
                xi -= 1
                yi -= 1
                let cols = [clipX(xi), clipX(xi + 1), clipX(xi + 2), clipX(xi + 3)]
                for c in 0..<3 {
                    func row(_ r: Int) -> Double {
                        cubic(Double(src[(r * w + cols[0]) * 3 + c]), Double(src[(r * w + cols[1]) * 3 + c]),
                              Double(src[(r * w + cols[2]) * 3 + c]), Double(src[(r * w + cols[3]) * 3 + c]), dx)
                    }
                    let v1 = row(yi < 0 ? 0 : yi < h ? yi : h - 1)
                    let v2 = yi + 1 >= 0 && yi + 1 < h ? row(yi + 1) : v1
                    let v3 = yi + 2 >= 0 && yi + 2 < h ? row(yi + 2) : v2
                    let v4 = yi + 3 >= 0 && yi + 3 < h ? row(yi + 3) : v3
                    let v = cubic(v1, v2, v3, v4, dy)
                    out.pixels[(y * w + x) * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : UInt8(v)
                }
            }
        }
        return out
    }
}
