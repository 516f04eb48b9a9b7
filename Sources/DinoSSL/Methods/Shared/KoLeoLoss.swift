// The KoLeo regulariser of DINOv2: spread the CLS features of a batch uniformly by pushing each
// one away from its nearest neighbour. Shared: DINOv2 and distillation use it in their
// objective, DINO as an option (`koleo_loss_weight`), and any method may add it as a term.
//
// What it is: `KoLeoLoss.forward` of facebookresearch/dinov2 dinov2/loss/koleo_loss.py, exactly:
// F.normalize with eps 1e-8, nearest neighbours by the largest dot product with the diagonal
// set to −1, `nn.PairwiseDistance(2, eps=1e-8)` (which adds eps to the difference before the
// norm) and −mean log(d + eps). DINOv2 applies it with weight 0.1 to the student backbone's
// normalised CLS tokens of each global crop separately (never between two crops of one image).
// Also dinov3's `KoLeoLossDistributed` (topk 1): a rank's rows against the group of ranks they
// belong to, all-gathered with gradients (`lossOverRanks`).
// What it is not: differentiable through the choice of neighbour (an argmax, as in the
// reference); gradients flow to both ends of each nearest pair.

import DinoDistributed
import DinoTensor

/// The Kozachenko-Leonenko differential-entropy estimator as a loss.
///
///     z_i = x_i / max(‖x_i‖, ε)
///     n(i) = argmax_{j ≠ i} ⟨z_i, z_j⟩
///     L = −1/B Σ_i log(‖z_i − z_{n(i)} + ε‖₂ + ε)
///
/// Reference: Sablayrolles et al., "Spreading vectors for similarity search" (ICLR 2019);
/// Oquab et al., "DINOv2" (2023), §4 "KoLeo regularizer"; facebookresearch/dinov2
/// `KoLeoLoss`.
public enum KoLeoLoss {
    /// The nearest neighbour of each row of L2-normalised `z` (B, D) by dot product, excluding
    /// itself (the reference's diagonal filled with −1; ties go to the lowest index).
    public static func nearestNeighbours(_ z: Tensor) -> [Int] {
        nearestNeighbours(z, among: z, selfOffset: 0)
    }

    /// The nearest neighbour in `members` (G, D) of each row i of `z` (B, D), by dot product,
    /// excluding member `selfOffset + i` (row i itself: `KoLeoLossDistributed.pairwise_NNs_inner`
    /// fills `dots[i, rank_in_group · B + i]` with −1).
    public static func nearestNeighbours(_ z: Tensor, among members: Tensor, selfOffset: Int) -> [Int] {
        precondition(z.rank == 2 && members.rank == 2, "KoLeoLoss.nearestNeighbours: features must be (B, D) and (G, D), got \(z.shape), \(members.shape)")
        let b = z.shape[0], g = members.shape[0]
        let dots = withNoGrad { z.detach().matmul(members.detach().transposed(0, 1)) }.doubles   // (B, G)
        return (0..<b).map { i in
            var best = 0, bestValue = -Double.infinity
            for j in 0..<g {
                let v = j == selfOffset + i ? -1 : dots[i * g + j]
                if v > bestValue { best = j; bestValue = v }
            }
            return best
        }
    }

    /// The KoLeo loss of one batch of features.
    ///
    /// - Parameters:
    ///   - features: (B, D) features (DINOv2: the student backbone's CLS tokens of one global crop).
    ///   - eps: ε of the normalisation, the distance and the logarithm (DINOv2: 1e-8).
    /// - Returns: a scalar, differentiable with respect to `features`.
    public static func loss(_ features: Tensor, eps: Double = 1e-8) -> Tensor {
        precondition(features.rank == 2 && features.shape[0] > 0,
                     "KoLeoLoss: features must be (B, D) with B > 0, got \(features.shape)")
        let z = features.l2Normalized(axis: -1, eps: eps)                     // (B, D)
        let neighbours = z.indexSelect(axis: 0, indices: nearestNeighbours(z)) // (B, D)
        let distances = ((z - neighbours) + eps).pow(2).sum(axes: [1]).sqrt()  // (B)
        return -(distances + eps).log().mean()
    }

