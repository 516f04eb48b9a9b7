// Gradient clipping and cancelling, applied between backward and the optimiser step.
//
// All three act on the `.grad` of the given parameters, in place and off the tape. Norms are
// summed in Double over fixed blocks of elements, so they do not depend on the thread count;
// the clipping coefficients are computed in the gradient's dtype as PyTorch computes them with
// float32 tensors.

import DinoTensor
import Foundation

/// Elements per partial sum of a norm: fixed, so that the sum's rounding never depends on threads.
private let normBlock = 8_192

/// The Euclidean norm of a tensor's elements, summed in Double in fixed blocks.
public func l2Norm(_ x: Tensor) -> Double {
    let c = x.contiguous()
    let n = c.count
    let blocks = (n + normBlock - 1) / normBlock
    var partial = [Double](repeating: 0, count: blocks)
    func run<T: TensorScalar>(_: T.Type) {
        let p = c.pointer(T.self)
        partial.withUnsafeMutableBufferPointer { out in
            parallelFor(blocks, grain: 4) { r in
                for b in r {
                    var s = 0.0
                    for i in (b * normBlock)..<Swift.min(n, (b + 1) * normBlock) {
                        let v = Double(p[i])
                        s += v * v
                    }
                    out[b] = s
                }
            }
        }
    }
    switch c.dtype {
    case .float32: run(Float.self)
    case .float64: run(Double.self)
    }
    return partial.reduce(0, +).squareRoot()
}

/// Multiplies a parameter's gradient by `factor` in place (the gradient is made contiguous first).
func scaleGradient(of p: Tensor, by factor: Double) {
    guard let g = p.grad else { return }
    let grad = g.isContiguous ? g : g.contiguousCopy()
    p.grad = grad
    func run<T: TensorScalar>(_: T.Type) {
        let q = grad.pointer(T.self), f = T(factor)
        parallelFor(grad.count, grain: 32_768) { r in
            for i in r { q[i] *= f }
        }
    }
    switch grad.dtype {
    case .float32: run(Float.self)
    case .float64: run(Double.self)
    }
}

/// `value` rounded to `dtype` and back, as a 0-dim tensor of that dtype would hold it.
@inline(__always)
func rounded(_ value: Double, to dtype: DType) -> Double {
    dtype == .float32 ? Double(Float(value)) : value
}

/// DINO's gradient clipping: each parameter's gradient separately to norm at most `maxNorm`.
///
/// For every parameter with a gradient: `n = ‖g‖₂`, `c = maxNorm / (n + 1e-6)`, and `g ← c · g`
/// when `c < 1`. Parameters without a gradient are skipped.
///
/// - Returns: the gradient norms before clipping, of the parameters that had a gradient.
///
/// Reference: facebookresearch/dino `utils.py` (`clip_gradients`), used with `clip_grad = 3.0`.
@discardableResult
public func clipGradientsPerParameter(_ parameters: [Tensor], maxNorm: Double) -> [Double] {
    var norms: [Double] = []
    for p in parameters {
        guard let g = p.grad else { continue }
        let dt = g.dtype
        let norm = rounded(l2Norm(g), to: dt)
        norms.append(norm)
        let coef = rounded(rounded(maxNorm, to: dt) / rounded(norm + rounded(1e-6, to: dt), to: dt), to: dt)
        if coef < 1 { scaleGradient(of: p, by: coef) }
    }
    return norms
}

/// Clips the gradients of all `parameters` together to a total norm of at most `maxNorm`.
///
/// `N = ‖(‖g₁‖, ‖g₂‖, …)‖₂`, `c = min(maxNorm / (N + 1e-6), 1)`, every `g ← c · g`. A
/// non-finite `N` propagates into the gradients, as in PyTorch with `error_if_nonfinite=False`.
///
/// - Returns: the total norm `N` before clipping (0 when no parameter has a gradient).
///
/// Reference: PyTorch `torch.nn.utils.clip_grad_norm_` (DINOv2/v3 clip with `clip_grad = 3.0`).
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Double) -> Double {
    let withGrads = parameters.filter { $0.grad != nil }
    guard let first = withGrads.first?.grad else { return 0 }
    // PyTorch stacks per-tensor norms of the gradients' dtype and takes their norm.
    let dt = first.dtype
    let norms = withGrads.map { rounded(l2Norm($0.grad!), to: dt) }
    let total = rounded(norms.reduce(0) { $0 + $1 * $1 }.squareRoot(), to: dt)
    let coef = rounded(rounded(maxNorm, to: dt) / rounded(total + rounded(1e-6, to: dt), to: dt), to: dt)
    let clamped = coef.isNaN ? coef : Swift.min(coef, 1)
    if !(clamped == 1) {
        for p in withGrads { scaleGradient(of: p, by: clamped) }
    }
    return total
}

/// DINO's `cancel_gradients_last_layer`: drops the gradients of `parameters` (the head's last
/// layer) during the first `freezeEpochs` epochs, so that AdamW leaves them untouched.
///
/// Reference: facebookresearch/dino `utils.py` (`cancel_gradients_last_layer`,
/// `freeze_last_layer = 1`).
public func cancelGradients(of parameters: [Tensor], epoch: Int, freezeEpochs: Int) {
    guard epoch < freezeEpochs else { return }
    for p in parameters { p.grad = nil }
}
