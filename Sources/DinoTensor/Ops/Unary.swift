// Elementwise math: exp, log, sqrt, rsqrt, abs, pow, clamp, tanh, sigmoid, relu, silu.
//
// Each op is a scalar closure run by the `map`/`zipMap` engines of Elementwise.swift, and its
// backward is one fused `zipMap` pass over the output gradient and a saved tensor (the input
// or the output), so no backward allocates intermediates. Values and gradients follow
// PyTorch, including at the non-differentiable points: abs′(0) = 0, relu′(0) = 0, and clamp
// passes the gradient where min ≤ x ≤ max. Saved outputs are captured detached, so an
// unused graph holds no reference cycle.

import Foundation

extension Tensor {
    /// Elementwise exponential.
    ///
    /// `y = eˣ`, `∂y/∂x = y`. Reference: `torch.exp`.
    public func exp() -> Tensor {
        let out = map({ Float.exp($0) }, { Double.exp($0) })
        let y = out.detach()
        return Tensor.record(out, op: .exp, inputs: [self]) { g in
            [Tensor.zipMap(g, y, op: "exp_backward", { $0 * $1 }, { $0 * $1 })]
        }
    }

    /// Elementwise natural logarithm (NaN below 0, −∞ at 0).
    ///
    /// `y = ln x`, `∂y/∂x = 1/x`. Reference: `torch.log`.
    public func log() -> Tensor {
        let out = map({ Float.log($0) }, { Double.log($0) })
        let x = detach()
        return Tensor.record(out, op: .log, inputs: [self]) { g in
            [Tensor.zipMap(g, x, op: "log_backward", { $0 / $1 }, { $0 / $1 })]
        }
    }

    /// Elementwise square root.
    ///
    /// `y = √x`, `∂y/∂x = 1/(2y)`. Reference: `torch.sqrt`.
    public func sqrt() -> Tensor {
        let out = map({ $0.squareRoot() }, { $0.squareRoot() })
        let y = out.detach()
        return Tensor.record(out, op: .sqrt, inputs: [self]) { g in
            [Tensor.zipMap(g, y, op: "sqrt_backward", { $0 / (2 * $1) }, { $0 / (2 * $1) })]
        }
    }

    /// Elementwise reciprocal square root.
    ///
    /// `y = 1/√x`, `∂y/∂x = −y³/2`. Reference: `torch.rsqrt`.
    public func rsqrt() -> Tensor {
        let out = map({ 1 / $0.squareRoot() }, { 1 / $0.squareRoot() })
        let y = out.detach()
        return Tensor.record(out, op: .rsqrt, inputs: [self]) { g in
            [Tensor.zipMap(g, y, op: "rsqrt_backward",
                           { -0.5 * $0 * $1 * $1 * $1 }, { -0.5 * $0 * $1 * $1 * $1 })]
        }
    }

    /// Elementwise absolute value.
    ///
    /// `y = |x|`, `∂y/∂x = sign(x)` with `sign(0) = 0` (as PyTorch). Reference: `torch.abs`.
    public func abs() -> Tensor {
        let out = map({ $0.magnitude }, { $0.magnitude })
        let x = detach()
        return Tensor.record(out, op: .abs, inputs: [self]) { g in
            [Tensor.zipMap(g, x, op: "abs_backward", { Tensor.signTimes($1, $0) }, { Tensor.signTimes($1, $0) })]
        }
    }

    /// `sign(x) · g` with `sign(0) = 0` and NaN for NaN `x`.
    @inline(__always)
    static func signTimes<T: TensorScalar>(_ x: T, _ g: T) -> T {
        x > 0 ? g : (x < 0 ? -g : (x == 0 ? 0 : x))
    }

