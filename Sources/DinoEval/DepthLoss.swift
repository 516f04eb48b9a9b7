// The training losses of the linear depth probes: the scale-invariant log loss (SigLoss) with
// its warm-up, and the optional multi-scale gradient loss on log depth. Pure functions of the
// prediction and the truth, except SigLoss's warm-up counter, which is the caller's value.
//
// What it is: dinov2/eval/depth/models/losses/sigloss.py (`SigLoss`: ε = 1e-3 inside the logs,
// the unbiased variance, 0.15 · mean², the square root, `warm_up` returning √(0.15 · mean²) for
// the first `warm_iter` calls; dinov3/eval/depth/loss.py is the same function) and
// dinov3/eval/depth/loss.py `GradientLogLoss` (4 scales, strides 1, 2, 4, 6, differences two
// pixels apart, each scale divided by its number of valid pixels).
// What it is not: dinov2's `GradientLoss`, which slices `input[::2i, ::2i]` on the
// (N, 1, H, W) prediction and so strides over the batch and channel axes instead of the image;
// we use DINOv3's corrected `[..., ::2i, ::2i]`, which is what both intend.

import DinoTensor

/// The scale-invariant log loss of Eigen et al., as AdaBins and the DINO depth evaluations use it.
///
///     g  = log(d̂ + ε) − log(d + ε)            over valid pixels (d > 0, and d ≤ max_depth if set)
///     L  = w · √( Var(g) + 0.15 · mean(g)² )   (Var unbiased, ε = 1e-3)
///     L  = w · √( 0.15 · mean(g)² )            during the first `warmUpIterations` calls with `warmUp`
///
/// Reference: dinov2/eval/depth/models/losses/sigloss.py; dinov3/eval/depth/loss.py (`SigLoss`,
/// warm_up=True, warm_iter=100); Eigen et al., "Depth Map Prediction from a Single Image" (2014).
public struct SigLoss: Sendable {
    /// Start with the mean term alone (dinov2's default: false; dinov3's: true).
    public var warmUp: Bool
    /// Calls of the warm-up (100).
    public var warmUpIterations: Int
    /// Calls made so far during the warm-up (the reference's `warm_up_counter`).
    public private(set) var warmUpCounter = 0
    /// Weight w of the loss (dinov2's decode head: 10 by default; dinov3 config-nyu: 1).
    public var weight: Double
    /// Upper bound of valid truth (nil: none).
    public var maxDepth: Double?
    /// ε inside the logarithms (1e-3, "avoid grad explode").
    public static let eps = 1e-3

    public init(warmUp: Bool = false, warmUpIterations: Int = 100, weight: Double = 1, maxDepth: Double? = nil) {
        self.warmUp = warmUp
        self.warmUpIterations = warmUpIterations
        self.weight = weight
        self.maxDepth = maxDepth
    }

    /// The loss of `prediction` against `target` (same shape, metres); counts one warm-up call.
    public mutating func callAsFunction(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape, "SigLoss: prediction \(prediction.shape) and target \(target.shape) differ")
        var valid = target.gt(0)
        if let maxDepth { valid = valid * target.le(maxDepth) }
        let p = prediction.maskedSelect(valid), t = target.maskedSelect(valid)       // (V,)
        let g = (p + SigLoss.eps).log() - (t + SigLoss.eps).log()                     // (V,)
        let meanTerm = g.mean().pow(2) * 0.15
        if warmUp && warmUpCounter < warmUpIterations {
            warmUpCounter += 1
            return meanTerm.sqrt() * weight
        }
        return (g.variance(correction: 1) + meanTerm).sqrt() * weight
    }
}

/// The multi-scale gradient loss on log depth (MegaDepth's, as DINOv3 writes it).
///
///     D = (log(d̂ + ε) − log(d + ε)) ⊙ m                       at strides s ∈ {1, 2, 4, 6}
///     L = Σ_s ( Σ |D[y, x] − D[y+2, x]| m m' + Σ |D[y, x] − D[y, x+2]| m m' ) / Σ m
///
/// - Parameters:
///   - prediction: (N, 1, H, W) metres.
///   - target: (N, 1, H, W) metres.
///   - mask: (N, 1, H, W) 1 where the truth is valid (nil: every pixel).
/// Reference: dinov3/eval/depth/loss.py `GradientLogLoss`; Li & Snavely, "MegaDepth" (2018).
public func gradientLogLoss(_ prediction: Tensor, _ target: Tensor, mask: Tensor? = nil) -> Tensor {
    precondition(prediction.rank == 4 && prediction.shape == target.shape,
                 "gradientLogLoss: prediction \(prediction.shape) and target \(target.shape) must be equal (N, 1, H, W)")
    let m = mask ?? Tensor.ones(target.shape, dtype: target.dtype)
    var total: Tensor? = nil
    for s in [1, 2, 4, 6] {
        func down(_ x: Tensor) -> Tensor { s == 1 ? x : x.slice(axis: 2, start: 0, step: s).slice(axis: 3, start: 0, step: s) }
        let (p, t, k) = (down(prediction), down(target), down(m))
        let count = k.sum()
        let d = ((p + SigLoss.eps).log() - (t + SigLoss.eps).log()) * k               // (N, 1, h, w)
        let (h, w) = (d.shape[2], d.shape[3])
        var term = Tensor.zeros([], dtype: d.dtype)
        if h > 2 {
            let v = (d.slice(axis: 2, start: 0, end: h - 2) - d.slice(axis: 2, start: 2)).abs()
                * k.slice(axis: 2, start: 0, end: h - 2) * k.slice(axis: 2, start: 2)
            term = term + v.sum()
        }
        if w > 2 {
            let hz = (d.slice(axis: 3, start: 0, end: w - 2) - d.slice(axis: 3, start: 2)).abs()
                * k.slice(axis: 3, start: 0, end: w - 2) * k.slice(axis: 3, start: 2)
            term = term + hz.sum()
        }
        let scaled = term / count
        total = total.map { $0 + scaled } ?? scaled
    }
    return total!
}
