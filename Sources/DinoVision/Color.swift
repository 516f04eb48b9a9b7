// Colour operations with the exact arithmetic of PIL, as torchvision applies them to PIL images.
//
// brightness, contrast and saturation are `Image.blend(degenerate, image, factor)`
// (ImageEnhance): out = d + factor · (v − d) in Float32, truncated to a byte, clipped when the
// factor is outside [0, 1]. The degenerate image is black (brightness), the mean luma
// (contrast) or the luma itself (saturation). Hue goes through PIL's 8-bit HSV.
//
// References: Pillow src/PIL/ImageEnhance.py, src/libImaging/Blend.c (ImagingBlend),
// src/libImaging/Convert.c (L24, rgb2hsv_row, hsv2rgb); torchvision
// transforms/_functional_pil.py (adjust_brightness/contrast/saturation/hue, to_grayscale).

import Foundation

extension RGBImage {
    /// ITU-R 601-2 luma in PIL's fixed point: `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16`.
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (Int(r) * 19595 + Int(g) * 38470 + Int(b) * 7471 + 0x8000) >> 16)
    }

    /// One byte of PIL's `ImagingBlend(degenerate, image, alpha)`.
    @inline(__always)
    static func blend(_ d: Int, _ v: Int, _ alpha: Float) -> UInt8 {
        let t = Float(d) + alpha * Float(v - d)
        if alpha >= 0 && alpha <= 1 { return UInt8(t) }
        if t <= 0 { return 0 }
        if t >= 255 { return 255 }
        return UInt8(t)
    }

    /// Multiplies every value by `factor`: PIL `ImageEnhance.Brightness` (torchvision `adjust_brightness`).
    public func adjustingBrightness(_ factor: Double) -> RGBImage {
        let alpha = Float(factor)
        if alpha == 1 { return self }
        var table = [UInt8](repeating: 0, count: 256)
        for v in 0..<256 { table[v] = alpha == 0 ? 0 : RGBImage.blend(0, v, alpha) }
        return mapped(table)
    }

    /// Blends with the mean luma: PIL `ImageEnhance.Contrast` (torchvision `adjust_contrast`).
    ///
    /// mean = Int(Σ luma / (W·H) + 0.5); out = mean + factor · (v − mean).
    public func adjustingContrast(_ factor: Double) -> RGBImage {
        var sum = 0
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<pixelCount { sum += Int(RGBImage.luma(p[3 * i], p[3 * i + 1], p[3 * i + 2])) }
        }
        let mean = Int(Double(sum) / Double(max(1, pixelCount)) + 0.5)
        let alpha = Float(factor)
        if alpha == 1 { return self }
        var table = [UInt8](repeating: 0, count: 256)
        for v in 0..<256 { table[v] = alpha == 0 ? UInt8(mean) : RGBImage.blend(mean, v, alpha) }
        return mapped(table)
    }

    /// Blends with the gray version: PIL `ImageEnhance.Color` (torchvision `adjust_saturation`).
    public func adjustingSaturation(_ factor: Double) -> RGBImage {
        let alpha = Float(factor)
        if alpha == 1 { return self }
        return pixels.withUnsafeBufferPointer { src in
            RGBImage(width: width, height: height) { out in
                for i in 0..<pixelCount {
                    let r = src[3 * i], g = src[3 * i + 1], b = src[3 * i + 2]
                    let l = Int(RGBImage.luma(r, g, b))
                    if alpha == 0 {
                        out[3 * i] = UInt8(l); out[3 * i + 1] = UInt8(l); out[3 * i + 2] = UInt8(l)
                    } else {
                        out[3 * i] = RGBImage.blend(l, Int(r), alpha)
                        out[3 * i + 1] = RGBImage.blend(l, Int(g), alpha)
                        out[3 * i + 2] = RGBImage.blend(l, Int(b), alpha)
                    }
                }
            }
        }
    }

    /// Rotates hue by `factor` of a turn, factor ∈ [−0.5, 0.5] (torchvision `adjust_hue` on PIL):
    /// RGB → 8-bit HSV, H += UInt8(truncating: Int32(factor · 255)) modulo 256, → RGB.
    public func adjustingHue(_ factor: Double) -> RGBImage {
        precondition(factor >= -0.5 && factor <= 0.5, "adjustingHue: factor \(factor) outside [-0.5, 0.5]")
        let shift = UInt8(truncatingIfNeeded: Int32(factor * 255))
        return pixels.withUnsafeBufferPointer { src in
            RGBImage(width: width, height: height) { out in
                for i in 0..<pixelCount {
                    let (h, s, v) = RGBImage.rgbToHSV(src[3 * i], src[3 * i + 1], src[3 * i + 2])
                    let (r, g, b) = RGBImage.hsvToRGB(h &+ shift, s, v)
                    out[3 * i] = r; out[3 * i + 1] = g; out[3 * i + 2] = b
                }
            }
        }
    }

    /// PIL's `rgb2hsv_row`, with its mix of Float32 and Float64 arithmetic kept.
    static func rgbToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, max(g, b)), minc = min(r, min(g, b))
        if minc == maxc { return (0, 0, maxc) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr
        let gc = Float(maxc - g) / cr
        let bc = Float(maxc - b) / cr
        var h: Float
        if r == maxc {
            h = bc - gc
        } else if g == maxc {
            h = Float(2.0 + Double(rc) - Double(bc))
        } else {
            h = Float(4.0 + Double(gc) - Double(rc))
        }
        h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
        let uh = UInt8(clamping: Int(Double(h) * 255.0))
        let us = UInt8(clamping: Int(Double(s) * 255.0))
        return (uh, us, maxc)
    }

    /// PIL's `hsv2rgb`.
    static func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let hh = Double(Float(h)) * 6.0 / 255.0
        let i = Int(hh.rounded(.down))
        let f = Float(hh - Double(Float(i)))
        let fs = Float(Double(Float(s)) / 255.0)
        let vd = Double(Float(v))
        let p = UInt8(clamping: Int((vd * (1.0 - Double(fs))).rounded(.toNearestOrAwayFromZero)))
        let q = UInt8(clamping: Int((vd * (1.0 - Double(fs * f))).rounded(.toNearestOrAwayFromZero)))
        let t = UInt8(clamping: Int((vd * (1.0 - Double(fs) * (1.0 - Double(f)))).rounded(.toNearestOrAwayFromZero)))
        switch i % 6 {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// Luma replicated in three channels (torchvision `rgb_to_grayscale(num_output_channels=3)` on PIL).
    public func grayscale() -> RGBImage {
        pixels.withUnsafeBufferPointer { src in
            RGBImage(width: width, height: height) { out in
                for i in 0..<pixelCount {
                    let l = RGBImage.luma(src[3 * i], src[3 * i + 1], src[3 * i + 2])
                    out[3 * i] = l; out[3 * i + 1] = l; out[3 * i + 2] = l
                }
            }
        }
    }

    /// Inverts every value at or above `threshold`: v ≥ t → 255 − v (PIL `ImageOps.solarize`).
    public func solarized(threshold: Int = 128) -> RGBImage {
        var table = [UInt8](repeating: 0, count: 256)
        for v in 0..<256 { table[v] = v < threshold ? UInt8(v) : UInt8(255 - v) }
        return mapped(table)
    }

    /// Applies a 256-entry lookup table to every byte.
    public func mapped(_ table: [UInt8]) -> RGBImage {
        precondition(table.count == 256, "mapped: lookup table of \(table.count) entries, not 256")
        return pixels.withUnsafeBufferPointer { src in
            table.withUnsafeBufferPointer { t in
                RGBImage(width: width, height: height) { out in
                    for i in 0..<src.count { out[i] = t[Int(src[i])] }
                }
            }
        }
    }
}