    /// This rank's KoLeo loss with neighbours searched in a group of ranks
    /// (`KoLeoLossDistributed.forward`, `topk` 1):
    ///
    ///     z = normalize(x)                  (B, D), this rank's rows
    ///     Z = all_gather(z)                 (W·B, D), rank order, with gradients (allGatherRows)
    ///     group k = rank / (G / B): Z[k·G ..< (k+1)·G], this rank at offset (rank mod G/B) · B
    ///     L = −1/B Σ_i log(‖z_i − Z_{n(i)} + ε‖₂ + ε),  n(i) the nearest other group member
    ///
    /// The mean over ranks of L is the mean over groups of `loss(group)` on one process.
    ///
    /// - Parameters:
    ///   - features: (B, D) this rank's features (one global crop's CLS tokens).
    ///   - groupSize: G, a multiple of B dividing W·B (`loss_group_size`; the reference raises
    ///     otherwise, and `DINOv3.resolve` refuses it).
    public static func lossOverRanks(_ features: Tensor, groupSize: Int, communicator: any Communicator, eps: Double = 1e-8) -> Tensor {
        let b = features.shape[0], w = communicator.size
        precondition(groupSize % b == 0 && (w * b) % groupSize == 0,
                     "KoLeoLoss: a group of \(groupSize) is not a multiple of the \(b) rows per rank dividing \(w * b)")
        let z = features.l2Normalized(axis: -1, eps: eps)                                          // (B, D)
        let all = communicator.allGatherRows(z, label: "KoLeo features")                           // (W·B, D)
        let ranksPerGroup = groupSize / b, group = communicator.rank / ranksPerGroup
        let members = all.slice(axis: 0, start: group * groupSize, end: (group + 1) * groupSize)   // (G, D)
        let nearest = nearestNeighbours(z, among: members, selfOffset: (communicator.rank % ranksPerGroup) * b)
        let neighbours = members.indexSelect(axis: 0, indices: nearest)                           // (B, D)
        let distances = ((z - neighbours) + eps).pow(2).sum(axes: [1]).sqrt()                     // (B)
        return -(distances + eps).log().mean()
    }

    /// KoLeo of each global crop's features on its own, summed — never between two crops of
    /// one image (DINOv2's `sum(koleo_loss(p) for p in student_cls_tokens.chunk(2))`).
    ///
    /// - Parameters:
    ///   - features: (2B, D) features of the two global crops, crop-major.
    ///   - shards: S > 1 computes what S data-parallel ranks compute, each on its slice of B/S
    ///     samples of each crop (the reference's KoLeo is per rank), averaged over the slices as
    ///     the ranks' gradients are: `(1/S) Σ_s Σ_g KoLeo(slice s of crop g)`. 1: the whole batch.
    public static func sumOverGlobalCrops(_ features: Tensor, eps: Double = 1e-8, shards: Int = 1) -> Tensor {
        precondition(features.rank == 2 && features.shape[0] % (2 * shards) == 0,
                     "KoLeoLoss: global-crop features must be (2B, D) with B a multiple of \(shards) slices, got \(features.shape)")
        let perCrop = features.chunk(2, axis: 0)
        if shards == 1 {
            let l = perCrop.map { loss($0, eps: eps) }
            return l[0] + l[1]
        }
        let b = features.shape[0] / 2 / shards
        var total: Tensor? = nil
        for s in 0..<shards {
            for crop in perCrop {
                let l = loss(crop.slice(axis: 0, start: s * b, end: (s + 1) * b), eps: eps)   // (b, D) → scalar
                total = total.map { $0 + l } ?? l
            }
        }
        return total! * (1 / Double(shards))
    }
}
