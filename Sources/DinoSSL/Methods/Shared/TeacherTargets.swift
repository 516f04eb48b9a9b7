// How a teacher head's outputs become targets: softmax centring with an EMA centre, or
// Sinkhorn-Knopp normalisation — one implementation for DINO, DINOv2's DINO (CLS) and iBOT
// (patch) terms, and distillation.
//
// What it is: the teacher-side functions of facebookresearch/dino `main_dino.py`
// (`DINOLoss.forward`'s `softmax((teacher_output - self.center) / temp)`, `update_center`) and of
// facebookresearch/dinov2 dinov2/loss/dino_clstoken_loss.py and ibot_patch_loss.py
// (`softmax_center_teacher`, `update_center` + `apply_center_update`, `sinkhorn_knopp_teacher`),
// on one process. DINO and DINOv2 compute the same centre, `m·c + (1 − m)·Σ_rows t / R`; they
// differ only in when it is applied — DINO updates its buffer at the end of the loss's forward,
// DINOv2 applies last step's pending update at the start of the next centring — and both give
// the sequence that storing `updatedCenter`'s result after the step gives. Sinkhorn-Knopp's
// difference between the terms (B: every row for the DINO term, the masked patches for iBOT)
// is its `samples` argument.
// What it is not: stateful. The reference keeps the centre in a buffer and applies last step's
// update lazily at the start of the next `softmax_center_teacher`; here the centre is an argument
// and `updatedCenter` returns the next one, which the method stores after its step — the same
// sequence of centres. Nothing is reduced across processes; no gradient flows to the teacher.
//
// Rows are samples (CLS tokens of the global crops, or masked patches), columns prototypes:
// (R, K).

import DinoTensor

/// Which teacher normalisation DINOv2 uses (`train.centering`).
public enum CenteringMode: String, Codable, Sendable, CaseIterable {
    /// `softmax((t − c) / τ_t)` with an EMA centre `c` (`"centering"`, DINOv2's ImageNet recipe).
    case centering
    /// Sinkhorn-Knopp, 3 iterations, no centre (`"sinkhorn_knopp"`).
    case sinkhornKnopp = "sinkhorn_knopp"
}

/// The teacher's targets and the centre's update, as pure functions.
public enum TeacherTargets {
    /// Centred, sharpened teacher probabilities: `softmax((t − c) / τ_t)` row by row, off the tape.
    ///
    /// - Parameters:
    ///   - teacherOutput: the teacher head's outputs, (R, K).
    ///   - center: the running centre, K values ((1, K) or (K)).
    ///   - temperature: τ_t (DINO and DINOv2: 0.04 warmed up to 0.07 over 30 epochs).
    /// - Returns: (R, K) probabilities, rows summing to 1.
    /// Reference: dino `DINOLoss.forward`; dinov2 `DINOLoss.softmax_center_teacher`,
    /// `iBOTPatchLoss.softmax_center_teacher`.
    public static func softmaxCentered(teacherOutput t: Tensor, center: Tensor, temperature: Double) -> Tensor {
        precondition(t.rank == 2, "TeacherTargets.softmaxCentered: teacher output must be (R, K), got \(t.shape)")
        let k = t.shape[1]
        precondition(center.count == k, "TeacherTargets.softmaxCentered: centre \(center.shape) for teacher output \(t.shape)")
        precondition(temperature > 0, "TeacherTargets.softmaxCentered: temperature \(temperature) must be positive")
        return withNoGrad {
            ((t.detach() - center.detach().to(t.dtype).reshape([1, k])) * (1 / temperature)).softmax(axis: -1)
        }
    }

    /// The next centre: `m·c + (1 − m)·mean_rows(t)`, off the tape.
    ///
    /// `mean` is `Σ_rows · (1/R)`, as DINO's `sum(teacher_output, dim=0) / len(teacher_output)`.
    /// For DINO and DINOv2's DINO term `t` holds the raw teacher CLS outputs of both global crops (2B, K); for
    /// iBOT the raw teacher outputs of the masked patches (M, K) — the reference's
    /// `sum(t.mean(1), dim=0)` over its (1, M, K) tensor is the same mean over patches.
    ///
    /// - Parameters:
    ///   - center: the current centre, (1, K).
    ///   - teacherOutput: raw teacher outputs of this step, (R, K), before centring.
    ///   - momentum: m (DINO and DINOv2: 0.9).
    /// - Returns: a new (1, K) tensor; `center` is not modified.
    /// Reference: dino `DINOLoss.update_center`; dinov2 `reduce_center_update` and
    /// `apply_center_update` of both losses.
    public static func updatedCenter(_ center: Tensor, teacherOutput t: Tensor, momentum: Double) -> Tensor {
        precondition(t.rank == 2 && t.shape[0] > 0 && center.count == t.shape[1],
                     "TeacherTargets.updatedCenter: centre \(center.shape) for teacher output \(t.shape)")
        return withNoGrad {
            let k = t.shape[1]
            let batchCenter = t.detach().mean(axes: [0], keepDims: true)             // (1, K)
            return center.detach().to(t.dtype).reshape([1, k]) * momentum + batchCenter * (1 - momentum)
        }
    }

