// GELU, the Gaussian error linear unit, exact and tanh-approximated, as fused kernels.
//
// Float32 runs the vectorised C kernels (CDinoKernels/gelu.c), which compute Φ from erfc
// with relative accuracy over the whole line; Float64 runs the scalar formulas below.

import CDinoKernels

/// Which form of GELU to compute (PyTorch's `approximate` argument).
public enum GELUApproximation: String, Sendable, Codable, CaseIterable {
    /// The exact form `x Φ(x)`, Φ the standard normal CDF (PyTorch `approximate="none"`).
    case none
    /// The tanh form `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (PyTorch `approximate="tanh"`).
    case tanh
}

extension Tensor {
    /// The Gaussian error linear unit, elementwise.
    ///
    /// Exact: `gelu(x) = x Φ(x) = ½x(1 + erf(x/√2))`, derivative `Φ(x) + x φ(x)` with
    /// `φ(x) = e^(−x²/2)/√(2π)`.
    /// Tanh: `gelu(x) ≈ ½x(1 + tanh u)`, `u = √(2/π)(x + 0.044715x³)`, computed as
    /// `x · sigmoid(2u)`; derivative `s + 2x s(1 − s) u'` with `s = sigmoid(2u)`.
    ///
    /// - Parameter approximate: `.none` (default) for the exact form, `.tanh` for the
    ///   approximation used by GPT-2 and some ViTs.
    /// - Returns: a tensor of the input's shape.
    /// Reference: Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)" (2016);
    /// `torch.nn.functional.gelu`.
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        let x = withNoGrad { contiguous() }
        let y = uninitializedTensor(shape, dtype: dtype)
        let n = count
        switch dtype {
        case .float32:
            let xp = x.pointer(Float.self), yp = y.pointer(Float.self)
            parallelFor(n, grain: 16_384) { r in
                let o = r.lowerBound
                switch approximate {
                case .none: dino_gelu_forward(xp + o, yp + o, r.count)
                case .tanh: dino_gelu_tanh_forward(xp + o, yp + o, r.count)
                }
            }
        case .float64:
            let xp = x.pointer(Double.self), yp = y.pointer(Double.self)
            parallelFor(n, grain: 4_096) { r in
                for i in r { yp[i] = GELUMath.value(xp[i], approximate) }
            }
        }
        return Tensor.record(y, op: .gelu, inputs: [self]) { g in
            let dy = withNoGrad { g.contiguous() }
            let dx = uninitializedTensor(x.shape, dtype: x.dtype)
            switch x.dtype {
            case .float32:
                let xp = x.pointer(Float.self), gp = dy.pointer(Float.self), dp = dx.pointer(Float.self)
                parallelFor(n, grain: 16_384) { r in
                    let o = r.lowerBound
                    switch approximate {
                    case .none: dino_gelu_backward(xp + o, gp + o, dp + o, r.count)
                    case .tanh: dino_gelu_tanh_backward(xp + o, gp + o, dp + o, r.count)
                    }
                }
            case .float64:
                let xp = x.pointer(Double.self), gp = dy.pointer(Double.self), dp = dx.pointer(Double.self)
                parallelFor(n, grain: 4_096) { r in
                    for i in r { dp[i] = gp[i] * GELUMath.derivative(xp[i], approximate) }
                }
            }
            return [dx]
        }
    }
}

/// Scalar GELU and its derivative (the Float64 path).
enum GELUMath {
    static let invSqrt2 = 0.7071067811865476
    static let invSqrt2Pi = 0.3989422804014327
    static let k0 = 0.7978845608028654  // √(2/π)
    static let k1 = 0.044715

    /// Φ(x) from erfc, accurate in relative terms for x ≪ 0 too.
    @inline(__always)
    static func phi(_ x: Double) -> Double { 0.5 * Double.erfc(-x * invSqrt2) }

    static func value(_ x: Double, _ approximate: GELUApproximation) -> Double {
        switch approximate {
        case .none:
            return x * phi(x)
        case .tanh:
            let u = k0 * (x + k1 * x * x * x)
            return 0.5 * x * (1 + Double.tanh(u))
        }
    }

    static func derivative(_ x: Double, _ approximate: GELUApproximation) -> Double {
        switch approximate {
        case .none:
            return phi(x) + x * Double.exp(-0.5 * x * x) * invSqrt2Pi
        case .tanh:
            let u = k0 * (x + k1 * x * x * x)
            let t = Double.tanh(u)
            let du = k0 * (1 + 3 * k1 * x * x)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
        }
    }
}
