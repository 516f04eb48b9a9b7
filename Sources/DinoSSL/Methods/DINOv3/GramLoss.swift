// DINOv3's Gram anchoring loss: keep the pairwise similarities of the student's patch
// features close to those of a frozen "Gram teacher", so that dense features keep their
// locality over long trainings.
//
// What it is: `GramLoss.forward` of facebookresearch/dinov3 dinov3/loss/gram_loss.py, exactly:
// optional F.normalize (eps 1e-12) of both feature sets, Gram matrices per image (`img_level`)
// or over the whole flattened batch, optional zeroing of negative similarities, and
// `nn.MSELoss()` (mean over all Gram entries). The teacher side receives no gradient.
// What it is not: the Gram teacher, the choice of tokens (`tokens_used`), the resizing of
// high-resolution Gram crops or the loss weight: those belong to the training step
// (dinov3/train/ssl_meta_arch.py), which calls this with the student's and the Gram teacher's
// patch tokens of the global crops. No method is registered here.

import DinoNN
import DinoTensor

/// Mean squared error between the Gram matrices of student and teacher patch features.
///
///     ŝ_i = s_i / max(‖s_i‖, ε),  t̂_i = t_i / max(‖t_i‖, ε)      (if `normalize`)
///     S = Ŝ Ŝᵀ,  T = T̂ T̂ᵀ                     per image (B, N, N) or over the batch (BN, BN)
///     remove_neg:               S ← max(S, 0), T ← max(T, 0)
///     remove_only_teacher_neg:  T ← max(T, 0)
///     L = mean((S − T)²)
///
/// `remove_only_teacher_neg` also asks the reference to zero S where S < 0 and T < 0, but it
/// tests T after T's negatives are already zeroed, so S is never changed; that is ported as is.
///
/// Reference: Siméoni et al., "DINOv3" (2025), §4.2 "Gram anchoring"; facebookresearch/dinov3
/// `dinov3/loss/gram_loss.py` (`GramLoss`).
public enum GramLoss {
    /// Which negative similarities are set to zero before the MSE (`remove_neg`,
    /// `remove_only_teacher_neg`; the reference allows at most one of the two).
    public enum Negatives: String, Sendable, Codable, CaseIterable {
        /// Keep every similarity (both flags false; DINOv3's configs).
        case keep
        /// Zero the negative similarities of both Gram matrices (`remove_neg: true`).
        case removeBoth = "remove_neg"
        /// Zero the negative similarities of the teacher's only (`remove_only_teacher_neg: true`).
        case removeTeacher = "remove_only_teacher_neg"
    }

    /// The Gram loss of one batch.
    ///
    /// - Parameters:
    ///   - student: (B, N, D) student patch features, or (M, D) when `imageLevel` is false.
    ///   - teacher: the Gram teacher's features, the student's shape; no gradient flows to it.
    ///   - imageLevel: one Gram matrix per image (`img_level: true`, needs rank 3) or one over
    ///     all B·N tokens of the batch (`false`).
    ///   - normalize: L2-normalise the features first (`gram.normalized`, true in DINOv3).
    ///   - negatives: which negative similarities are zeroed.
    /// - Returns: a scalar, differentiable with respect to `student`.
    public static func loss(student: Tensor, teacher: Tensor, imageLevel: Bool, normalize: Bool,
                            negatives: Negatives) -> Tensor {
        precondition(student.shape == teacher.shape,
                     "GramLoss: student \(student.shape) and teacher \(teacher.shape) features differ")
        precondition(imageLevel ? student.rank == 3 : (student.rank == 2 || student.rank == 3),
                     "GramLoss: features must be (B, N, D)\(imageLevel ? "" : " or (M, D)") with img_level \(imageLevel), got \(student.shape)")
        let t = gram(teacher.detach(), imageLevel: imageLevel, normalize: normalize)   // (B, N, N) or (M, M)
        var s = gram(student, imageLevel: imageLevel, normalize: normalize)
        var target = t
        switch negatives {
        case .keep:
            break
        case .removeBoth:
            target = t.maskedFill(t.lt(0), value: 0)
            s = s.maskedFill(withNoGrad { s.detach().lt(0) }, value: 0)
        case .removeTeacher:
            target = t.maskedFill(t.lt(0), value: 0)
        }
        return (s - target).pow(2).mean()
    }

    /// The Gram matrix of (optionally normalised) features: (B, N, D) → (B, N, N) per image,
    /// or the B·N tokens flattened first → (BN, BN); (M, D) → (M, M).
    public static func gram(_ features: Tensor, imageLevel: Bool, normalize: Bool) -> Tensor {
        var x = normalize ? features.l2Normalized(axis: -1, eps: 1e-12) : features
        if !imageLevel && x.rank == 3 { x = x.flatten(0, 1) }                    // (BN, D)
        return x.matmul(x.transposed(-1, -2))                                       // (…, M, M)
    }

    /// The loss weight at `iteration`: the constant `loss_weight`, or `loss_weight_schedule`
    /// when given — DINOv3's `linear_warmup_cosine_decay` over epochs (the anchoring config:
    /// start 0, peak 0, end 2 over 1000 warm-up epochs and a 1-epoch cosine, so the weight is
    /// 0, then rises to 2 within one epoch and stays there).
    ///
    /// Reference: dinov3/train/ssl_meta_arch.py (`gram_loss_schedule`),
    /// dinov3/configs/train/dinov3_vit7b16_gram_anchor.yaml.
    public static func weightSchedule(start: Double, peak: Double, end: Double, warmupEpochs: Int,
                                      cosineEpochs: Int?, epochs: Int, iterationsPerEpoch: Int) -> WarmupCosineSchedule {
        WarmupCosineSchedule(start: start, peak: peak, end: end,
                             warmupIterations: iterationsPerEpoch * warmupEpochs,
                             totalIterations: iterationsPerEpoch * epochs,
                             cosineIterations: cosineEpochs.map { iterationsPerEpoch * $0 })
    }
}
