// Semi-supervised video object segmentation by label propagation on frozen patch features:
// the first frame's mask is carried to every later frame through patch-to-patch affinities.
//
// What it is: facebookresearch/dino eval_video_segmentation.py exactly, on features given per
// frame (`eval_video_tracking_davis`, `label_propagation`, `restrict_neighborhood`, `norm_mask`,
// `read_seg`):
// - context = the first frame (its true mask, one-hot at the patch grid) + a queue of the 7
//   previous frames' soft predictions (`n_last_frames`);
// - affinity of query patch q of the target frame to source patch k of a context frame:
//   exp(cos(f_q, f_k) / 0.1), zero outside a (2r+1)×(2r+1) window around q's position
//   (`size_mask_neighborhood`);
// - per query, the top 5 affinities over all context frames and positions kept (ties at the 5th
//   value kept too: the reference zeroes `aff < min(top5)`), normalised to sum 1; the soft
//   labels are the weighted sum of the sources' labels;
// - the soft labels upsampled bilinearly by the patch size, each channel min-max normalised
//   (when its maximum is positive), the argmax per pixel, resized to the original frame size with
//   nearest neighbours (PIL's, which samples pixel centres).
// The window: the reference uses r = 12 patches on 480p frames with 16-px patches (a grid 30
// patches tall). On other grids r is scaled to the same fraction of the grid's short side,
// r = round(12 · min(h, w) / 30), unless given (e.g. r = 6 on the 16×16 grid of 64-px frames
// with 4-px patches).
// What it is not: the frame reading and resizing (VideoEvaluation.swift) or the scores
// (DAVISMetrics.swift).

import DinoModels
import DinoNN
import DinoTensor
import Foundation

/// Settings of the label propagation (defaults: DINO's eval_video_segmentation.py).
public struct LabelPropagationConfig: Configuration, Equatable, Sendable {
    /// Previous predictions kept as context (`n_last_frames`, 7).
    public var queueLength = 7
    /// Window radius r in patches (`size_mask_neighborhood`, 12 on a 30-patch-tall grid); nil:
    /// scaled to the grid, round(12 · min(h, w) / 30); 0: no window.
    public var neighborhood: Int? = nil
    /// Neighbours kept per query (`topk`, 5).
    public var topK = 5
    /// Temperature of the affinities (0.1).
    public var temperature = 0.1

    public init() {}

    /// The window radius used on an h × w patch grid.
    public func radius(gridHeight h: Int, gridWidth w: Int) -> Int {
        neighborhood ?? Int((12.0 * Double(Swift.min(h, w)) / 30.0).rounded())
    }

    enum CodingKeys: String, CodingKey {
        case topK = "topk", temperature
        case queueLength = "n_last_frames", neighborhood = "size_mask_neighborhood"
    }
}

/// One-hot labels at the patch grid from an object mask: the mask resized to (gw, gh) with PIL's
/// nearest neighbours (`pilNearest`), C = 1 + its largest label
/// (`read_seg` + `to_one_hot`).
///
/// - Returns: (C, gh·gw) row-major one-hot values and C.
public func patchOneHot(_ labels: [UInt8], width: Int, height: Int, gridWidth gw: Int, gridHeight gh: Int) -> (values: [Float], classes: Int) {
    let small = pilNearest(labels, width: width, height: height, outWidth: gw, outHeight: gh)
    let c = Int(small.max() ?? 0) + 1
    var out = [Float](repeating: 0, count: c * gh * gw)
    for (p, l) in small.enumerated() { out[Int(l) * gh * gw + p] = 1 }
    return (out, c)
}

/// PIL's `Image.resize(..., NEAREST)`: output pixel i reads input pixel ⌊x_i⌋ with
/// x_0 = ½ · in/out and x_{i+1} = x_i + in/out accumulated in double precision, as Pillow's
/// `ImagingScaleAffine` does (the accumulated rounding decides exact ties such as 64 → 96).
public func pilNearest<T>(_ values: [T], width: Int, height: Int, outWidth: Int, outHeight: Int) -> [T] {
    if width == outWidth && height == outHeight { return values }
    func table(_ n: Int, _ m: Int) -> [Int] {
        let a = Double(n) / Double(m)
        var x = a * 0.5
        var out: [Int] = []
        for _ in 0..<m { out.append(Swift.min(Int(x), n - 1)); x += a }
        return out
    }
    let xs = table(width, outWidth), ys = table(height, outHeight)
    var out: [T] = []
    out.reserveCapacity(outWidth * outHeight)
    for sy in ys { for x in xs { out.append(values[sy * width + x]) } }
    return out
}

