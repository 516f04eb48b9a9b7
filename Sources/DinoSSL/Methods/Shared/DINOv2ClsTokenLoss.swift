// DINOv2's image-level (CLS token) self-distillation terms, with its pairing of views and its
// normalisation, as pure functions of the head outputs.
//
// What it is: `DINOLoss.forward` of facebookresearch/dinov2 dinov2/loss/dino_clstoken_loss.py and
// the two calls `SSLMetaArch.forward_backward` (dinov2/train/ssl_meta_arch.py) makes of it:
//
//   local term   Σ_l Σ_g  mean_b −⟨q_g[b], log_softmax(s_l[b]/τ_s)⟩            / (P_g + P_l)
//   global term  2 · mean_{2B rows} −⟨q_{1−g}[b], log_softmax(s_g[b]/τ_s)⟩      / (P_g + P_l)
//
// with g ∈ {0, 1} the global crops, l the L local crops, q_g the teacher targets of global crop
// g, P_g = 2 (each student global crop against the other teacher crop; same-crop pairs are
// excluded) and P_l = max(2L, 1) — so without local crops the divisor is 3, as official.
// What it is not: the centring (TeacherTargets.swift) or the head; nothing is reduced across
// processes.
//
// Layout: crop-major as DINOv2's collate stacks them: student global (2B, K) rows 0..<B crop 0,
// B..<2B crop 1; student local (L·B, K) crop-major; teacher targets (2B, K) in the same crop
// order (the reference concatenates the teacher's crops in reverse before its head so that row i
// meets student row i; here the targets stay in crop order and the swap happens inside).
// Sums over pairs are regrouped into one soft-target cross-entropy per student row (the
// cross-entropy is linear in its targets): local rows meet q₀ + q₁.

import DinoTensor

/// The two DINO terms of a DINOv2 step, already normalised by the number of pairs.
public struct DINOv2ClsTerms {
    /// Student global crops against the other crop's teacher targets (`dino_global_crops_loss`).
    public let global: Tensor
    /// Student local crops against both teacher targets (`dino_local_crops_loss`); nil without
    /// local crops.
    public let local: Tensor?

    /// global + local.
    public var total: Tensor { local.map { global + $0 } ?? global }
}

/// DINOv2's DINO loss on CLS tokens.
///
/// Reference: Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision" (2023),
/// §4 "Image-level objective"; facebookresearch/dinov2 `DINOLoss.forward` and
/// `SSLMetaArch.forward_backward`.
public enum DINOv2ClsTokenLoss {
    /// The reference's `DINOLoss.forward`: `−Σ_s Σ_t mean_rows ⟨t, log_softmax(s / τ_s)⟩` over
    /// every (student chunk, target chunk) pair.
    ///
    /// - Parameters:
    ///   - students: student head outputs, each (B, K).
    ///   - targets: teacher targets, each (B, K), no gradient.
    ///   - studentTemperature: τ_s (DINOv2: 0.1).
    /// - Returns: a scalar, differentiable with respect to the students.
    public static func crossEntropy(students: [Tensor], targets: [Tensor], studentTemperature: Double) -> Tensor {
        precondition(!students.isEmpty && !targets.isEmpty, "DINOv2ClsTokenLoss.crossEntropy: no students or no targets")
        precondition(studentTemperature > 0, "DINOv2ClsTokenLoss: student temperature \(studentTemperature) must be positive")
        let shape = targets[0].shape
        for x in students + targets {
            precondition(x.rank == 2 && x.shape == shape,
                         "DINOv2ClsTokenLoss.crossEntropy: every student and target must be (B, K) = \(shape), got \(x.shape)")
        }
        // Σ_t t is the one target each student row meets (cross-entropy is linear in targets).
        let summed = withNoGrad { targets.dropFirst().reduce(targets[0].detach()) { $0 + $1.detach() } }
        let perStudent = students.map { s in
            Tensor.crossEntropy(logits: s * (1 / studentTemperature), targets: summed.to(s.dtype)).sum()
        }
        return perStudent.dropFirst().reduce(perStudent[0], +) * (1 / Double(shape[0]))
    }

    /// The global and local DINO terms of one step, paired and normalised as DINOv2's
    /// `forward_backward` does.
    ///
    /// - Parameters:
    ///   - studentGlobal: student head outputs of the 2 global crops, (2B, K), crop-major.
    ///   - studentLocal: student head outputs of the L local crops, (L·B, K), crop-major; nil
    ///     when there are none.
    ///   - teacherTargets: teacher targets of the 2 global crops in crop order, (2B, K)
    ///     (`TeacherTargets.softmaxCentered` or `.sinkhornKnopp`), no gradient.
    ///   - studentTemperature: τ_s (DINOv2: 0.1).
    public static func terms(studentGlobal: Tensor, studentLocal: Tensor?, teacherTargets q: Tensor,
                             studentTemperature: Double) -> DINOv2ClsTerms {
        precondition(q.rank == 2 && q.shape[0] % 2 == 0 && q.shape[0] > 0,
                     "DINOv2ClsTokenLoss: teacher targets must be (2B, K), got \(q.shape)")
        precondition(studentGlobal.shape == q.shape,
                     "DINOv2ClsTokenLoss: student global outputs \(studentGlobal.shape) must match teacher targets \(q.shape)")
        let (b, k) = (q.shape[0] / 2, q.shape[1])
        var localCrops = 0
        if let s = studentLocal {
            precondition(s.rank == 2 && s.shape[1] == k && s.shape[0] % b == 0 && s.shape[0] > 0,
                         "DINOv2ClsTokenLoss: student local outputs \(s.shape) are not (L·B, K) with B = \(b), K = \(k)")
            localCrops = s.shape[0] / b
        }
        let divisor = Double(2 + Swift.max(2 * localCrops, 1))
        let targets = withNoGrad { q.detach().to(studentGlobal.dtype).reshape([2, b, k]).chunk(2, axis: 0) }  // 2 × (1, B, K)

        // Global: crop 0 against the teacher's crop 1 and crop 1 against crop 0, all 2B rows.
        let swapped = Tensor.concat([targets[1], targets[0]], axis: 0).reshape([2 * b, k])   // (2B, K)
        let global = crossEntropy(students: [studentGlobal], targets: [swapped], studentTemperature: studentTemperature)
            * (2 / divisor)

        // Local: every local crop against both teacher crops.
        var local: Tensor? = nil
        if let s = studentLocal {
            let both = withNoGrad { (targets[0] + targets[1]).reshape([b, k]) }                 // (B, K)
            local = crossEntropy(students: s.chunk(localCrops, axis: 0), targets: [both],
                                 studentTemperature: studentTemperature) * (1 / divisor)
        }
        return DINOv2ClsTerms(global: global, local: local)
    }
}
