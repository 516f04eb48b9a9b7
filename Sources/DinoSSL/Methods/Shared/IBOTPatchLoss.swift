// iBOT's masked-patch self-distillation term as DINOv2 computes it: on the masked patches only,
// each weighted by one over the masked patches of its image, summed and divided by the number of
// global crops.
//
// What it is: `iBOTPatchLoss.forward_masked` of facebookresearch/dinov2
// dinov2/loss/ibot_patch_loss.py with the weights of dinov2/data/collate.py (`masks_weight`) and
// the scale `SSLMetaArch.forward_backward` gives it (× loss_scales 2 × ibot_loss_scale 1/2 = 1).
// What it is not: the centring of the teacher's patch targets (TeacherTargets.swift: softmax
// with an EMA centre of the masked patches' mean, or Sinkhorn-Knopp with B = the masked patch
// count).
//
// The reference pads the masked patches to a static `upperbound` rows (zeros) before the heads
// and cuts `loss[:n_masked_patches]`; rows beyond the masked ones never reach the loss, so
// callers here pass only the M masked rows — or pass padded rows with `maskedPatches: M`.

import DinoTensor

/// DINOv2's iBOT loss on masked patch tokens.
///
///     L = −1/I · Σ_m w_m ⟨t_m, log_softmax(s_m / τ_s)⟩,   w_m = 1 / (masked patches of m's image)
///
/// over the M masked patches m (in row-major order of the (I, N) masks), I = number of global
/// crops in the batch (masked or not). Images without masked patches contribute nothing; each
/// masked image contributes the mean over its masked patches, so L is the mean over images of the
/// per-image mean cross-entropy with unmasked images counting as zero.
///
/// Reference: Zhou et al., "iBOT: Image BERT Pre-Training with Online Tokenizer" (ICLR 2022);
/// Oquab et al., "DINOv2" (2023), §4 "Patch-level objective"; facebookresearch/dinov2
/// `iBOTPatchLoss.forward_masked`, `collate_data_and_cast`.
public enum IBOTPatchLoss {
    /// `masks_weight` of DINOv2's collate: for each masked patch, in row-major order,
    /// `1 / max(masked patches of its image, 1)`.
    ///
    /// - Parameter masks: (I, N) 0/1 masks, 1 = masked.
    /// - Returns: (M) weights, M = number of ones.
    public static func maskWeights(masks: Tensor) -> Tensor {
        precondition(masks.rank == 2, "IBOTPatchLoss.maskWeights: masks must be (I, N), got \(masks.shape)")
        let (images, n) = (masks.shape[0], masks.shape[1])
        let m = masks.doubles
        var weights: [Double] = []
        for i in 0..<images {
            let row = m[(i * n)..<((i + 1) * n)]
            let count = row.filter { $0 != 0 }.count
            weights += [Double](repeating: 1 / Double(Swift.max(count, 1)), count: count)
        }
        return Tensor(doubles: weights, shape: [weights.count]).to(masks.dtype)
    }

    /// The iBOT term from the masked patches' head outputs.
    ///
    /// - Parameters:
    ///   - student: student head outputs of the masked patches, (M, K) (or more rows, with
    ///     `maskedPatches`), in the row-major order of the masks.
    ///   - targets: teacher targets of the same patches, same shape, no gradient.
    ///   - weights: (M) per-patch weights (`maskWeights(masks:)`, `BatchMasks.weights`).
    ///   - images: I, the number of global crops in the batch (the masks' rows).
    ///   - maskedPatches: use only the first M rows of `student` and `targets` (the reference's
    ///     `n_masked_patches` cut of its padded buffers); nil for all rows.
    ///   - studentTemperature: τ_s (DINOv2: 0.1).
    /// - Returns: a scalar, differentiable with respect to `student`.
    public static func loss(student: Tensor, targets: Tensor, weights: Tensor, images: Int,
                            maskedPatches: Int? = nil, studentTemperature: Double) -> Tensor {
        precondition(student.rank == 2 && student.shape == targets.shape,
                     "IBOTPatchLoss: student \(student.shape) and targets \(targets.shape) must both be (M, K)")
        precondition(images > 0, "IBOTPatchLoss: \(images) images")
        precondition(studentTemperature > 0, "IBOTPatchLoss: student temperature \(studentTemperature) must be positive")
        let m = maskedPatches ?? student.shape[0]
        precondition(m >= 0 && m <= student.shape[0], "IBOTPatchLoss: \(m) masked patches of \(student.shape[0]) rows")
        precondition(weights.rank == 1 && weights.count == m,
                     "IBOTPatchLoss: \(weights.count) weights \(weights.shape) for \(m) masked patches")
        if m == 0 { return (student.sum() * 0) }                                      // no masked patch: 0, on the tape
        let s = m == student.shape[0] ? student : student.slice(axis: 0, start: 0, end: m)   // (M, K)
        let t = withNoGrad { (m == targets.shape[0] ? targets : targets.slice(axis: 0, start: 0, end: m)).detach().to(s.dtype) }
        let perPatch = Tensor.crossEntropy(logits: s * (1 / studentTemperature), targets: t)   // (M)
        return (perPatch * weights.detach().to(s.dtype)).sum() * (1 / Double(images))
    }
}
