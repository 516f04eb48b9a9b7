// The depth metrics of the papers, per image and averaged over images.
//
// What it is: dinov3/eval/depth/metrics.py `calculate_depth_metrics` with the evaluation loop's
// handling in dinov3/eval/depth/eval.py: truth outside the open range (min_depth, max_depth) is
// ignored, predictions are clamped to [min_depth, max_depth], every image is scored alone
// (batch size 1) and the scores are averaged with `nanmean`.
// What it is not: the NYU Eigen crop (`eval_mask: NYU_EIGEN`, for 480×640 NYU frames only) and the
// flip test-time augmentation; both are options of the reference's evaluation, not of its metrics.

import Foundation

/// Depth metrics of one image or the mean over images. δ's are fractions (0–1); errors in metres
/// (RMSE, MAE) or unitless (relative, log); SILog is ×100 as in the reference.
public struct DepthMetrics: Codable, Equatable, Sendable {
    /// Fraction of pixels with max(d/d̂, d̂/d) < 1.25, 1.25², 1.25³ (`a1`, `a2`, `a3`).
    public var delta1 = 0.0, delta2 = 0.0, delta3 = 0.0
    /// mean |d − d̂| / d.
    public var absRel = 0.0
    /// mean (d − d̂)² / d.
    public var sqRel = 0.0
    /// √mean (d − d̂)².
    public var rmse = 0.0
    /// √mean (log d − log d̂)².
    public var rmseLog = 0.0
    /// mean |log₁₀ d − log₁₀ d̂|.
    public var log10 = 0.0
    /// 100 · √(mean e² − (mean e)²), e = log d − log d̂ (0 when that is NaN).
    public var silog = 0.0
    /// mean |d − d̂|.
    public var mae = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case delta1 = "a1", delta2 = "a2", delta3 = "a3", absRel = "abs_rel", sqRel = "sq_rel", rmse
        case rmseLog = "rmse_log", log10 = "log_10", silog, mae
    }

    /// The metrics in the reference's order with their names.
    public var named: [(String, Double)] {
        [("a1", delta1), ("a2", delta2), ("a3", delta3), ("abs_rel", absRel), ("rmse", rmse), ("log_10", log10),
         ("rmse_log", rmseLog), ("silog", silog), ("sq_rel", sqRel), ("mae", mae)]
    }

    /// The metrics of one image.
    ///
    /// - Parameters:
    ///   - truth: depths in metres (values ≤ `minDepth`, ≥ `maxDepth` or ≤ 0 are ignored).
    ///   - prediction: depths in metres (clamped to [minDepth, maxDepth]).
    /// - Returns: nil when no pixel is valid.
    public static func of(truth: [Float], prediction: [Float], minDepth: Double = 0.001, maxDepth: Double = 10) -> DepthMetrics? {
        precondition(truth.count == prediction.count, "DepthMetrics: \(truth.count) truth and \(prediction.count) predicted pixels")
        var n = 0.0
        var a1 = 0.0, a2 = 0.0, a3 = 0.0, absRel = 0.0, sqRel = 0.0, sq = 0.0, abs = 0.0
        var sqLog = 0.0, sumLog = 0.0, log10 = 0.0
        for i in truth.indices {
            let g = Double(truth[i])
            guard g > minDepth && g < maxDepth && g > 0 else { continue }
            let p = Swift.min(Swift.max(Double(prediction[i]), minDepth), maxDepth)
            n += 1
            let ratio = Swift.max(g / p, p / g)
            if ratio < 1.25 { a1 += 1 }
            if ratio < 1.25 * 1.25 { a2 += 1 }
            if ratio < 1.25 * 1.25 * 1.25 { a3 += 1 }
            let e = g - p
            abs += Swift.abs(e)
            absRel += Swift.abs(e) / g
            sqRel += e * e / g
            sq += e * e
            let el = Foundation.log(g) - Foundation.log(p)
            sqLog += el * el
            sumLog += el
            log10 += Swift.abs(Foundation.log10(g) - Foundation.log10(p))
        }
        guard n > 0 else { return nil }
        var m = DepthMetrics()
        m.delta1 = a1 / n; m.delta2 = a2 / n; m.delta3 = a3 / n
        m.mae = abs / n; m.absRel = absRel / n; m.sqRel = sqRel / n
        m.rmse = (sq / n).squareRoot()
        m.rmseLog = (sqLog / n).squareRoot()
        let silog = (sqLog / n - (sumLog / n) * (sumLog / n)).squareRoot() * 100
        m.silog = silog.isNaN ? 0 : silog
        m.log10 = log10 / n
        return m
    }

    /// The mean of per-image metrics (images without valid pixels left out, as `nanmean`).
    public static func mean(_ all: [DepthMetrics]) -> DepthMetrics {
        var m = DepthMetrics()
        guard !all.isEmpty else { return m }
        let k = Double(all.count)
        for x in all {
            m.delta1 += x.delta1 / k; m.delta2 += x.delta2 / k; m.delta3 += x.delta3 / k
            m.absRel += x.absRel / k; m.sqRel += x.sqRel / k; m.rmse += x.rmse / k; m.rmseLog += x.rmseLog / k
            m.log10 += x.log10 / k; m.silog += x.silog / k; m.mae += x.mae / k
        }
        return m
    }
}
