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
        if !training || rate == 0 { return x }
        let keep = 1 - rate
        let maskShape = [x.shape[0]] + Array(repeating: 1, count: x.rank - 1)
        let mask = generator.bernoulli(maskShape, p: keep, dtype: x.dtype)   // (B, 1, …)
        return x * (mask * (1 / keep))
    }

    /// Drop rates of `depth` blocks: rising linearly from 0 to `maxRate` (DINO, DINOv2
    /// default) or `maxRate` for every block (`uniform`, DINOv2 `drop_path_uniform`, DINOv3).
    public static func rates(maxRate: Double, depth: Int, uniform: Bool) -> [Double] {
        if uniform || depth <= 1 { return Array(repeating: uniform ? maxRate : 0, count: depth) }
        return (0..<depth).map { maxRate * Double($0) / Double(depth - 1) }
    }
}
