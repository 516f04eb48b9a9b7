// TEMPORARY stand-in for helper "fused" (softmax, layerNorm, gelu, scaledDotProductAttention),
// written as compositions of existing ops so that the models branch builds before "fused"
// lands. Delete this file when merging main after "fused" is merged.

import Foundation

/// Which GELU formula to use.
public enum GELUApproximation: Sendable { case none, tanh }

extension Tensor {
    public func softmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axis: axis, keepDims: true).detach()
        let e = shifted.exp()
        return e / e.sum(axes: [axis], keepDims: true)
    }

    public func logSoftmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axis: axis, keepDims: true).detach()
        return shifted - shifted.exp().sum(axes: [axis], keepDims: true).log()
    }

    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        let mu = mean(axes: [-1], keepDims: true)
        let centred = self - mu
        let v = (centred * centred).mean(axes: [-1], keepDims: true)
        var y = centred * (v + eps).rsqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }

    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        precondition(approximate == .none, "stand-in gelu: only the exact form")
        let out = map({ geluValue($0) }, { geluValue($0) })
        let x = detach()
        return Tensor.record(out, op: "gelu", inputs: [self]) { g in
            [g * x.map({ geluDerivative($0) }, { geluDerivative($0) })]
        }
    }

    public static func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor,
                                                 scale: Double? = nil) -> Tensor {
        let s = scale ?? 1 / Double(q.shape[q.rank - 1]).squareRoot()
        return (q.matmul(k.transposed(-2, -1)) * s).softmax(axis: -1).matmul(v)
    }
}

private func geluValue<T: TensorScalar>(_ x: T) -> T {
    let r: T = 1 / T(2).squareRoot()
    return T(0.5) * x * (1 + T.erf(x * r))
}

private func geluDerivative<T: TensorScalar>(_ x: T) -> T {
    let r: T = 1 / T(2).squareRoot()
    let cdf: T = T(0.5) * (1 + T.erf(x * r))
    let pdf: T = T.exp(-T(0.5) * x * x) / (2 * T.pi).squareRoot()
    return cdf + x * pdf
}
