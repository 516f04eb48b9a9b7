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
// sequence of centres. No gradient flows to the teacher.
// Across processes (data-parallel training) the `communicator:` variants reduce what the
// references reduce — DINO's centre sums the teacher outputs of all ranks; Sinkhorn-Knopp sums Q
// and its per-prototype sums over all ranks; iBOT's centre averages the ranks' means — and on
// one process they are the single-process functions, bit for bit.
//
// Rows are samples (CLS tokens of the global crops, or masked patches), columns prototypes:
// (R, K).

import DinoDistributed
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

// MARK: - Across ranks

extension TeacherTargets {
    /// The next centre from the teacher outputs of every rank: `m·c + (1 − m)·Σ_ranks Σ_rows t / (R·W)`
    /// (R rows per rank, W ranks) — the mean over the global batch.
    ///
    /// Reference: dino `DINOLoss.update_center` (`dist.all_reduce(batch_center)`, then
    /// `/ (len(teacher_output) * dist.get_world_size())`); dinov2 `DINOLoss.reduce_center_update`.
    public static func updatedCenter(_ center: Tensor, teacherOutput t: Tensor, momentum: Double,
                                     communicator: any Communicator) -> Tensor {
        if communicator.size == 1 { return updatedCenter(center, teacherOutput: t, momentum: momentum) }
        precondition(t.rank == 2 && t.shape[0] > 0 && center.count == t.shape[1],
                     "TeacherTargets.updatedCenter: centre \(center.shape) for teacher output \(t.shape)")
        return withNoGrad {
            let k = t.shape[1]
            let sum = communicator.allReduceSum(t.detach().sum(axes: [0], keepDims: true).contiguousCopy(), label: "DINO centre")  // (1, K)
            let batchCenter = sum * (1 / Double(t.shape[0] * communicator.size))
            return center.detach().to(t.dtype).reshape([1, k]) * momentum + batchCenter * (1 - momentum)
        }
    }

    /// The next iBOT centre as dinov2's `iBOTPatchLoss` makes it across ranks: each rank's mean
    /// over its masked patches, averaged over the ranks (`sum(t.mean(1), dim=0)`, all-reduced,
    /// `/ (1 · world_size)`): `m·c + (1 − m)·Σ_ranks mean_rows(t) / W'`, where W' counts the
    /// ranks that have masked patches (every rank in the reference, whose ranks draw their own
    /// masks; here a rank's slice of the global batch's masks can hold none, and it then
    /// contributes nothing). Every rank must call it, with nil when it has no masked patches.
    /// Returns nil when no rank has masked patches.
    public static func updatedCenterOfRankMeans(_ center: Tensor, teacherOutput t: Tensor?, momentum: Double,
                                                communicator: any Communicator) -> Tensor? {
        if communicator.size == 1 { return t.map { updatedCenter(center, teacherOutput: $0, momentum: momentum) } }
        return withNoGrad {
            let k = center.count
            var local = [Double](repeating: 0, count: k + 1)                     // Σ-ready: K means, then "has patches"
            if let t, t.shape[0] > 0 {
                local = t.detach().mean(axes: [0]).to(.float64).doubles + [1]
            }
            let sums = communicator.allReduceSum(local, label: "iBOT centre")
            let ranks = sums[k]
            guard ranks > 0 else { return nil }
            let mean = Tensor(doubles: Array(sums[0..<k]), shape: [1, k]).to(center.dtype)
            return center.detach().reshape([1, k]) * momentum + mean * ((1 - momentum) / ranks)
        }
    }

    /// One process's stand-in for `updatedCenterOfRankMeans` (`dino train --emulate-ranks`):
    /// the rows split into groups (the rank each would be on), each group's mean, averaged over
    /// the groups that have rows: `m·c + (1 − m)·Σ_g mean(rows of g) / G'`.
    ///
    /// - Parameter groups: the group of each row of `t`, (R).
    public static func updatedCenterOfGroupMeans(_ center: Tensor, teacherOutput t: Tensor, groups: [Int], momentum: Double) -> Tensor {
        precondition(groups.count == t.shape[0], "TeacherTargets.updatedCenterOfGroupMeans: \(groups.count) groups for \(t.shape[0]) rows")
        return withNoGrad {
            let k = t.shape[1]
            var means: [Tensor] = []
            for g in Set(groups).sorted() {
                let rows = groups.indices.filter { groups[$0] == g }
                means.append(t.detach().indexSelect(axis: 0, indices: rows).mean(axes: [0], keepDims: true))  // (1, K)
            }
            let mean = means.dropFirst().reduce(means[0], +)
            return center.detach().to(t.dtype).reshape([1, k]) * momentum + mean * ((1 - momentum) / Double(means.count))
        }
    }

