// The one image type of the data pipeline: 8-bit RGB, row-major, channels interleaved.
//
// Every decoder produces it and every transform maps it to a new one; the conversion to a
// normalised Float tensor happens once, at the end (`ImageNormalization`). Geometric
// helpers here are exact (crop, flip, transpose): no resampling, no rounding.

import DinoTensor

/// An 8-bit RGB image: `pixels[(y · width + x) · 3 + c]`, c = 0 red, 1 green, 2 blue.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// Interleaved RGB bytes, `height · width · 3` of them (HWC order).
    public var pixels: [UInt8]

    /// Wraps `pixels` (HWC, RGB); their count must be `width · height · 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)×\(height)")
        precondition(pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)×\(height)×3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, red: UInt8 = 0, green: UInt8 = 0, blue: UInt8 = 0) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            p[3 * i] = red; p[3 * i + 1] = green; p[3 * i + 2] = blue
        }
        self.init(width: width, height: height, pixels: p)
    }

    /// Builds an image by writing its bytes through a pointer (`count = width · height · 3`).
    public init(width: Int, height: Int, fill: (UnsafeMutablePointer<UInt8>) throws -> Void) rethrows {
        let n = width * height * 3
        let p = try [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            try fill(buf.baseAddress!)
            count = n
        }
        self.init(width: width, height: height, pixels: p)
    }

    /// Number of pixels.
    public var pixelCount: Int { width * height }

    /// The pixel at (x, y) as (r, g, b).
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let o = (y * width + x) * 3
        return (pixels[o], pixels[o + 1], pixels[o + 2])
    }

    /// The rectangle `[left, left + width) × [top, top + height)`, which must lie inside.
    ///
    /// Reference: PIL `Image.crop` (torchvision `F.crop` on PIL images).
    public func cropped(top: Int, left: Int, height h: Int, width w: Int) -> RGBImage {
        precondition(top >= 0 && left >= 0 && h >= 0 && w >= 0 && top + h <= height && left + w <= width,
                     "cropped: box (top \(top), left \(left), \(w)×\(h)) outside a \(width)×\(height) image")
        if top == 0 && left == 0 && h == height && w == width { return self }
        return pixels.withUnsafeBufferPointer { src in
            RGBImage(width: w, height: h) { dst in
                for y in 0..<h {
                    (dst + y * w * 3).update(from: src.baseAddress! + ((top + y) * width + left) * 3, count: w * 3)
                }
            }
        }
    }

    /// Mirror image: column x goes to column `width − 1 − x`.
    public func flippedHorizontally() -> RGBImage {
        pixels.withUnsafeBufferPointer { src in
            RGBImage(width: width, height: height) { dst in
                for y in 0..<height {
                    let row = src.baseAddress! + y * width * 3, out = dst + y * width * 3
                    for x in 0..<width {
                        let s = row + (width - 1 - x) * 3
                        out[3 * x] = s[0]; out[3 * x + 1] = s[1]; out[3 * x + 2] = s[2]
                    }
                }
            }
        }
    }

    /// Upside down: row y goes to row `height − 1 − y`.
    public func flippedVertically() -> RGBImage {
        pixels.withUnsafeBufferPointer { src in
            RGBImage(width: width, height: height) { dst in
                for y in 0..<height {
                    (dst + y * width * 3).update(from: src.baseAddress! + (height - 1 - y) * width * 3, count: width * 3)
                }
            }
        }
    }

    /// Rows become columns: pixel (x, y) goes to (y, x); the result is `height × width`.
    public func transposed() -> RGBImage {
        pixels.withUnsafeBufferPointer { src in
            RGBImage(width: height, height: width) { dst in
                for y in 0..<height {
                    for x in 0..<width {
                        let s = src.baseAddress! + (y * width + x) * 3, d = dst + (x * height + y) * 3
                        d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
                    }
                }
            }
        }
    }

    /// Rotated by 180°.
    public func rotated180() -> RGBImage { flippedHorizontally().flippedVertically() }

    /// Applies an EXIF orientation tag (1–8) so the result shows the scene upright.
    ///
    /// Reference: EXIF 2.3 tag 0x0112; PIL `ImageOps.exif_transpose`.
    public func applyingEXIFOrientation(_ orientation: Int) -> RGBImage {
        switch orientation {
        case 2: return flippedHorizontally()
        case 3: return rotated180()
        case 4: return flippedVertically()
        case 5: return transposed()                                   // transpose
        case 6: return transposed().flippedHorizontally()             // rotate 90° clockwise
        case 7: return transposed().rotated180()                      // transverse
        case 8: return transposed().flippedVertically()               // rotate 90° counter-clockwise
        default: return self
        }
    }

    /// Pastes `other` with its top-left corner at (x, y), clipped to this image.
    public mutating func paste(_ other: RGBImage, x: Int, y: Int) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + other.width), y1 = min(height, y + other.height)
        guard x0 < x1 && y0 < y1 else { return }
        let w = width
        pixels.withUnsafeMutableBufferPointer { dst in
            other.pixels.withUnsafeBufferPointer { src in
                for yy in y0..<y1 {
                    (dst.baseAddress! + (yy * w + x0) * 3).update(
                        from: src.baseAddress! + ((yy - y) * other.width + (x0 - x)) * 3, count: (x1 - x0) * 3)
                }
            }
        }
    }
}

/// Per-channel normalisation applied when an image becomes a tensor: `(v / 255 − mean) / std`.
///
/// Reference: torchvision `ToTensor` followed by `Normalize(mean, std)`.
public struct ImageNormalization: Equatable, Sendable, Codable {
    public var mean: [Double]
    public var std: [Double]

    /// Three channel means and three positive standard deviations, on the [0, 1] scale.
    public init(mean: [Double], std: [Double]) {
        precondition(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 > 0 },
                     "ImageNormalization: need 3 means and 3 positive stds, got \(mean) and \(std)")
        self.mean = mean
        self.std = std
    }

    /// ImageNet statistics (timm's IMAGENET_DEFAULT_MEAN / _STD), the default of every DINO.
    public static let imageNet = ImageNormalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// `v / 255` only.
    public static let unit = ImageNormalization(mean: [0, 0, 0], std: [1, 1, 1])

    /// Writes the image as CHW floats `(v / 255 − mean[c]) / std[c]` at `out`.
    ///
    /// Float32 arithmetic in torchvision's order: `v / 255` (ToTensor), then `(x − mean) / std`.
    public func write(_ image: RGBImage, to out: UnsafeMutablePointer<Float>) {
        let n = image.pixelCount
        let means = mean.map(Float.init), stds = std.map(Float.init)
        image.pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                // A 256-entry table gives bit-identical values to computing each one.
                var table = [Float](repeating: 0, count: 256)
                for v in 0..<256 { table[v] = (Float(v) / 255 - means[c]) / stds[c] }
                table.withUnsafeBufferPointer { t in
                    let plane = out + c * n
                    for i in 0..<n { plane[i] = t[Int(src[3 * i + c])] }
                }
            }
        }
    }

    /// The image as a `(3, H, W)` Float32 tensor.
    public func tensor(_ image: RGBImage) -> Tensor {
        let t = Tensor(zeros: [3, image.height, image.width])
        write(image, to: t.pointer(Float.self))
        return t
    }

    /// Inverse for display: the byte whose normalised value is nearest `value` in channel `c`.
    public func byte(_ value: Float, channel c: Int) -> UInt8 {
        let v = (Double(value) * std[c] + mean[c]) * 255
        return UInt8(max(0, min(255, v.rounded())))
    }
}