    /// Sinkhorn-Knopp targets: an assignment of the R samples to the K prototypes with equal
    /// prototype mass, starting from `exp(t / τ_t)`.
    ///
    ///     Q = exp(t / τ_t)ᵀ                                  (K, R)
    ///     Q ← Q / Σ Q
    ///     repeat n times:  Q ← Q / (K · rowsums(Q));  Q ← Q / (B · colsums(Q))
    ///     return (B · Q)ᵀ                                    (R, K), rows sum to 1
    ///
    /// with B = `samples` (the reference's global number of samples: all rows for the DINO
    /// term, `n_masked_patches` for iBOT; both are R on one process). Computed in Float64 (the
    /// reference computes in Float32 with no shift of the exponent, which overflows for
    /// t/τ_t > 88; in Float64 that takes t/τ_t > 709), returned in the input's dtype.
    ///
    /// - Parameters:
    ///   - teacherOutput: (R, K) raw teacher outputs (no centre).
    ///   - temperature: τ_t.
    ///   - samples: B; nil for R.
    ///   - iterations: n (DINOv2: 3).
    /// - Reference: Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
    ///   Assignments" (SwAV, 2020), Algorithm 1; dinov2 `DINOLoss.sinkhorn_knopp_teacher`,
    ///   `iBOTPatchLoss.sinkhorn_knopp_teacher`.
    public static func sinkhornKnopp(teacherOutput t: Tensor, temperature: Double, samples: Int? = nil,
                                     iterations: Int = 3) -> Tensor {
        precondition(t.rank == 2 && t.shape[0] > 0, "TeacherTargets.sinkhornKnopp: teacher output must be (R, K) with R > 0, got \(t.shape)")
        precondition(temperature > 0, "TeacherTargets.sinkhornKnopp: temperature \(temperature) must be positive")
        precondition(iterations >= 0, "TeacherTargets.sinkhornKnopp: \(iterations) iterations")
        let b = Double(samples ?? t.shape[0]), k = Double(t.shape[1])
        precondition(b > 0, "TeacherTargets.sinkhornKnopp: \(b) samples")
        return withNoGrad {
            // Kept as (R, K) = Qᵀ: the reference's rows (prototypes) are our columns.
            var q = (t.detach().to(.float64) * (1 / temperature)).exp()             // (R, K)
            q = q * (1 / q.sum().doubles[0])
            for _ in 0..<iterations {
                q = q / (q.sum(axes: [0], keepDims: true) * k)                     // each prototype: mass 1/K
                q = q / (q.sum(axes: [1], keepDims: true) * b)                     // each sample: mass 1/B
            }
            return (q * b).to(t.dtype)                                             // (R, K)
        }
    }
}

/// The running centres of a teacher's DINO (CLS) and iBOT (patch) outputs, and the targets
/// made with them — the state DINOv2 and distillation keep between steps.
///
/// A step asks for `targets(…)` (which records the next centres when centring), and after the
/// optimiser step `applyUpdate()` makes them current, as the reference's lazy
/// `apply_center_update` does at the next step.
public final class TeacherCentres {
    /// (1, K) and (1, K'), updated in place; zeros at the start (the reference's buffers).
    public let dino: Tensor
    public let ibot: Tensor
    var next: (dino: Tensor?, ibot: Tensor?) = (nil, nil)

    /// Checkpoint names (the reference's state-dict keys).
    public static let dinoKey = "dino_loss.center"
    public static let ibotKey = "ibot_patch_loss.center"

    public init(dinoPrototypes: Int, ibotPrototypes: Int) {
        dino = Tensor.zeros([1, dinoPrototypes])
        ibot = Tensor.zeros([1, ibotPrototypes])
    }

    /// The teacher's targets for its CLS outputs `cls` (R, K) and patch outputs `patches`
    /// (M, K'): softmax centring with the current centres (recording the next ones), or
    /// Sinkhorn-Knopp (B = the rows of each), off the tape.
    ///
    /// - Parameters:
    ///   - temperature: τ_t of this step.
    ///   - momentum: the centres' EMA momentum (DINOv2: 0.9).
    public func targets(cls: Tensor, patches: Tensor?, mode: CenteringMode, temperature: Double,
                        momentum: Double) -> (cls: Tensor, patches: Tensor?) {
        switch mode {
        case .centering:
            next.dino = TeacherTargets.updatedCenter(dino, teacherOutput: cls, momentum: momentum)
            next.ibot = patches.map { TeacherTargets.updatedCenter(ibot, teacherOutput: $0, momentum: momentum) }
            return (TeacherTargets.softmaxCentered(teacherOutput: cls, center: dino, temperature: temperature),
                    patches.map { TeacherTargets.softmaxCentered(teacherOutput: $0, center: ibot, temperature: temperature) })
        case .sinkhornKnopp:
            return (TeacherTargets.sinkhornKnopp(teacherOutput: cls, temperature: temperature),
                    patches.map { TeacherTargets.sinkhornKnopp(teacherOutput: $0, temperature: temperature, samples: $0.shape[0]) })
        }
    }

    /// Makes the centres recorded by the last `targets(…)` current (after the optimiser step).
    public func applyUpdate() {
        withNoGrad {
            if let n = next.dino { dino.copyIn(n) }
            if let n = next.ibot { ibot.copyIn(n) }
        }
        next = (nil, nil)
    }

    /// Both centres by checkpoint name.
    public var stateTensors: [String: Tensor] { [Self.dinoKey: dino, Self.ibotKey: ibot] }
}
