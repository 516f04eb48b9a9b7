// Stochastic depth: drop a whole residual branch for some samples of the batch, either by a
// per-sample mask (DINO, timm) or by running the branch on an exact random subset of the
// batch (DINOv2 above rate 0.1, DINOv3 at any rate). In expectation both are the same
// regulariser; the subset form computes the branch on fewer samples and always drops exactly
// B − ⌊B(1 − p)⌋ of them.
//
// Data-parallel training: with a `shard`, a layer that sees this rank's slice of a global batch
// draws the masks or the subset for the whole global batch (the same draws on every rank, and
// as one process would make them) and keeps its own rows, so that the ranks together drop
// exactly the branches one process would.

import DinoTensor

/// Drops residual branches per sample in training; the identity in evaluation.
///
/// `per_sample`: `y_b = x_b + f(x)_b · m_b / (1 − p)`, `m_b ~ Bernoulli(1 − p)` per sample b.
///
/// `batch_subset`: a random subset S of `s = max(⌊B(1 − p)⌋, 1)` samples (the first s of a
/// random permutation) goes through the branch, `y = x + (B / s) · index_add_S f(x_S)`; the
/// others keep x. Each branch of a block draws its own subset.
///
/// Reference: Huang et al., "Deep Networks with Stochastic Depth" (2016);
/// dino/vision_transformer.py `drop_path`; dinov2/layers/block.py
/// (`drop_add_residual_stochastic_depth`, and `Block.forward`: the subset above rate 0.1,
/// the per-sample mask at or below); dinov3/layers/block.py (`SelfAttentionBlock._forward`:
/// the subset at every rate > 0).
public final class DropPath: Module, UnaryLayer {
    /// How the dropped samples are chosen (the ViT config's `drop_path_mode`).
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// A Bernoulli mask per sample (DINO; the default).
        case perSample = "per_sample"
        /// An exact random subset of the batch at every rate > 0 (DINOv3).
        case batchSubset = "batch_subset"
        /// DINOv2's rule: the subset above rate 0.1, the per-sample mask at or below.
        case dinov2
    }

    public let rate: Double
    public let mode: Mode
    /// The source of the per-sample masks and subsets (shared with the model that owns the layer).
    public let generator: RandomGenerator
    /// This layer's rows as slice `index` of `count` of each view of a global batch, with
    /// `samplesPerView` samples per view on each rank (rows `v·b + i` here are rows
    /// `v·count·b + index·b + i` of the global batch); nil on one process.
    public var shard: Shard?

    /// A rank's place in the global batch (data-parallel training).
    public struct Shard: Equatable, Sendable {
        public var index: Int
        public var count: Int
        public var samplesPerView: Int
        public init(index: Int, count: Int, samplesPerView: Int) {
            precondition(count >= 1 && (0..<count).contains(index) && samplesPerView >= 1,
                         "DropPath.Shard: slice \(index) of \(count) with \(samplesPerView) samples per view")
            self.index = index; self.count = count; self.samplesPerView = samplesPerView
        }

        /// The global row of local row j of a batch of `batch` rows.
        func globalRow(_ j: Int, batch: Int) -> Int {
            precondition(batch % samplesPerView == 0, "DropPath.Shard: a batch of \(batch) rows is not whole views of \(samplesPerView)")
            return (j / samplesPerView) * count * samplesPerView + index * samplesPerView + j % samplesPerView
        }
    }

    public init(rate: Double, mode: Mode = .perSample, generator: RandomGenerator) {
        precondition(rate >= 0 && rate < 1, "DropPath: rate \(rate) outside [0, 1)")
        self.rate = rate
        self.mode = mode
        self.generator = generator
    }

    /// Whether a branch goes through `subsetResidual` at this rate and mode.
    public var usesBatchSubset: Bool {
        switch mode {
        case .perSample: return false
        case .batchSubset: return rate > 0
        case .dinov2: return rate > 0.1
        }
    }

    /// x (B, …) → (B, …)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let scale = sampleScale(like: x) else { return x }
        return x * scale.reshape([x.shape[0]] + Array(repeating: 1, count: x.rank - 1))
    }

    /// The factor of each sample of a batch like x (B, …): `m_b / (1 − p)`, (B); nil in
    /// evaluation, at rate 0, or where the batch subset is used instead. Draws the same masks
    /// as `callAsFunction`, for `Tensor.residual`, which applies them inside the residual sum.
    public func sampleScale(like x: Tensor) -> Tensor? {
        if !training || rate == 0 || usesBatchSubset { return nil }
        let keep = 1 - rate
        guard let shard else {
            let mask = generator.bernoulli([x.shape[0]], p: keep, dtype: x.dtype)   // (B)
            return withNoGrad { mask * (1 / keep) }
        }
        let b = x.shape[0]
        let global = generator.bernoulli([b * shard.count], p: keep, dtype: x.dtype).doubles  // (count·B)
        return Tensor(doubles: (0..<b).map { global[shard.globalRow($0, batch: b)] * (1 / keep) }, shape: [b]).to(x.dtype)
    }

    /// The samples whose branch is computed, or nil when the subset is not used (evaluation,
    /// rate 0, per-sample mode): the first `subsetSize` of a random permutation of the batch
    /// (`torch.randperm(b)[:sample_subset_size]`).
    public func subsetIndices(batch: Int) -> [Int]? { subset(batch: batch)?.indices }

    /// The samples whose branch is computed and the factor `B / s` of their branch, or nil when
    /// the subset is not used. With a `shard`, the subset is drawn on the global batch and
    /// these are this rank's rows of it (possibly none), with the global batch's factor.
    public func subset(batch: Int) -> (indices: [Int], alpha: Double)? {
        guard training && usesBatchSubset else { return nil }
        guard let shard else {
            let s = Self.subsetSize(batch: batch, rate: rate)
            return (Array(generator.permutation(batch).prefix(s)), Double(batch) / Double(s))
        }
        let g = batch * shard.count, s = Self.subsetSize(batch: g, rate: rate)
        var localOf: [Int: Int] = [:]
        for j in 0..<batch { localOf[shard.globalRow(j, batch: batch)] = j }
        return (generator.permutation(g).prefix(s).compactMap { localOf[$0] }, Double(g) / Double(s))
    }

    /// `max(int(B · (1 − p)), 1)`: how many samples go through the branch.
    public static func subsetSize(batch: Int, rate: Double) -> Int {
        Swift.max(Int(Double(batch) * (1 - rate)), 1)
    }

    /// `x + index_add_S ((f(x_S) ⊙ γ) · B / s)`: the branch on the samples `indices` only,
    /// scaled back to the whole batch.
    ///
    /// - Parameters:
    ///   - x: (B, …) the block's input.
    ///   - indices: the s samples that go through the branch (`subsetIndices`).
    ///   - scale: LayerScale's γ (D) applied to the branch's output, or nil.
    ///   - branch: the residual branch, (s, …) → (s, …).
    ///   - alpha: the branch's factor; nil for B / s (a rank's rows of a global subset pass the
    ///     global batch's).
    /// - Returns: (B, …); the other samples are x unchanged (all of them when `indices` is
    ///   empty). Differentiable in x, γ and the branch.
    public static func subsetResidual(_ x: Tensor, indices: [Int], scale: Tensor?, alpha: Double? = nil,
                                      branch: (Tensor) -> Tensor) -> Tensor {
        if indices.isEmpty { return x }
        let subset = x.indexSelect(axis: 0, indices: indices)                 // (s, …)
        var residual = branch(subset)                                        // (s, …)
        precondition(residual.shape == subset.shape,
                     "DropPath.subsetResidual: the branch maps \(subset.shape) to \(residual.shape)")
        if let scale { residual = residual * scale }
        // torch.index_add(x, 0, indices, residual, alpha = B / s)
        let alpha = alpha ?? Double(x.shape[0]) / Double(indices.count)
        return x.indexAdd(axis: 0, indices: indices, source: residual, alpha: alpha)   // (B, …)
    }

    /// Drop rates of `depth` blocks: rising linearly from 0 to `maxRate` (DINO, DINOv2
    /// default) or `maxRate` for every block (`uniform`, DINOv2 `drop_path_uniform`, DINOv3).
    public static func rates(maxRate: Double, depth: Int, uniform: Bool) -> [Double] {
        if uniform || depth <= 1 { return Array(repeating: uniform ? maxRate : 0, count: depth) }
        return (0..<depth).map { maxRate * Double($0) / Double(depth - 1) }
    }
}

extension Module {
    /// Sets `shard` on every drop-path layer of this module (data-parallel training: the
    /// student's rows of each global batch); nil for one process.
    public func setDropPathShard(_ shard: DropPath.Shard?) {
        for (_, m) in namedModules() { (m as? DropPath)?.shard = shard }
    }
}
