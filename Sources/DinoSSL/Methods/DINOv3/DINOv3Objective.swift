// The whole DINOv3 objective of one step from head and backbone outputs: DINO on CLS tokens
// (local and global terms, `global_ignore_diagonal`, the local term's re-weighting), KoLeo on
// the student's CLS features, iBOT on masked patches and the Gram loss — weighted and summed as
// `SSLMetaArch.compute_losses` does.
//
// What it is: the loss part of facebookresearch/dinov3 dinov3/train/ssl_meta_arch.py
// (`compute_losses`) with the reference's loss modules (DINOLoss, iBOTPatchLoss, KoLeoLoss,
// GramLoss), as one pure function on already computed head outputs, Sinkhorn-Knopp targets and
// patch features; golden-tested against the reference as a whole (scripts/make_dinov3_fixtures.py).
// What it is not: the forward passes, the masking, the Gram teacher or the centring.
//
//     global terms  G = 2·1 (ignore diagonal) or 2·2,  local terms  L' = 2·L
//     loss = w_dino · L'/(G+L') · r_t · CE_local + w_dino · G/(G+L') · CE_global
//          + w_koleo · 2 · mean_g KoLeo(cls_g) + w_ibot · iBOT + w_gram(t) · Gram
//
// with CE_local the mean over the L·2 (local, teacher crop) pairs and B images, CE_global the
// mean over the G pairs, r_t the local re-weighting (1 unless `reweight_dino_local_loss`).
// The terms returned are the contributions to the total, weights and scales applied, so that
// they sum to "loss" (the reference logs the unscaled terms; here, as for DINOv2, every logged
// term is what it adds to the loss).

import DinoDistributed
import DinoTensor

extension LossTerm {
    /// DINOv3's Gram anchoring term (weighted), `gram_loss` as the reference logs it.
    public static let gram = "gram_loss"
}

/// Weights of the DINOv3 terms.
public struct DINOv3LossWeights: Equatable, Sendable {
    /// `dino.loss_weight` (1.0).
    public var dino = 1.0
    /// `dino.koleo_loss_weight` (0.1).
    public var koleo = 0.1
    /// `ibot.loss_weight` (1.0).
    public var ibot = 1.0
    /// The Gram loss weight of this step (`gram.loss_weight` or its schedule); 0: no Gram term.
    public var gram = 0.0
    /// The local DINO term's factor of this step (`local_loss_weight_schedule`; 1 without
    /// `reweight_dino_local_loss`).
    public var dinoLocal = 1.0

    public init(dino: Double = 1, koleo: Double = 0.1, ibot: Double = 1, gram: Double = 0, dinoLocal: Double = 1) {
        self.dino = dino; self.koleo = koleo; self.ibot = ibot; self.gram = gram; self.dinoLocal = dinoLocal
    }
}

/// The Gram term's inputs: student and Gram teacher patch features (B', N, D), or the chosen
/// rows (M, D) for `tokens_used` masked/unmasked, and how the loss is taken.
public struct GramInputs {
    public var student: Tensor
    public var teacher: Tensor
    public var imageLevel: Bool
    public var normalize: Bool
    public var negatives: GramLoss.Negatives
    /// On one process emulating N ranks: the rows (first axis of `student`) of each rank; the
    /// term is then the mean over the ranks of each one's Gram loss, as the ranks' losses
    /// average under DDP. nil: one loss over all rows.
    public var rowGroups: [[Int]]? = nil

    public init(student: Tensor, teacher: Tensor, imageLevel: Bool, normalize: Bool = true, negatives: GramLoss.Negatives = .keep) {
        self.student = student; self.teacher = teacher; self.imageLevel = imageLevel
        self.normalize = normalize; self.negatives = negatives
    }
}

/// DINOv3's loss terms and their total.
///
/// Reference: Siméoni et al., "DINOv3" (2025), §3–4; facebookresearch/dinov3
/// `SSLMetaArch.compute_losses`, `DINOLoss.forward(ignore_diagonal:)`,
/// `iBOTPatchLoss.forward_masked`, `KoLeoLoss`, `GramLoss`.
public enum DINOv3Objective {
    /// The DINO local and global terms, unscaled, as the reference's `DINOLoss.forward` returns
    /// them: means over (student crop, teacher crop) pairs and images.
    ///
    /// - Parameters:
    ///   - studentGlobal: (2B, K) crop-major; `studentLocal`: (L·B, K) crop-major.
    ///   - teacherTargets: (2B, K) Sinkhorn-Knopp targets in crop order.
    ///   - ignoreDiagonal: leave out the same-crop global pairs.
    public static func dinoTerms(studentGlobal: Tensor, studentLocal: Tensor, teacherTargets q: Tensor,
                                 ignoreDiagonal: Bool, studentTemperature: Double) -> (global: Tensor, local: Tensor) {
        precondition(q.rank == 2 && q.shape[0] % 2 == 0 && studentGlobal.shape == q.shape,
                     "DINOv3Objective: student global \(studentGlobal.shape) and teacher targets \(q.shape) must be equal (2B, K)")
        let b = q.shape[0] / 2
        precondition(studentLocal.rank == 2 && studentLocal.shape[1] == q.shape[1] && studentLocal.shape[0] % b == 0,
                     "DINOv3Objective: student local \(studentLocal.shape) is not (L·B, K) with B = \(b)")
        let l = studentLocal.shape[0] / b
        let t = withNoGrad { q.detach().to(studentGlobal.dtype).chunk(2, axis: 0) }              // 2 × (B, K)
        // crossEntropy = Σ_s Σ_t Σ_rows CE / rows-per-chunk.
        let local = DINOv2ClsTokenLoss.crossEntropy(students: studentLocal.chunk(l, axis: 0), targets: t,
                                                    studentTemperature: studentTemperature) * (1 / Double(2 * l))
        let global: Tensor
        if ignoreDiagonal {
            let swapped = withNoGrad { Tensor.concat([t[1], t[0]], axis: 0) }                    // (2B, K)
            global = DINOv2ClsTokenLoss.crossEntropy(students: [studentGlobal], targets: [swapped],
                                                     studentTemperature: studentTemperature)  // Σ / 2B
        } else {
            global = DINOv2ClsTokenLoss.crossEntropy(students: studentGlobal.chunk(2, axis: 0), targets: t,
                                                     studentTemperature: studentTemperature) * 0.25
        }
        return (global, local)
    }

