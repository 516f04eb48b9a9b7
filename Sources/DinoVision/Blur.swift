// Gaussian blur in the two forms the DINO family uses.
//
// torchvision's `GaussianBlur(kernel_size, sigma)` (DINOv2, DINOv3): a sampled Gaussian,
// k = exp(−x² / 2σ²) / Σ at x = −(K−1)/2 … (K−1)/2, applied with reflect padding in Float32
// and rounded to bytes. torchvision convolves with the 2-D outer product; here the same
// kernel is applied separably (rows, then columns), equal up to Float32 rounding (at most one
// grey level). With kernel size nil, K comes from σ: K = 2·⌈3σ⌉ + 1 (PIL/OpenCV's rule).
//
// PIL's `ImageFilter.GaussianBlur(radius = σ)` (DINO v1): three passes of an extended box
// blur whose fractional radius matches σ (Gwosdek et al., SSVM 2011), in PIL's 24-bit fixed
// point. The support grows with σ, as in a Gaussian kernel sized from σ.
//
// References: torchvision transforms/_functional_tensor.py (_get_gaussian_kernel1d,
// gaussian_blur); Pillow src/libImaging/BoxBlur.c (ImagingGaussianBlur, ImagingLineBoxBlur32).

import Foundation

/// Which Gaussian blur implementation to use.
public enum GaussianBlurKind: Sendable, Equatable, Codable {
    /// torchvision's sampled kernel of the given odd size (nil: 2·⌈3σ⌉ + 1).
    case torchvision(kernelSize: Int?)
    /// PIL's three-pass extended box blur (`ImageFilter.GaussianBlur`), as DINO v1 uses.
    case pil
}

extension RGBImage {
    /// Gaussian blur of standard deviation `sigma` in pixels.
    public func gaussianBlurred(sigma: Double, kind: GaussianBlurKind = .torchvision(kernelSize: 9)) -> RGBImage {
        precondition(sigma > 0, "gaussianBlurred: sigma must be positive, got \(sigma)")
        switch kind {
        case .torchvision(let size):
            let k = size ?? 2 * Int((3 * sigma).rounded(.up)) + 1
            precondition(k > 0 && k % 2 == 1, "gaussianBlurred: kernel size \(k) must be odd and positive")
            return separableBlur(RGBImage.gaussianKernel(size: k, sigma: sigma))
        case .pil:
            return boxBlurredPIL(radius: RGBImage.pilGaussianBoxRadius(Float(sigma), passes: 3), passes: 3)
        }
    }

    /// torchvision's `_get_gaussian_kernel1d` in Float32.
    static func gaussianKernel(size: Int, sigma: Double) -> [Float] {
        let half = Float(size - 1) * 0.5
        // torch.linspace(−half, half, steps): start + i·step for the first half, end − (n−1−i)·step after.
        let step = size > 1 ? (half - -half) / Float(size - 1) : 0
        var x = [Float](repeating: 0, count: size)
        for i in 0..<size {
            x[i] = i < size / 2 ? -half + step * Float(i) : half - step * Float(size - 1 - i)
        }
        let s = Float(sigma)
        let pdf = x.map { v -> Float in
            let t = v / s
            return Foundation.exp(-0.5 * (t * t))
        }
        let total = pdf.reduce(0, +)
        return pdf.map { $0 / total }
    }

