// Resampling of RGB images: a port of PIL's ImagingResample (libImaging/Resample.c).
//
// Separable, two passes (horizontal then vertical, or the reverse when the height shrinks much
// more than the width, as Pillow 13 chooses), each output sample a weighted sum of
// input samples under a filter stretched by the scale factor when shrinking (which is the
// antialiasing: a bicubic shrink by 4 averages over 16 input pixels, not 4). Weights are
// computed once per output column/row in Double, normalised to sum 1, then turned into
// 22-bit fixed point, and sums are rounded and clipped to 8 bits after each pass: the same
// integer arithmetic as PIL, so results equal torchvision-on-PIL output exactly.
//
// Reference: Pillow, src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResampleHorizontal_8bpc / Vertical_8bpc, ImagingResampleInner).

/// Interpolation filters, as PIL defines them.
public enum ResampleFilter: String, Sendable, Codable, CaseIterable {
    /// Triangle filter, support 1 (PIL `BILINEAR`).
    case bilinear
    /// Keys cubic with a = −0.5, support 2 (PIL `BICUBIC`).
    case bicubic
    /// Box filter, support 0.5 (PIL `BOX`).
    case box

    var support: Double {
        switch self {
        case .bilinear: return 1
        case .bicubic: return 2
        case .box: return 0.5
        }
    }

    @inline(__always)
    func weight(_ t: Double) -> Double {
        switch self {
        case .bilinear:
            let x = abs(t)
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            let x = abs(t)
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .box:
            return t > -0.5 && t <= 0.5 ? 1 : 0
        }
    }
}

/// Fixed-point weights of one resampling pass: for output i, taps `start[i] ..< start[i] + count[i]`.
struct ResampleCoefficients {
    static let precisionBits: Int32 = 32 - 8 - 2
    let start: [Int]
    let count: [Int]
    /// `taps` weights per output, zero-padded.
    let weights: [Int32]
    let taps: Int

    /// PIL's `precompute_coeffs` over input `[in0, in1)` of an axis of `inSize`, to `outSize`.
    init(inSize: Int, in0: Double, in1: Double, outSize: Int, filter: ResampleFilter) {
        let scale = (in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        let invFilterScale = 1.0 / filterScale
        let one = Double(Int32(1) << ResampleCoefficients.precisionBits)
        for xx in 0..<outSize {
            let center = in0 + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5)) - xmin
            for x in 0..<max(0, xmax) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * invFilterScale)
                k[x] = w
                ww += w
            }
            for x in 0..<max(0, xmax) {
                let v = ww != 0 ? k[x] / ww : k[x]
                weights[xx * taps + x] = v < 0 ? Int32(-0.5 + v * one) : Int32(0.5 + v * one)
            }
            start[xx] = xmin
            count[xx] = max(0, xmax)
        }
        self.start = start
        self.count = count
        self.weights = weights
        self.taps = taps
    }
}

@inline(__always)
private func clip8(_ v: Int32) -> UInt8 {
    let s = v >> ResampleCoefficients.precisionBits
    return s < 0 ? 0 : s > 255 ? 255 : UInt8(truncatingIfNeeded: s)
}

extension RGBImage {
    /// The image resized to `width × height` (PIL `Image.resize`, torchvision `F.resize` on PIL).
    ///
    /// Shrinking is antialiased: the filter's support grows with the scale factor.
    public func resized(width: Int, height: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        resizedCrop(top: 0, left: 0, height: self.height, width: self.width,
                    outputWidth: width, outputHeight: height, filter: filter)
    }

    /// Crops the box, then resizes it (torchvision `F.resized_crop` on PIL), without copying
    /// the crop: the filter is clipped at the box's edges exactly as if it had been cut out.
    public func resizedCrop(top: Int, left: Int, height cropHeight: Int, width cropWidth: Int,
                            outputWidth: Int, outputHeight: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        precondition(top >= 0 && left >= 0 && cropHeight > 0 && cropWidth > 0
                     && top + cropHeight <= height && left + cropWidth <= width,
                     "resizedCrop: box (top \(top), left \(left), \(cropWidth)×\(cropHeight)) outside a \(width)×\(height) image")
        precondition(outputWidth > 0 && outputHeight > 0, "resizedCrop: output size \(outputWidth)×\(outputHeight)")
        let needHorizontal = outputWidth != cropWidth
        let needVertical = outputHeight != cropHeight
        if !needHorizontal && !needVertical {
            return cropped(top: top, left: left, height: cropHeight, width: cropWidth)
        }
        let vertical = ResampleCoefficients(inSize: cropHeight, in0: 0, in1: Double(cropHeight),
                                            outSize: outputHeight, filter: filter)
        let horizontal = needHorizontal
            ? ResampleCoefficients(inSize: cropWidth, in0: 0, in1: Double(cropWidth), outSize: outputWidth, filter: filter)
            : nil
        // Pillow 13: when the height shrinks by more than twice as many pixels as the width,
        // the vertical pass runs first (fewer rows for the horizontal pass).
        let verticalFirst = cropHeight - outputHeight > 0 && cropHeight - outputHeight > (cropWidth - outputWidth) * 2
        if verticalFirst {
            let columns = resampleColumns(vertical, rowOffset: top, columnOffset: left, width: cropWidth,
                                          outHeight: outputHeight)
            guard let horizontal else { return columns }
            return columns.resampleRows(horizontal, rows: outputHeight, top: 0, left: 0, outWidth: outputWidth)
        }
        guard let horizontal else {
            return resampleColumns(vertical, rowOffset: top, columnOffset: left, width: cropWidth, outHeight: outputHeight)
        }
        if !needVertical {
            return resampleRows(horizontal, rows: outputHeight, top: top, left: left, outWidth: outputWidth)
        }
        // Horizontal pass over the rows the vertical pass reads only.
        let firstRow = vertical.start[0]
        let lastRow = vertical.start[outputHeight - 1] + vertical.count[outputHeight - 1]
        let rows = resampleRows(horizontal, rows: lastRow - firstRow, top: top + firstRow, left: left, outWidth: outputWidth)
        return rows.resampleColumns(vertical, rowOffset: -firstRow, columnOffset: 0, width: outputWidth,
                                    outHeight: outputHeight)
    }