    /// The weighted terms and `"loss"`, their sum; each a scalar on the tape.
    ///
    /// - Parameters:
    ///   - inputs: head and backbone outputs and the teacher's targets (the DINOv2 layout;
    ///     local outputs are required, as the reference asserts local crops).
    ///   - gram: the Gram term's features, or nil for none.
    ///   - koleoGroupSize: KoLeo's neighbours searched within groups of this many images of
    ///     each global crop (`KoLeoLossDistributed` with `loss_group_size`, as one process sees
    ///     the ranks of a group together: the mean over groups); nil: the whole batch.
    ///   - koleoRanks: under data-parallel training, the ranks' communicator: a group larger
    ///     than this rank's images of a crop is formed over the ranks by a differentiable
    ///     all-gather (`KoLeoLoss.lossOverRanks`, the reference's `KoLeoLossDistributed`).
    public static func losses(_ inputs: DINOv2LossInputs, gram: GramInputs?, weights w: DINOv3LossWeights,
                              ignoreDiagonal: Bool, studentTemperature: Double, koleoEps: Double = 1e-8,
                              koleoGroupSize: Int? = nil, koleoRanks: (any Communicator)? = nil) -> [String: Tensor] {
        guard let studentLocal = inputs.studentLocal else { preconditionFailure("DINOv3Objective: DINOv3 needs local crops") }
        var terms: [String: Tensor] = [:]
        let l = studentLocal.shape[0] / (inputs.studentGlobal.shape[0] / 2)
        let globalPairs = Double(ignoreDiagonal ? 2 : 4), localPairs = Double(2 * l)
        if w.dino != 0 {
            let d = dinoTerms(studentGlobal: inputs.studentGlobal, studentLocal: studentLocal, teacherTargets: inputs.teacherTargets,
                              ignoreDiagonal: ignoreDiagonal, studentTemperature: studentTemperature)
            terms[LossTerm.dinoLocalCrops] = d.local * (w.dino * localPairs / (globalPairs + localPairs) * w.dinoLocal)
            terms[LossTerm.dinoGlobalCrops] = d.global * (w.dino * globalPairs / (globalPairs + localPairs))
        }
        if w.koleo != 0, let cls = inputs.studentBackboneCls {
            // sum_g KoLeo(cls_g) / 2 · koleo_scale 2.
            let b = cls.shape[0] / 2
            if let g = koleoGroupSize, g > b, let ranks = koleoRanks, ranks.size > 1 {
                // Groups spanning ranks: this rank's rows against its group's, gathered.
                let perCrop = cls.chunk(2, axis: 0)                                                        // 2 × (b, D)
                let l = perCrop.map { KoLeoLoss.lossOverRanks($0, groupSize: g, communicator: ranks, eps: koleoEps) }
                terms[LossTerm.koleo] = (l[0] + l[1]) * w.koleo
            } else if let g = koleoGroupSize, g < b {
                precondition(b % g == 0, "DINOv3Objective: KoLeo groups of \(g) do not divide \(b) images")
                let groups = cls.chunk(2 * b / g, axis: 0).map { KoLeoLoss.loss($0, eps: koleoEps) }       // crop-major: groups never straddle crops
                terms[LossTerm.koleo] = groups.dropFirst().reduce(groups[0], +) * (w.koleo * 2 / Double(groups.count))
            } else {
                terms[LossTerm.koleo] = KoLeoLoss.sumOverGlobalCrops(cls, eps: koleoEps) * w.koleo
            }
        }
        if w.ibot != 0, let s = inputs.studentMaskedPatches {
            guard let t = inputs.teacherPatchTargets, let mw = inputs.maskWeights else {
                preconditionFailure("DINOv3Objective: iBOT needs teacher patch targets and mask weights")
            }
            terms[LossTerm.ibot] = IBOTPatchLoss.loss(student: s, targets: t, weights: mw, images: inputs.studentGlobal.shape[0],
                                                      studentTemperature: studentTemperature) * w.ibot
        }
        if let g = gram {
            let parts = (g.rowGroups ?? [Array(0..<g.student.shape[0])]).map { rows -> Tensor in
                let (s, t) = g.rowGroups == nil ? (g.student, g.teacher)
                    : (g.student.indexSelect(axis: 0, indices: rows), g.teacher.indexSelect(axis: 0, indices: rows))
                return GramLoss.loss(student: s, teacher: t, imageLevel: g.imageLevel, normalize: g.normalize, negatives: g.negatives)
            }
            terms[LossTerm.gram] = parts.dropFirst().reduce(parts[0], +) * (w.gram / Double(parts.count))
        }
        precondition(!terms.isEmpty, "DINOv3Objective: every term is switched off")
        let ordered = [LossTerm.dinoLocalCrops, LossTerm.dinoGlobalCrops, LossTerm.koleo, LossTerm.ibot, LossTerm.gram].compactMap { terms[$0] }
        terms[LossTerm.total] = ordered.dropFirst().reduce(ordered[0], +)
        return terms
    }
}
