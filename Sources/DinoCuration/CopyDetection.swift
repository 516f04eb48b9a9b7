// The copy-detection descriptor of DINO's `eval_copy_detection.py`: the class token
// concatenated with GeM-pooled patch tokens, then PCA whitening learnt on a set of images.
//
// What it is (facebookresearch/dino `eval_copy_detection.py`, `extract_features` and the
// "Whitening" block; `utils.PCA`):
//
//     gem(P)  = ( mean_p max(P_p, 1e-6)⁴ )^¼              per channel, over the patch grid
//     f       = [ cls ; gem(patch tokens) ]                (2D)
//     whitening, learnt on features W (N, 2D):
//         μ = mean(W);  C = WᵀW / N   (the reference uses the uncentred W here)
//         C = V diag(λ) Vᵀ, λ < 1e-5·max λ raised to that value, sorted descending
//         x ↦ diag(λ^-½) Vᵀ (x − μ)                       (whit = 0.5, all dimensions kept)
//     then L2 normalisation; similarity = inner product.
//
// The tokens are the last block's output after the final norm (`get_intermediate_layers(n=1)`),
// on images resized to a square (320 px in the reference) without cropping.
// What it is not: the forward pass (the command runs the backbone) or SSCD, the descriptor
// DINOv2 deduplicated with.

import DinoTensor
import Foundation

public enum CopyDetectionDescriptor {
    /// Generalised-mean pooling with exponent `p` over the tokens: (B, P, D) → (B, D).
    public static func gem(_ patchTokens: Tensor, p: Double = 4) -> Tensor {
        precondition(patchTokens.rank == 3, "gem: patch tokens must be (B, P, D), got \(patchTokens.shape)")
        let t = patchTokens.contiguous()
        let (b, n, d) = (t.shape[0], t.shape[1], t.shape[2])
        let src = t.pointer(Float.self)
        let out = Tensor(zeros: [b, d])
        let o = out.pointer(Float.self)
        for i in 0..<b {
            for j in 0..<d {
                var s = 0.0
                for q in 0..<n { s += Foundation.pow(Double(Swift.max(src[(i * n + q) * d + j], 1e-6)), p) }
                o[i * d + j] = Float(Foundation.pow(s / Double(n), 1 / p))
            }
        }
        return out
    }

    /// [cls ; gem(patches)]: (B, D) and (B, P, D) → (B, 2D).
    public static func descriptor(classToken: Tensor, patchTokens: Tensor) -> Tensor {
        Tensor.concat([classToken.contiguous(), gem(patchTokens)], axis: 1)
    }
}

/// PCA whitening as `utils.PCA(whit=0.5)` of DINO, with the centring of `eval_copy_detection.py`.
public struct PCAWhitening: Sendable {
    /// μ, the mean of the features the whitening was learnt on (D).
    public var mean: [Double]
    /// diag(λ^-whit) Vᵀ, (dim, D) row-major.
    public var projection: [Double]
    public var dimensions: Int { mean.count }
    public var outputDimensions: Int { projection.count / Swift.max(mean.count, 1) }

    /// Learns the whitening on the rows of `features` (N, D).
    ///
    /// - Parameters:
    ///   - dim: components kept (reference: all, D).
    ///   - power: the whitening exponent (reference: 0.5).
    public static func fit(_ features: Tensor, dim: Int? = nil, power: Double = 0.5) -> PCAWhitening {
        let x = features.contiguous()
        let (n, d) = (x.shape[0], x.shape[1])
        let p = x.pointer(Float.self)
        var mean = [Double](repeating: 0, count: d)
        var cov = [Double](repeating: 0, count: d * d)
        for i in 0..<n {
            for a in 0..<d {
                let xa = Double(p[i * d + a])
                mean[a] += xa
                for b in a..<d { cov[a * d + b] += xa * Double(p[i * d + b]) }
            }
        }
        for a in 0..<d {
            mean[a] /= Double(Swift.max(n, 1))
            for b in a..<d {
                cov[a * d + b] /= Double(Swift.max(n, 1))
                cov[b * d + a] = cov[a * d + b]
            }
        }
        var (values, vectors) = symmetricEigen(cov, n: d)
        let eps = (values.max() ?? 0) * 1e-5
        values = values.map { Swift.max($0, eps) }
        let order = values.indices.sorted { values[$0] > values[$1] }.prefix(dim ?? d)
        var projection = [Double](repeating: 0, count: order.count * d)
        for (r, c) in order.enumerated() {
            let scale = 1 / Foundation.pow(values[c], power)
            for a in 0..<d { projection[r * d + a] = scale * vectors[a * d + c] }
        }
        return PCAWhitening(mean: mean, projection: projection)
    }

    /// diag(λ^-whit) Vᵀ (x − μ) for every row: (N, D) → (N, dim).
    public func apply(_ features: Tensor) -> Tensor {
        let x = features.contiguous()
        let (n, d) = (x.shape[0], x.shape[1])
        precondition(d == dimensions, "PCAWhitening: rows of width \(d), learnt on \(dimensions)")
        let k = outputDimensions
        let p = x.pointer(Float.self)
        let out = Tensor(zeros: [n, k])
        let o = out.pointer(Float.self)
        let proj = projection, mu = mean
        parallelFor(n, grain: 64) { rows in
            var centred = [Double](repeating: 0, count: d)
            for i in rows {
                for a in 0..<d { centred[a] = Double(p[i * d + a]) - mu[a] }
                for r in 0..<k {
                    var s = 0.0
                    for a in 0..<d { s += proj[r * d + a] * centred[a] }
                    o[i * k + r] = Float(s)
                }
            }
        }
        return out
    }

    /// Eigenvalues and eigenvectors (columns of the row-major (n, n) result) of a symmetric
    /// matrix by cyclic Jacobi rotations, to machine precision.
    public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0, diag = 0.0
            for i in 0..<n {
                diag += a[i * n + i] * a[i * n + i]
                for j in (i + 1)..<Swift.max(n, i + 1) { off += a[i * n + j] * a[i * n + j] }
            }
            if off <= 1e-30 * Swift.max(diag, 1e-300) { break }
            for pIndex in 0..<n {
                for q in (pIndex + 1)..<Swift.max(n, pIndex + 1) {
                    let apq = a[pIndex * n + q]
                    if abs(apq) < 1e-300 { continue }
                    let app = a[pIndex * n + pIndex], aqq = a[q * n + q]
                    let theta = (aqq - app) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {                       // rows p and q of A·J
                        let akp = a[k * n + pIndex], akq = a[k * n + q]
                        a[k * n + pIndex] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {                       // columns: Jᵀ·A
                        let apk = a[pIndex * n + k], aqk = a[q * n + k]
                        a[pIndex * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + pIndex], vkq = v[k * n + q]
                        v[k * n + pIndex] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}
