// The whole DINOv2 objective of one step from head and backbone outputs: DINO on CLS tokens
// (global and local terms), KoLeo on the student's CLS features, iBOT on masked patches —
// weighted and summed as `SSLMetaArch.forward_backward` does.
//
// What it is: the loss part of facebookresearch/dinov2 dinov2/train/ssl_meta_arch.py, on already
// computed head outputs and teacher targets, as one pure function (used by the `dinov2` and
// `distill` methods, and golden-tested against the reference as a whole).
// What it is not: the forward passes, the masking of the student's input or the centring
// (TeacherTargets.swift), which the method runs before.
//
// The terms returned are the contributions to the total, weights applied, so that they sum to
// "loss". (The reference's log shows koleo and ibot halved, "to display the same losses as
// before"; here nothing is halved.)

import DinoTensor

/// Weights of the DINOv2 terms (`dino.loss_weight`, `dino.koleo_loss_weight`, `ibot.loss_weight`).
public struct DINOv2LossWeights: Equatable, Sendable, Codable {
    /// DINO CLS terms (DINOv2: 1.0).
    public var dino = 1.0
    /// KoLeo on the student backbone's CLS tokens (DINOv2: 0.1).
    public var koleo = 0.1
    /// iBOT masked-patch term (DINOv2: 1.0).
    public var ibot = 1.0

    public init(dino: Double = 1.0, koleo: Double = 0.1, ibot: Double = 1.0) {
        self.dino = dino; self.koleo = koleo; self.ibot = ibot
    }
}

/// The outputs of one DINOv2 step that the losses read.
public struct DINOv2LossInputs {
    /// Student head outputs of the global crops' CLS tokens, (2B, K), crop-major.
    public var studentGlobal: Tensor
    /// Student head outputs of the local crops' CLS tokens, (L·B, K), crop-major; nil if none.
    public var studentLocal: Tensor?
    /// Teacher targets of the global crops in crop order, (2B, K) (centred or Sinkhorn-Knopp).
    public var teacherTargets: Tensor
    /// Student backbone CLS tokens of the global crops (after the final norm), (2B, D), for
    /// KoLeo; nil to skip KoLeo.
    public var studentBackboneCls: Tensor?
    /// iBOT: student head outputs of the masked patches (M, K), teacher targets of the same
    /// patches (M, K), their weights (M) and the number of global crops I = 2B; nil to skip.
    public var studentMaskedPatches: Tensor?
    public var teacherPatchTargets: Tensor?
    public var maskWeights: Tensor?
    /// Student backbone CLS tokens of the global crops, (2B, D), for the collapse monitor's
    /// feature spread (logged, not a loss); nil to skip it.
    public var studentClassTokens: Tensor? = nil

    public init(studentGlobal: Tensor, studentLocal: Tensor?, teacherTargets: Tensor, studentBackboneCls: Tensor? = nil,
                studentMaskedPatches: Tensor? = nil, teacherPatchTargets: Tensor? = nil, maskWeights: Tensor? = nil) {
        self.studentGlobal = studentGlobal
        self.studentLocal = studentLocal
        self.teacherTargets = teacherTargets
        self.studentBackboneCls = studentBackboneCls
        self.studentMaskedPatches = studentMaskedPatches
        self.teacherPatchTargets = teacherPatchTargets
        self.maskWeights = maskWeights
    }
}

/// DINOv2's loss terms and their total.
///
///     loss = w_dino · (L_global + L_local) + w_koleo · Σ_{g=0,1} KoLeo(cls_g) + w_ibot · L_ibot
///
/// Reference: Oquab et al., "DINOv2" (2023), §4; facebookresearch/dinov2
/// `SSLMetaArch.forward_backward`.
public enum DINOv2Objective {
    /// The weighted terms and `"loss"`, their sum; each a scalar on the tape.
    ///
    /// - Parameters:
    ///   - inputs: head and backbone outputs, and the teacher's targets.
    ///   - weights: the terms' weights (DINOv2: 1, 0.1, 1); a zero weight skips its term.
    ///   - studentTemperature: τ_s of the DINO and iBOT terms (DINOv2: 0.1).
    ///   - koleoEps: ε of KoLeo (1e-8).
    ///   - koleoShards: KoLeo per slice of the batch, as that many ranks compute it
    ///     (`KoLeoLoss.sumOverGlobalCrops`); 1 on a real rank or a plain single-process run.
    public static func losses(_ inputs: DINOv2LossInputs, weights: DINOv2LossWeights,
                              studentTemperature: Double, koleoEps: Double = 1e-8, koleoShards: Int = 1) -> [String: Tensor] {
        var terms: [String: Tensor] = [:]
        if weights.dino != 0 {
            let dino = DINOv2ClsTokenLoss.terms(studentGlobal: inputs.studentGlobal, studentLocal: inputs.studentLocal,
                                                teacherTargets: inputs.teacherTargets, studentTemperature: studentTemperature)
            terms[LossTerm.dinoGlobalCrops] = dino.global * weights.dino
            if let local = dino.local { terms[LossTerm.dinoLocalCrops] = local * weights.dino }
        }
        if weights.koleo != 0, let cls = inputs.studentBackboneCls {
            precondition(cls.rank == 2 && cls.shape[0] == inputs.studentGlobal.shape[0],
                         "DINOv2Objective: backbone CLS tokens \(cls.shape) for student global outputs \(inputs.studentGlobal.shape)")
            terms[LossTerm.koleo] = KoLeoLoss.sumOverGlobalCrops(cls, eps: koleoEps, shards: koleoShards) * weights.koleo
        }
        if weights.ibot != 0, let s = inputs.studentMaskedPatches {
            guard let t = inputs.teacherPatchTargets, let w = inputs.maskWeights else {
                preconditionFailure("DINOv2Objective: iBOT needs teacher patch targets and mask weights with the student's masked patches")
            }
            terms[LossTerm.ibot] = IBOTPatchLoss.loss(student: s, targets: t, weights: w, images: inputs.studentGlobal.shape[0],
                                                 studentTemperature: studentTemperature) * weights.ibot
        }
        precondition(!terms.isEmpty, "DINOv2Objective: every term is switched off")
        let ordered = [LossTerm.dinoGlobalCrops, LossTerm.dinoLocalCrops, LossTerm.koleo, LossTerm.ibot].compactMap { terms[$0] }
        terms[LossTerm.total] = ordered.dropFirst().reduce(ordered[0], +)
        return terms
    }

    /// The terms with the weights and τ_s of a DINOv2 config, plus the collapse monitors of the
    /// teacher's DINO targets (`TargetEntropy`) — the step's result for DINOv2 and distillation.
    public static func losses(_ inputs: DINOv2LossInputs, config c: DINOv2Config, koleoShards: Int = 1) -> [String: Tensor] {
        var terms = losses(inputs, weights: DINOv2LossWeights(dino: c.dino.lossWeight, koleo: c.dino.koleoLossWeight, ibot: c.ibot.lossWeight),
                           studentTemperature: c.studentTemperature, koleoShards: koleoShards)
        terms.merge(TargetEntropy.teacherEntropies(inputs.teacherTargets)) { a, _ in a }
        if let cls = inputs.studentClassTokens { terms[LossTerm.featureStd] = CollapseMonitor.featureSpread(cls) }
        return terms
    }
}
