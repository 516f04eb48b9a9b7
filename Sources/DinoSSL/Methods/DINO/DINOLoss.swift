// DINO's self-distillation loss and its centre update, as pure functions of tensors.
//
// What it is: the loss of Caron et al. (2021), eq. (1)–(4), computed as facebookresearch/dino
// `main_dino.py` (`DINOLoss.forward`, `DINOLoss.update_center`) computes it on one process.
// What it is not: it keeps no state, and the teacher's side — the centring and the centre's
// update — is TeacherTargets (Methods/Shared), shared with DINOv2 and distillation;
// temperatures come from the caller's schedules; nothing here reads a clock, a config or a
// global, and nothing is reduced across processes.
//
// Layout (as the reference's `torch.cat` of crops and `chunk`): the student output holds
// V views of B images view-major, rows `v·B ..< (v+1)·B` for view v, the G global views first;
// the teacher output holds the G global views of the same B images in the same order.
//
// The reference loops over (teacher view iq, student view v ≠ iq) pairs and averages
// `mean_b(−Σ_k q_iq · log_softmax(s_v/τ_s))` over the pairs. The sum is regrouped here by
// student view: view v meets the summed targets of every teacher view but its own,
//
//     Q_v = Σ_{iq ≠ v} q_iq        (B, K)  (= Σ_iq q_iq for local views)
//     L   = −1/(B · P) · Σ_v Σ_b Σ_k Q_v[b,k] · log_softmax(s_v[b]/τ_s)[k],   P = G·V − G
//
// which is one soft-target cross-entropy over all student rows: one log-softmax per row
// instead of one per pair, and one fused backward.

import DinoTensor

/// DINO's loss: cross-entropy from the centred, sharpened teacher distribution of each global
/// view to the student distribution of every other view.
///
/// For teacher outputs `t` (G·B, K), centre `c` (1, K) and student outputs `s` (V·B, K):
///
///     q_g = softmax((t_g − c) / τ_t)                    (no gradient)
///     L   = 1/P · Σ_{g < G} Σ_{v ≠ g} 1/B Σ_b −⟨q_g[b], log_softmax(s_v[b] / τ_s)⟩,   P = G·V − G
///
/// and after each step the centre moves towards the batch mean of the raw teacher outputs:
/// `c ← m·c + (1 − m)·mean_rows(t)`.
///
/// Reference: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers"
/// (ICCV 2021), Algorithm 1; facebookresearch/dino `main_dino.py` (`DINOLoss`): student
/// temperature 0.1, teacher temperature 0.04 → 0.07 warmed up over 30 epochs, centre momentum 0.9.
public enum DINOLoss {
    /// The loss from teacher probabilities already computed (`TeacherTargets.softmaxCentered`).
    ///
    /// - Parameters:
    ///   - studentOutput: the student head's outputs for all V views, (V·B, K), view-major,
    ///     global views first.
    ///   - teacherProbabilities: targets of the G global views, (G·B, K), no gradient.
    ///   - studentTemperature: τ_s (DINO: 0.1).
    ///   - globalViews: G, the views the teacher sees (DINO: 2).
    /// - Returns: the scalar loss, differentiable with respect to `studentOutput`.
    public static func loss(studentOutput: Tensor, teacherProbabilities q: Tensor,
                            studentTemperature: Double, globalViews: Int = 2) -> Tensor {
        let s = studentOutput
        precondition(s.rank == 2 && q.rank == 2 && s.shape[1] == q.shape[1],
                     "DINOLoss: student output \(s.shape) and teacher targets \(q.shape) must be (rows, K) with the same K")
        precondition(globalViews >= 1 && q.shape[0] % globalViews == 0,
                     "DINOLoss: \(q.shape[0]) teacher rows do not split into \(globalViews) global views")
        let b = q.shape[0] / globalViews, k = s.shape[1]
        precondition(b > 0 && s.shape[0] % b == 0 && s.shape[0] / b >= globalViews,
                     "DINOLoss: \(s.shape[0]) student rows are not a whole number (≥ \(globalViews)) of views of \(b) images")
        precondition(studentTemperature > 0, "DINOLoss: student temperature \(studentTemperature) must be positive")
        let views = s.shape[0] / b
        let pairs = globalViews * views - globalViews

        // Targets per student view: Q_v = Σ_{g ≠ v} q_g.
        let targets = withNoGrad { () -> Tensor in
            let qs = q.detach().reshape([globalViews, b, k]).chunk(globalViews, axis: 0)  // G × (1, B, K)
            var perView: [Tensor] = []
            for v in 0..<views {
                let others = qs.indices.filter { $0 != v }.map { qs[$0] }
                perView.append(others.dropFirst().reduce(others[0], +))             // (1, B, K)
            }
            return Tensor.concat(perView, axis: 0).reshape([views * b, k])          // (V·B, K)
        }
        let rowLosses = Tensor.crossEntropy(logits: s * (1 / studentTemperature), targets: targets)  // (V·B)
        return rowLosses.sum() * (1 / Double(b * pairs))
    }

    /// The loss from raw teacher outputs and the centre (the reference's `forward`).
    ///
    /// - Parameters:
    ///   - studentOutput: (V·B, K), view-major, global views first.
    ///   - teacherOutput: (G·B, K), the teacher head's outputs of the global views.
    ///   - center: (1, K), the running centre.
    ///   - studentTemperature: τ_s (DINO: 0.1).
    ///   - teacherTemperature: τ_t at this epoch (DINO: 0.04 → 0.07 over 30 epochs).
    ///   - globalViews: G (DINO: 2).
    public static func loss(studentOutput: Tensor, teacherOutput: Tensor, center: Tensor,
                            studentTemperature: Double, teacherTemperature: Double,
                            globalViews: Int = 2) -> Tensor {
        let q = TeacherTargets.softmaxCentered(teacherOutput: teacherOutput, center: center, temperature: teacherTemperature)
        return loss(studentOutput: studentOutput, teacherProbabilities: q,
                    studentTemperature: studentTemperature, globalViews: globalViews)
    }
}