/// Propagates the first frame's labels through a clip.
///
/// - Parameters:
///   - features: per frame, the patch features (h·w, D) (the backbone's normed last-block patch
///     tokens; normalised to unit length here).
///   - firstLabels: the first frame's one-hot labels at the patch grid, (C, h·w) as `patchOneHot`.
///   - grid: (h, w).
///   - patchSize: the upsampling factor of the soft labels.
///   - outputSize: the original frame size (width, height) of the returned masks.
/// - Returns: the predicted label map of frames 1… (frame 0 is the given mask), each
///   outputHeight × outputWidth row-major.
/// Reference: facebookresearch/dino eval_video_segmentation.py (`eval_video_tracking_davis`).
public func propagateLabels(features: [Tensor], firstLabels: [Float], classes: Int, grid: (height: Int, width: Int),
                            patchSize: Int, outputSize: (width: Int, height: Int),
                            config: LabelPropagationConfig = .init()) -> [[UInt8]] {
    let (h, w) = grid
    let n = h * w
    precondition(firstLabels.count == classes * n, "propagateLabels: \(firstLabels.count) labels for \(classes) classes on \(h)×\(w)")
    precondition(features.allSatisfy { $0.rank == 2 && $0.shape[0] == n }, "propagateLabels: features must be (h·w, D) per frame")
    let r = config.radius(gridHeight: h, gridWidth: w)
    // Window (`restrict_neighborhood`): sources within r rows and r columns of the query.
    let unit = features.map { f -> Tensor in                                     // (n, D), unit rows (F.normalize)
        let x = f.to(.float32).contiguous()
        return x / (x * x).sum(axes: [1], keepDims: true).sqrt().clamp(min: 1e-12)
    }
    var queue: [(frame: Int, labels: [Float])] = []
    var results: [[UInt8]] = []
    let first: (frame: Int, labels: [Float]) = (0, firstLabels)
    for t in 1..<features.count {
        let context = [first] + queue
        let m = context.count
        // Cosine similarities of target patches (rows) to source patches (columns), per context
        // frame: all of them by one product when the window covers much of the grid, else each
        // in-window pair on its own (a 1-px-patch grid would need n² values).
        let windowArea = r > 0 ? (2 * r + 1) * (2 * r + 1) : n
        let dense = 4 * windowArea >= n
        let cosines = dense ? withNoGrad { context.map { unit[t].matmul(unit[$0.frame].transposed(0, 1)).scalars } } : []   // m × (n, n)
        let d = unit[t].shape[1]
        let rowsOf = dense ? [] : unit.map { $0.scalars }
        func cosine(_ ci: Int, _ q: Int, _ k: Int) -> Float {
            if dense { return cosines[ci][q * n + k] }
            let (a, b) = (rowsOf[t], rowsOf[context[ci].frame])
            var s: Float = 0
            for j in 0..<d { s += a[q * d + j] * b[k * d + j] }
            return s
        }
        var soft = [Float](repeating: 0, count: classes * n)                         // (C, n)
        var column = [Float](repeating: 0, count: m * n)                              // one query's affinities
        for q in 0..<n {
            // The sources in q's window (all of them without a window); the others have affinity 0.
            let (qy, qx) = (q / w, q % w)
            let rows = r > 0 ? Swift.max(0, qy - r)...Swift.min(h - 1, qy + r) : 0...(h - 1)
            let cols = r > 0 ? Swift.max(0, qx - r)...Swift.min(w - 1, qx + r) : 0...(w - 1)
            var top = [Float](repeating: 0, count: Swift.min(config.topK, m * n))     // the largest values, descending
            for ci in 0..<m {
                for y in rows {
                    for x in cols {
                        let k = y * w + x
                        let a = Float(Foundation.exp(Double(cosine(ci, q, k)) / config.temperature))
                        column[ci * n + k] = a
                        if a > top[top.count - 1] {
                            var i = top.count - 1
                            while i > 0 && top[i - 1] < a { top[i] = top[i - 1]; i -= 1 }
                            top[i] = a
                        }
                    }
                }
            }
            // Keep values ≥ the k-th largest (`aff[aff < tk_val_min] = 0`), normalise the column.
            let kth = top[top.count - 1]
            var total: Float = 0
            for ci in 0..<m { for y in rows { for x in cols where column[ci * n + y * w + x] >= kth { total += column[ci * n + y * w + x] } } }
            guard total > 0 else { continue }
            for (ci, c) in context.enumerated() {
                for y in rows {
                    for x in cols {
                        let k = y * w + x
                        let v = column[ci * n + k]
                        guard v >= kth && v > 0 else { continue }
                        let a = v / total
                        for l in 0..<classes { soft[l * n + q] += c.labels[l * n + k] * a }
                    }
                }
            }
        }
        if queue.count == config.queueLength { queue.removeFirst() }
        if config.queueLength > 0 { queue.append((t, soft)) }
        results.append(labelsFromSoft(soft, classes: classes, grid: grid, patchSize: patchSize, outputSize: outputSize))
    }
    return results
}

/// Upsampled soft labels → label map: bilinear ×patch size (align_corners=False), per-channel
/// min-max normalisation when the channel's maximum is positive (`norm_mask`; a constant positive
/// channel becomes NaN there, and NaN wins the argmax, as `torch.max` propagates it), argmax, and
/// PIL-nearest resize to the output size.
func labelsFromSoft(_ soft: [Float], classes: Int, grid: (height: Int, width: Int), patchSize: Int,
                    outputSize: (width: Int, height: Int)) -> [UInt8] {
    let (h, w) = grid
    let (uh, uw) = (h * patchSize, w * patchSize)
    let up = withNoGrad {
        resizeBilinear(Tensor(soft, shape: [1, classes, h, w]), height: uh, width: uw).scalars   // (C·uh·uw)
    }
    var normed = up
    let per = uh * uw
    for c in 0..<classes {
        let channel = up[(c * per)..<((c + 1) * per)]
        guard let top = channel.max(), top > 0, let low = channel.min() else { continue }
        let span = top - low
        for i in 0..<per { normed[c * per + i] = (up[c * per + i] - low) / span }   // 0/0 → NaN, as the reference
    }
    var labels = [UInt8](repeating: 0, count: per)
    for i in 0..<per {
        var best = 0
        var bestValue = normed[i]
        for c in 1..<Swift.max(classes, 1) {
            let v = normed[c * per + i]
            if bestValue.isNaN { break }
            if v.isNaN || v > bestValue { best = c; bestValue = v }
        }
        labels[i] = UInt8(best)
    }
    return pilNearest(labels, width: uw, height: uh, outWidth: outputSize.width, outHeight: outputSize.height)
}