    /// Horizontal pass over `rows` rows from image row `top`, reading columns from `left`.
    private func resampleRows(_ c: ResampleCoefficients, rows: Int, top: Int, left: Int, outWidth: Int) -> RGBImage {
        let taps = c.taps
        let half: Int32 = 1 << (ResampleCoefficients.precisionBits - 1)
        return pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { kk in
                RGBImage(width: outWidth, height: rows) { out in
                    for y in 0..<rows {
                        let line = src.baseAddress! + ((top + y) * width + left) * 3
                        let o = out + y * outWidth * 3
                        for xx in 0..<outWidth {
                            let xmin = c.start[xx], n = c.count[xx]
                            let k = kk.baseAddress! + xx * taps
                            var s0 = half, s1 = half, s2 = half
                            var p = line + xmin * 3
                            for x in 0..<n {
                                let w = k[x]
                                s0 &+= Int32(p[0]) &* w
                                s1 &+= Int32(p[1]) &* w
                                s2 &+= Int32(p[2]) &* w
                                p += 3
                            }
                            o[3 * xx] = clip8(s0); o[3 * xx + 1] = clip8(s1); o[3 * xx + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
    }

    /// Vertical pass: output row yy reads rows `start[yy] + rowOffset …`, columns from `columnOffset`.
    private func resampleColumns(_ c: ResampleCoefficients, rowOffset: Int, columnOffset: Int,
                                 width outWidth: Int, outHeight: Int) -> RGBImage {
        let taps = c.taps
        let half: Int32 = 1 << (ResampleCoefficients.precisionBits - 1)
        let stride = width * 3
        let n3 = outWidth * 3
        return pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { kk in
                RGBImage(width: outWidth, height: outHeight) { out in
                    var acc = [Int32](repeating: 0, count: n3)
                    acc.withUnsafeMutableBufferPointer { a in
                        for yy in 0..<outHeight {
                            let ymin = c.start[yy] + rowOffset, n = c.count[yy]
                            let k = kk.baseAddress! + yy * taps
                            for i in 0..<n3 { a[i] = half }
                            for y in 0..<n {
                                let w = k[y]
                                let row = src.baseAddress! + (ymin + y) * stride + columnOffset * 3
                                for i in 0..<n3 { a[i] &+= Int32(row[i]) &* w }
                            }
                            let o = out + yy * n3
                            for i in 0..<n3 { o[i] = clip8(a[i]) }
                        }
                    }
                }
            }
        }
    }

    /// Resize so the shorter side becomes `size` (torchvision `Resize(int)`): the longer side is
    /// `Int(size · long / short)` (truncated), as torchvision computes it.
    public func resized(shorterSide size: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        let (w, h) = RGBImage.shorterSideTarget(width: width, height: height, size: size)
        return resized(width: w, height: h, filter: filter)
    }

    /// Output size of `Resize(size)` for an image of `width × height` (torchvision `_compute_resized_output_size`).
    public static func shorterSideTarget(width: Int, height: Int, size: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (size, Int(Double(size) * Double(height) / Double(width)))
        }
        return (Int(Double(size) * Double(width) / Double(height)), size)
    }

    /// The central `width × height` region (torchvision `CenterCrop` on PIL; the image must be
    /// at least that large): top = round((H − h) / 2), left = round((W − w) / 2), rounding
    /// halves to even as Python's `round` does.
    public func centerCropped(width w: Int, height h: Int) -> RGBImage {
        precondition(w <= width && h <= height, "centerCropped: \(w)×\(h) larger than the \(width)×\(height) image")
        let top = Int((Double(height - h) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(width - w) / 2).rounded(.toNearestOrEven))
        return cropped(top: top, left: left, height: h, width: w)
    }
}