    /// Sinkhorn-Knopp over the samples of every rank: as `sinkhornKnopp`, with the total ΣQ and
    /// each prototype's sum over samples all-reduced (a sample's own sum is local), and
    /// B = `samples` the global number of samples.
    ///
    /// - Parameters:
    ///   - teacherOutput: this rank's (R, K) rows, or nil when it has none (every rank must
    ///     call, so that the collectives match; it then contributes zeros and gets nil).
    ///   - prototypes: K.
    ///   - samples: B over all ranks (dinov2: `Q.shape[1] * world_size` for the DINO term, the
    ///     all-reduced `n_masked_patches` for iBOT).
    /// - Reference: dinov2 `DINOLoss.sinkhorn_knopp_teacher`, `iBOTPatchLoss.sinkhorn_knopp_teacher`.
    public static func sinkhornKnopp(teacherOutput t: Tensor?, prototypes: Int, temperature: Double, samples: Int,
                                     communicator: any Communicator, iterations: Int = 3) -> Tensor? {
        if communicator.size == 1 {
            return t.map { sinkhornKnopp(teacherOutput: $0, temperature: temperature, samples: samples, iterations: iterations) }
        }
        precondition(t.map { $0.rank == 2 && $0.shape[1] == prototypes } ?? true,
                     "TeacherTargets.sinkhornKnopp: teacher output must be (R, \(prototypes)), got \(t!.shape)")
        let b = Double(samples), k = Double(prototypes)
        precondition(b > 0, "TeacherTargets.sinkhornKnopp: \(b) samples")
        return withNoGrad {
            var q = t.map { ($0.detach().to(.float64) * (1 / temperature)).exp() }  // (R, K)
            let total = communicator.allReduceSum([q.map { $0.sum().doubles[0] } ?? 0], label: "Sinkhorn-Knopp ΣQ")[0]
            q = q.map { $0 * (1 / total) }
            for i in 0..<iterations {
                let local = q.map { $0.sum(axes: [0]).doubles } ?? [Double](repeating: 0, count: prototypes)
                let sums = communicator.allReduceSum(local, label: "Sinkhorn-Knopp prototype sums \(i)")
                let perPrototype = Tensor(doubles: sums, shape: [1, prototypes])                      // (1, K)
                q = q.map { $0 / (perPrototype * k) }
                q = q.map { $0 / ($0.sum(axes: [1], keepDims: true) * b) }
            }
            return q.map { ($0 * b).to(t!.dtype) }                                // (R, K)
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
    /// The ranks whose teacher outputs the centres and Sinkhorn-Knopp sums cover (one process
    /// unless the trainer hands over another).
    public var communicator: any Communicator = SingleProcessCommunicator()

    /// Checkpoint names (the reference's state-dict keys).
    public static let dinoKey = "dino_loss.center"
    public static let ibotKey = "ibot_patch_loss.center"

    /// - Parameter dtype: the teacher's dtype (Float64 for `precision: float64`).
    public init(dinoPrototypes: Int, ibotPrototypes: Int, dtype: DType = .float32) {
        dino = Tensor.zeros([1, dinoPrototypes], dtype: dtype)
        ibot = Tensor.zeros([1, ibotPrototypes], dtype: dtype)
    }

    /// The teacher's targets for its CLS outputs `cls` (R, K) and patch outputs `patches`
    /// (M, K'): softmax centring with the current centres (recording the next ones), or
    /// Sinkhorn-Knopp (B = the rows of each), off the tape.
    ///
    /// - Parameters:
    ///   - temperature: τ_t of this step.
    ///   - momentum: the centres' EMA momentum (DINOv2: 0.9).
    ///   - ibot: whether the run has an iBOT term (the same on every rank; a rank may still
    ///     have no masked patches, `patches` nil, and then takes part in the collectives with
    ///     nothing).
    ///   - patchGroups: on one process emulating ranks (`--emulate-ranks`), the rank each patch
    ///     row would be on; the iBOT centre is then the mean of the groups' means, as those
    ///     ranks would compute it. nil otherwise.
    public func targets(cls: Tensor, patches: Tensor?, ibot ibotOn: Bool, mode: CenteringMode, temperature: Double,
                        momentum: Double, patchGroups: [Int]? = nil) -> (cls: Tensor, patches: Tensor?) {
        let distributed = communicator.size > 1
        switch mode {
        case .centering:
            next.dino = TeacherTargets.updatedCenter(dino, teacherOutput: cls, momentum: momentum, communicator: communicator)
            if let patches, let patchGroups, !distributed {
                next.ibot = TeacherTargets.updatedCenterOfGroupMeans(ibot, teacherOutput: patches, groups: patchGroups, momentum: momentum)
            } else {
                next.ibot = ibotOn && (distributed || patches != nil)
                    ? TeacherTargets.updatedCenterOfRankMeans(ibot, teacherOutput: patches, momentum: momentum, communicator: communicator)
                    : nil
            }
            return (TeacherTargets.softmaxCentered(teacherOutput: cls, center: dino, temperature: temperature),
                    patches.map { TeacherTargets.softmaxCentered(teacherOutput: $0, center: ibot, temperature: temperature) })
        case .sinkhornKnopp:
            let clsTargets = TeacherTargets.sinkhornKnopp(teacherOutput: cls, prototypes: cls.shape[1], temperature: temperature,
                                                          samples: cls.shape[0] * communicator.size, communicator: communicator)!
            guard ibotOn && (distributed || patches != nil) else { return (clsTargets, nil) }
            // n_masked_patches over all ranks (dinov2 all-reduces it for B).
            let masked = Int(communicator.allReduceSum([Double(patches?.shape[0] ?? 0)], label: "iBOT masked patches")[0])
            guard masked > 0 else { return (clsTargets, nil) }
            return (clsTargets, TeacherTargets.sinkhornKnopp(teacherOutput: patches, prototypes: ibot.count, temperature: temperature,
                                                             samples: masked, communicator: communicator))
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