    /// Reflect-padded separable convolution with `kernel`, rounded to bytes at the end.
    func separableBlur(_ kernel: [Float]) -> RGBImage {
        let r = kernel.count / 2
        let (w, h) = (width, height)
        @inline(__always) func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            var j = i
            let period = 2 * (n - 1)
            j %= period
            if j < 0 { j += period }
            return j < n ? j : period - j
        }
        var tmp = [Float](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            kernel.withUnsafeBufferPointer { k in
                tmp.withUnsafeMutableBufferPointer { t in
                    // Rows; interior columns without index arithmetic.
                    var cols = [Int](repeating: 0, count: w + 2 * r)
                    for i in 0..<(w + 2 * r) { cols[i] = reflect(i - r, w) * 3 }
                    for y in 0..<h {
                        let row = src.baseAddress! + y * w * 3, out = t.baseAddress! + y * w * 3
                        for x in 0..<w {
                            var a0: Float = 0, a1: Float = 0, a2: Float = 0
                            for j in 0..<kernel.count {
                                let p = row + cols[x + j]
                                let kv = k[j]
                                a0 += kv * Float(p[0]); a1 += kv * Float(p[1]); a2 += kv * Float(p[2])
                            }
                            out[3 * x] = a0; out[3 * x + 1] = a1; out[3 * x + 2] = a2
                        }
                    }
                }
            }
        }
        return tmp.withUnsafeBufferPointer { t in
            kernel.withUnsafeBufferPointer { k in
                RGBImage(width: w, height: h) { out in
                    var acc = [Float](repeating: 0, count: w * 3)
                    acc.withUnsafeMutableBufferPointer { a in
                        for y in 0..<h {
                            for i in 0..<(w * 3) { a[i] = 0 }
                            for j in 0..<kernel.count {
                                let row = t.baseAddress! + reflect(y + j - r, h) * w * 3
                                let kv = k[j]
                                for i in 0..<(w * 3) { a[i] += kv * row[i] }
                            }
                            let o = out + y * w * 3
                            for i in 0..<(w * 3) {
                                let v = a[i].rounded(.toNearestOrEven)
                                o[i] = v <= 0 ? 0 : v >= 255 ? 255 : UInt8(v)
                            }
                        }
                    }
                }
            }
        }
    }

    /// PIL's `_gaussian_blur_radius`: the fractional box radius whose `passes`-fold box blur
    /// has variance σ², with PIL's Float32/Float64 mix.
    static func pilGaussianBoxRadius(_ radius: Float, passes: Int) -> Float {
        let sigma2 = radius * radius / Float(passes)
        let L = Float((12.0 * Double(sigma2) + 1.0).squareRoot())
        let l = Float(((Double(L) - 1.0) / 2.0).rounded(.down))
        var a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2)
        a /= 6 * (sigma2 - (l + 1) * (l + 1))
        return l + a
    }

    /// PIL's `ImagingBoxBlur` with the same fractional radius along both axes.
    func boxBlurredPIL(radius: Float, passes: Int) -> RGBImage {
        if radius == 0 { return self }
        var img = self
        for _ in 0..<passes { img = img.horizontalBoxBlurPIL(radius) }
        var t = img.transposed()
        for _ in 0..<passes { t = t.horizontalBoxBlurPIL(radius) }
        return t.transposed()
    }

    /// One pass of PIL's `ImagingHorizontalBoxBlur` / `ImagingLineBoxBlur32` on every row.
    func horizontalBoxBlurPIL(_ floatRadius: Float) -> RGBImage {
        let radius = Int(floatRadius)
        let ww = UInt32(Float(1 << 24) / (floatRadius * 2 + 1))
        let fw = (UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* ww) / 2
        let w = width
        let lastx = w - 1
        let edgeA = min(radius + 1, w)
        let edgeB = max(w - radius - 1, 0)
        return pixels.withUnsafeBufferPointer { src in
            RGBImage(width: w, height: height) { out in
                for y in 0..<height {
                    let line = src.baseAddress! + y * w * 3, o = out + y * w * 3
                    for c in 0..<3 {
                        @inline(__always) func at(_ x: Int) -> UInt32 { UInt32(line[3 * x + c]) }
                        var acc = at(0) &* UInt32(radius + 1)
                        for x in stride(from: 0, to: edgeA - 1, by: 1) { acc &+= at(x) }
                        acc &+= at(lastx) &* UInt32(truncatingIfNeeded: radius - edgeA + 1)
                        @inline(__always) func step(_ x: Int, _ sub: Int, _ add: Int, _ left: Int, _ right: Int) {
                            acc = acc &+ at(add) &- at(sub)
                            let bulk = acc &* ww &+ (at(left) &+ at(right)) &* fw
                            o[3 * x + c] = UInt8(truncatingIfNeeded: (bulk &+ (1 << 23)) >> 24)
                        }
                        if edgeA <= edgeB {
                            for x in 0..<edgeA { step(x, 0, x + radius, 0, x + radius + 1) }
                            for x in edgeA..<edgeB { step(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1) }
                            for x in stride(from: edgeB, through: lastx, by: 1) { step(x, x - radius - 1, lastx, x - radius - 1, lastx) }
                        } else {
                            for x in 0..<edgeB { step(x, 0, x + radius, 0, x + radius + 1) }
                            for x in edgeB..<edgeA { step(x, 0, lastx, 0, lastx) }
                            for x in stride(from: edgeA, through: lastx, by: 1) { step(x, x - radius - 1, lastx, x - radius - 1, lastx) }
                        }
                    }
                }
            }
        }
    }
}