    /// Elementwise power with a scalar exponent.
    ///
    /// `y = xᵖ`, `∂y/∂x = p·xᵖ⁻¹` (0 when `p = 0`). Negative `x` with a non-integer `p` gives
    /// NaN, as C `pow`. Exponents 2, 3, 0.5, −0.5, −1, −2 take exact fast paths (as PyTorch's
    /// `pow_tensor_scalar_optimized_kernel`). Reference: `torch.pow(input, exponent: float)`.
    /// - Parameter p: the exponent.
    public func pow(_ p: Double) -> Tensor {
        let out = Tensor.powScalar(self, p)
        if p == 0 {
            let shape = self.shape, dt = dtype
            return Tensor.record(out, op: .powScalar, inputs: [self]) { _ in [Tensor.zeros(shape, dtype: dt)] }
        }
        let x = detach()
        return Tensor.record(out, op: .powScalar, inputs: [self]) { g in
            // g · p · x^(p−1), computed once in one pass over g and x.
            let d = Tensor.powScalar(x, p - 1)
            let fp = Float(p)
            return [Tensor.zipMap(g, d, op: "pow_backward", { $0 * fp * $1 }, { $0 * p * $1 })]
        }
    }

    /// `xᵖ` off the tape, with the exact fast paths of `pow(_:)`.
    static func powScalar(_ x: Tensor, _ p: Double) -> Tensor {
        switch p {
        case 1: return x.map({ $0 }, { $0 })
        case 2: return x.map({ $0 * $0 }, { $0 * $0 })
        case 3: return x.map({ $0 * $0 * $0 }, { $0 * $0 * $0 })
        case 0.5: return x.map({ $0.squareRoot() }, { $0.squareRoot() })
        case -0.5: return x.map({ 1 / $0.squareRoot() }, { 1 / $0.squareRoot() })
        case -1: return x.map({ 1 / $0 }, { 1 / $0 })
        case -2: return x.map({ 1 / ($0 * $0) }, { 1 / ($0 * $0) })
        default:
            let f = Float(p)
            return x.map({ Foundation.pow($0, f) }, { Foundation.pow($0, p) })
        }
    }

    /// Elementwise power with a tensor exponent, broadcasting `x` and `e`.
    ///
    /// `y = xᵉ`; `∂y/∂x = e·xᵉ⁻¹` (0 where `e = 0`), `∂y/∂e = y·ln x` (0 where `x = 0` and
    /// `e ≥ 0`), as PyTorch's `pow_backward_self` / `pow_backward_exponent`.
    /// Reference: `torch.pow(input, exponent: Tensor)`.
    /// - Parameter e: the exponent, broadcastable with `self`.
    public func pow(_ e: Tensor) -> Tensor {
        let out = Tensor.zipMap(self, e, op: "pow", { Foundation.pow($0, $1) }, { Foundation.pow($0, $1) })
        let x = detach(), ed = e.detach()
        let xShape = shape, eShape = e.shape
        return Tensor.record(out, op: .pow, inputs: [self, e]) { g in
            var gx: Tensor? = nil, ge: Tensor? = nil
            if self.requiresGrad {
                let d = Tensor.zipMap(x, ed, op: "pow_backward",
                                      { $1 == 0 ? 0 : $1 * Foundation.pow($0, $1 - 1) },
                                      { $1 == 0 ? 0 : $1 * Foundation.pow($0, $1 - 1) })
                gx = (g * d).sum(toShape: xShape)
            }
            if e.requiresGrad {
                let d = Tensor.zipMap(x, ed, op: "pow_backward",
                                      { $0 == 0 && $1 >= 0 ? 0 : Foundation.pow($0, $1) * Float.log($0) },
                                      { $0 == 0 && $1 >= 0 ? 0 : Foundation.pow($0, $1) * Double.log($0) })
                ge = (g * d).sum(toShape: eShape)
            }
            return [gx, ge]
        }
    }

    /// Limits every element to `[min, max]`; either bound may be omitted, not both.
    ///
    /// `y = min(max(x, min), max)` (so `max` wins when `min > max`; NaN stays NaN).
    /// `∂y/∂x = 1` where `min ≤ x ≤ max` (bounds included, as PyTorch's `clamp_backward`),
    /// else 0. Reference: `torch.clamp`.
    /// - Parameters:
    ///   - min: lower bound, or nil for none.
    ///   - max: upper bound, or nil for none.
    public func clamp(min lo: Double? = nil, max hi: Double? = nil) -> Tensor {
        precondition(lo != nil || hi != nil, "clamp: at least one of min and max must be given")
        let l = lo ?? -.infinity, h = hi ?? .infinity
        let lf = Float(l), hf = Float(h)
        let out = map({ x in let m = x < lf ? lf : x; return m > hf ? hf : m },
                      { x in let m = x < l ? l : x; return m > h ? h : m })
        let x = detach()
        return Tensor.record(out, op: .clamp, inputs: [self]) { g in
            [Tensor.zipMap(g, x, op: "clamp_backward",
                           { $1 >= lf && $1 <= hf ? $0 : 0 }, { $1 >= l && $1 <= h ? $0 : 0 })]
        }
    }

