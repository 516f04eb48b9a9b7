// Stochastic depth: drop a whole residual branch for some samples of the batch.

import DinoTensor

/// Drops the residual branch of each sample with probability `rate` in training and scales
/// the kept ones by `1 / (1 − rate)`; the identity in evaluation.
///
/// `y_b = x_b · m_b / (1 − p)`, `m_b ~ Bernoulli(1 − p)` per sample b.
///
/// Reference: Huang et al., "Deep Networks with Stochastic Depth" (2016);
/// dino/vision_transformer.py `drop_path`.
public final class DropPath: Module, UnaryLayer {
    public let rate: Double
    /// The source of the per-sample masks (shared with the model that owns the layer).
    public let generator: RandomGenerator

    public init(rate: Double, generator: RandomGenerator) {
        precondition(rate >= 0 && rate < 1, "DropPath: rate \(rate) outside [0, 1)")
        self.rate = rate
        self.generator = generator
    }

    /// x (B, …) → (B, …)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let scale = sampleScale(like: x) else { return x }
        return x * scale.reshape([x.shape[0]] + Array(repeating: 1, count: x.rank - 1))
    }

    /// The factor of each sample of a batch like x (B, …): `m_b / (1 − p)`, (B); nil in
    /// evaluation or at rate 0. Draws the same masks as `callAsFunction`, for
    /// `Tensor.residual`, which applies them inside the residual sum.
    public func sampleScale(like x: Tensor) -> Tensor? {
        if !training || rate == 0 { return nil }
        let keep = 1 - rate
        let mask = generator.bernoulli([x.shape[0]], p: keep, dtype: x.dtype)   // (B)
        return withNoGrad { mask * (1 / keep) }
    }

    /// Drop rates of `depth` blocks: rising linearly from 0 to `maxRate` (DINO, DINOv2
    /// default) or `maxRate` for every block (`uniform`, DINOv2 `drop_path_uniform`, DINOv3).
    public static func rates(maxRate: Double, depth: Int, uniform: Bool) -> [Double] {
        if uniform || depth <= 1 { return Array(repeating: uniform ? maxRate : 0, count: depth) }
        return (0..<depth).map { maxRate * Double($0) / Double(depth - 1) }
    }
}
