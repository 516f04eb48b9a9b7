// Fused element updates of optimisers (ATen's `_fused_adamw_` counterpart): one pass over a
// parameter and its state instead of one per arithmetic step.

import CDinoKernels

extension FusedKernels {
    /// One AdamW update of Float32 `param`, `expAvg`, `expAvgSq` in place from `grad` (all
    /// contiguous, of one size), in torch.optim.AdamW's operation order and with its roundings:
    /// `p ← p·decay` (when `decay` is given), `m ← m + w(g − m)` fused, `v ← β₂v + ((1 − β₂)g)g`
    /// fused, `p ← p + (−stepSize·m) / (√v / bc₂ + ε)`. Vectorised (AVX-512, AVX2+FMA or the
    /// baseline, all giving the same bits) and split across `Threads.count` threads.
    public static func adamWUpdate(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, decay: Float?,
                                   lerpWeight: Float, beta2: Float, oneMinusBeta2: Float, negativeStepSize: Float,
                                   biasCorrection2Sqrt: Float, eps: Float) {
        let n = param.count
        precondition(param.dtype == .float32 && grad.dtype == .float32 && expAvg.dtype == .float32 && expAvgSq.dtype == .float32,
                     "adamWUpdate: Float32 tensors only")
        precondition(grad.count == n && expAvg.count == n && expAvgSq.count == n, "adamWUpdate: tensors of different sizes")
        precondition(param.isContiguous && grad.isContiguous && expAvg.isContiguous && expAvgSq.isContiguous,
                     "adamWUpdate: contiguous tensors only")
        let p = param.pointer(Float.self), g = grad.pointer(Float.self)
        let m = expAvg.pointer(Float.self), v = expAvgSq.pointer(Float.self)
        parallelFor(n, grain: 32_768) { r in
            dino_adamw_update(p + r.lowerBound, g + r.lowerBound, m + r.lowerBound, v + r.lowerBound, r.count,
                              decay == nil ? 0 : 1, decay ?? 1, lerpWeight, beta2, oneMinusBeta2, negativeStepSize,
                              biasCorrection2Sqrt, eps)
        }
    }
}