    /// Elementwise hyperbolic tangent.
    ///
    /// `y = tanh x`, `∂y/∂x = 1 − y²`. Reference: `torch.tanh`.
    public func tanh() -> Tensor {
        let out = map({ Float.tanh($0) }, { Double.tanh($0) })
        let y = out.detach()
        return Tensor.record(out, op: .tanh, inputs: [self]) { g in
            [Tensor.zipMap(g, y, op: "tanh_backward", { $0 * (1 - $1 * $1) }, { $0 * (1 - $1 * $1) })]
        }
    }

    /// The logistic function `σ(x) = 1/(1 + e⁻ˣ)`, computed without overflow for any `x`.
    @inline(__always)
    static func sigmoidScalar<T: TensorScalar>(_ x: T) -> T {
        if x >= 0 {
            return 1 / (1 + T.exp(-x))
        }
        let e = T.exp(x)  // x < 0 (or NaN): e ≤ 1, no overflow
        return e / (1 + e)
    }

    /// Elementwise logistic sigmoid, numerically stable for large `|x|`.
    ///
    /// `y = 1/(1 + e⁻ˣ)` (as `eˣ/(1 + eˣ)` for negative `x`), `∂y/∂x = y(1 − y)`.
    /// Reference: `torch.sigmoid`.
    public func sigmoid() -> Tensor {
        let out = map({ Tensor.sigmoidScalar($0) }, { Tensor.sigmoidScalar($0) })
        let y = out.detach()
        return Tensor.record(out, op: .sigmoid, inputs: [self]) { g in
            [Tensor.zipMap(g, y, op: "sigmoid_backward", { $0 * $1 * (1 - $1) }, { $0 * $1 * (1 - $1) })]
        }
    }

    /// Rectified linear unit.
    ///
    /// `y = max(x, 0)` (NaN stays NaN), `∂y/∂x = 1` where `y > 0`, else 0 (so 0 at `x = 0`,
    /// as PyTorch's `threshold_backward`). Reference: `torch.relu`.
    public func relu() -> Tensor {
        let out = map({ $0 < 0 ? 0 : $0 }, { $0 < 0 ? 0 : $0 })
        let y = out.detach()
        return Tensor.record(out, op: .relu, inputs: [self]) { g in
            [Tensor.zipMap(g, y, op: "relu_backward", { $1 > 0 ? $0 : 0 }, { $1 > 0 ? $0 : 0 })]
        }
    }

    /// Sigmoid linear unit (swish).
    ///
    /// `y = x·σ(x)`, `∂y/∂x = σ(x)(1 + x(1 − σ(x)))`. Reference: `torch.nn.functional.silu`;
    /// Hendrycks & Gimpel, "Gaussian Error Linear Units" (2016); Ramachandran et al. (2017).
    public func silu() -> Tensor {
        let out = map({ $0 * Tensor.sigmoidScalar($0) }, { $0 * Tensor.sigmoidScalar($0) })
        let x = detach()
        return Tensor.record(out, op: .silu, inputs: [self]) { g in
            [Tensor.zipMap(g, x, op: "silu_backward", { Tensor.siluGrad($0, $1) }, { Tensor.siluGrad($0, $1) })]
        }
    }

    /// `g · σ(x)(1 + x(1 − σ(x)))`.
    @inline(__always)
    static func siluGrad<T: TensorScalar>(_ g: T, _ x: T) -> T {
        let s = sigmoidScalar(x)
        return g * s * (1 + x * (1 - s))
    }
}
