// The DAVIS-2017 scores of semi-supervised video object segmentation: per object, the region
// similarity J (IoU) and the boundary F-measure per frame, their mean, recall and decay, and the
// J&F mean.
//
// What it is: davisvideochallenge/davis2017-evaluation (davis2017/metrics.py `db_eval_iou`,
// `f_measure`, `_seg2bmap`; utils.py `db_statistics`; evaluation.py `_evaluate_semisupervised`
// and `evaluate`): objects are the labels 1…n of the first annotation (255 = void, counted as
// background, as the semi-supervised task passes no void mask); the first and last frames are
// left out; boundaries are 1-px maps compared within ⌈0.008 · image diagonal⌉ px (cv2.dilate with
// skimage's disk); J&F = (mean over objects of J-mean + mean over objects of F-mean) / 2.
// What it is not: the unsupervised task (proposal matching) or the temporal metric T.

import Foundation

/// Region similarity: |pred ∩ truth| / |pred ∪ truth|, 1 when both are empty (`db_eval_iou`).
public func davisRegionSimilarity(truth: [Bool], prediction: [Bool]) -> Double {
    precondition(truth.count == prediction.count, "davisRegionSimilarity: \(truth.count) and \(prediction.count) pixels")
    var inter = 0, union = 0
    for i in truth.indices {
        if truth[i] && prediction[i] { inter += 1 }
        if truth[i] || prediction[i] { union += 1 }
    }
    return union == 0 ? 1 : Double(inter) / Double(union)
}

/// The 1-px boundary map of a binary mask (`_seg2bmap` at the mask's own size): a pixel differing
/// from its east, south or south-east neighbour; the last row compares east only, the last column
/// south only, the corner is 0.
func boundaryMap(_ seg: [Bool], width w: Int, height h: Int) -> [Bool] {
    var b = [Bool](repeating: false, count: w * h)
    for y in 0..<h {
        for x in 0..<w {
            let s = seg[y * w + x]
            let e = x + 1 < w ? seg[y * w + x + 1] : false
            let so = y + 1 < h ? seg[(y + 1) * w + x] : false
            let se = x + 1 < w && y + 1 < h ? seg[(y + 1) * w + x + 1] : false
            if y == h - 1 && x == w - 1 { b[y * w + x] = false }
            else if y == h - 1 { b[y * w + x] = s != e }
            else if x == w - 1 { b[y * w + x] = s != so }
            else { b[y * w + x] = (s != e) || (s != so) || (s != se) }
        }
    }
    return b
}

/// Dilation by skimage's `disk(r)` (offsets with dx² + dy² ≤ r²), pixels outside the image ignored
/// (cv2.dilate's default border).
func dilate(_ m: [Bool], width w: Int, height h: Int, radius r: Int) -> [Bool] {
    var offsets: [(Int, Int)] = []
    for dy in -r...r { for dx in -r...r where dx * dx + dy * dy <= r * r { offsets.append((dx, dy)) } }
    var out = [Bool](repeating: false, count: w * h)
    for y in 0..<h {
        for x in 0..<w where m[y * w + x] {
            for (dx, dy) in offsets {
                let (u, v) = (x + dx, y + dy)
                if u >= 0 && u < w && v >= 0 && v < h { out[v * w + u] = true }
            }
        }
    }
    return out
}

/// Boundary F-measure of `prediction` against `truth` (`f_measure`, bound_th = 0.008).
public func davisBoundaryF(truth: [Bool], prediction: [Bool], width: Int, height: Int, boundThreshold: Double = 0.008) -> Double {
    precondition(truth.count == width * height && prediction.count == width * height,
                 "davisBoundaryF: masks of \(truth.count) and \(prediction.count) pixels for \(width)×\(height)")
    let radius = boundThreshold >= 1 ? Int(boundThreshold)
        : Int((boundThreshold * (Double(width * width + height * height)).squareRoot()).rounded(.up))
    let fg = boundaryMap(prediction, width: width, height: height)
    let gt = boundaryMap(truth, width: width, height: height)
    let fgDil = dilate(fg, width: width, height: height, radius: radius)
    let gtDil = dilate(gt, width: width, height: height, radius: radius)
    var nFg = 0, nGt = 0, fgMatch = 0, gtMatch = 0
    for i in fg.indices {
        if fg[i] { nFg += 1; if gtDil[i] { fgMatch += 1 } }
        if gt[i] { nGt += 1; if fgDil[i] { gtMatch += 1 } }
    }
    let precision: Double, recall: Double
    switch (nFg, nGt) {
    case (0, let g) where g > 0: (precision, recall) = (1, 0)
    case (let f, 0) where f > 0: (precision, recall) = (0, 1)
    case (0, 0): (precision, recall) = (1, 1)
    default: (precision, recall) = (Double(fgMatch) / Double(nFg), Double(gtMatch) / Double(nGt))
    }
    return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
}

/// Mean, recall (fraction > 0.5) and decay of per-frame values (`db_statistics`, NaNs skipped).
public func davisStatistics(_ values: [Double]) -> (mean: Double, recall: Double, decay: Double) {
    func nanmean(_ v: ArraySlice<Double>) -> Double {
        let kept = v.filter { !$0.isNaN }
        return kept.isEmpty ? .nan : kept.reduce(0, +) / Double(kept.count)
    }
    let mean = nanmean(values[...])
    // nanmean(values > 0.5): the comparison turns NaN into false, so every frame counts.
    let recall = values.isEmpty ? .nan : Double(values.filter { $0 > 0.5 }.count) / Double(values.count)
    // ids = round(linspace(1, n, 5) + 1e-10) - 1; bins values[ids[i] ... ids[i+1]].
    let n = values.count
    let ids = (0...4).map { k -> Int in
        let x = 1 + Double(k) * Double(n - 1) / 4 + 1e-10
        return Int(x.rounded(.toNearestOrEven)) - 1
    }
    func bin(_ i: Int) -> ArraySlice<Double> {
        let lo = Swift.max(0, ids[i]), hi = Swift.min(n - 1, ids[i + 1])
        return lo <= hi ? values[lo...hi] : []
    }
    return (mean, recall, nanmean(bin(0)) - nanmean(bin(3)))
}

/// Scores of one object of one clip.
public struct DAVISObjectScores: Codable, Sendable, Equatable {
    /// `CLIP_k` for object k (1-based), as the reference names rows.
    public var name: String
    public var jMean: Double, jRecall: Double, jDecay: Double
    public var fMean: Double, fRecall: Double, fDecay: Double

    enum CodingKeys: String, CodingKey {
        case name
        case jMean = "j_mean", jRecall = "j_recall", jDecay = "j_decay", fMean = "f_mean", fRecall = "f_recall", fDecay = "f_decay"
    }
}

/// The global DAVIS scores over objects, in [0, 1] (the reference's `J&F-Mean`, `J-Mean`, …).
public struct DAVISScores: Codable, Sendable {
    public var jAndF: Double
    public var jMean: Double, jRecall: Double, jDecay: Double
    public var fMean: Double, fRecall: Double, fDecay: Double
    public var objects: [DAVISObjectScores]

    enum CodingKeys: String, CodingKey {
        case objects
        case jAndF = "jf_mean", jMean = "j_mean", jRecall = "j_recall", jDecay = "j_decay"
        case fMean = "f_mean", fRecall = "f_recall", fDecay = "f_decay"
    }

    /// Means over objects.
    public init(objects: [DAVISObjectScores]) {
        func mean(_ f: (DAVISObjectScores) -> Double) -> Double { objects.isEmpty ? .nan : objects.map(f).reduce(0, +) / Double(objects.count) }
        self.objects = objects
        jMean = mean(\.jMean); jRecall = mean(\.jRecall); jDecay = mean(\.jDecay)
        fMean = mean(\.fMean); fRecall = mean(\.fRecall); fDecay = mean(\.fDecay)
        jAndF = (jMean + fMean) / 2
    }
}

/// Scores the predicted masks of one clip (semi-supervised task).
///
/// - Parameters:
///   - truth: every frame's annotation (labels 0…n, 255 void), width × height row-major.
///   - prediction: every frame's predicted labels (frame 0 included; it is left out, as the last).
/// - Returns: one entry per object of the first annotation.
public func davisSequenceScores(name: String, truth: [[UInt8]], prediction: [[UInt8]], width: Int, height: Int) -> [DAVISObjectScores] {
    precondition(truth.count == prediction.count, "davisSequenceScores: \(truth.count) annotations and \(prediction.count) predictions for \(name)")
    let cleaned = truth.map { $0.map { $0 == 255 ? 0 : $0 } }
    let objects = Int(cleaned.first?.max() ?? 0)
    let frames = truth.count > 2 ? Array(1..<(truth.count - 1)) : []
    return (0..<objects).map { o in
        let label = UInt8(o + 1)
        var j: [Double] = [], f: [Double] = []
        for t in frames {
            let gt = cleaned[t].map { $0 == label }, pr = prediction[t].map { $0 == label }
            j.append(davisRegionSimilarity(truth: gt, prediction: pr))
            f.append(davisBoundaryF(truth: gt, prediction: pr, width: width, height: height))
        }
        let (jm, jr, jd) = davisStatistics(j), (fm, fr, fd) = davisStatistics(f)
        return DAVISObjectScores(name: "\(name)_\(o + 1)", jMean: jm, jRecall: jr, jDecay: jd, fMean: fm, fRecall: fr, fDecay: fd)
    }
}
