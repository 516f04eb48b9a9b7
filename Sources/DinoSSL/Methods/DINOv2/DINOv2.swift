// DINOv2 as a training method: DINO on CLS tokens plus iBOT on masked patches and KoLeo, with
// the teacher an EMA of the student. The trainer (Trainer.swift) owns the loop, the optimiser,
// the schedules, clipping (per module), logging and checkpoints.
//
// One step, in the stages of the reference's `forward_backward` (without its buffers for static
// shapes, FSDP and xFormers' block-diagonal batching):
//
//     teacher   backbone(2 global crops, unmasked) → CLS (2B, D), masked patches (M, D)
//               head(CLS ‖ masked patches) → targets: softmax centring or Sinkhorn-Knopp
//     student   backbone(global crops, masked patches → mask token) → CLS (2B, D), masked patches (M, D)
//               backbone(local crops) → CLS (L·B, D)
//               head(local CLS ‖ global CLS ‖ masked patches)   (the iBOT head for patches when separate)
//     losses    DINOv2Objective: DINO local + global, KoLeo on the backbone CLS per global crop, iBOT
//     — trainer: backward, clip backbone and heads separately, AdamW (last layer at last_layer_lr) —
//     after     teacher ← EMA(student); centres ← EMA of this step's teacher outputs
//
// Reference: facebookresearch/dinov2 dinov2/train/ssl_meta_arch.py (`SSLMetaArch`), train.py.

import DinoDistributed
import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// DINOv2: DINO + iBOT + KoLeo self-distillation.
///
/// Reference: Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision"
/// (TMLR 2024); facebookresearch/dinov2.
public final class DINOv2: TrainingMethod {
    public typealias Batch = MultiCropInput

    public let settings: ResolvedDINOv2Config
    /// The dtype of the modules, the centres and the batches in the step: Float64 for
    /// `precision: float64`, else Float32.
    public let dtype: DType
    /// Student and teacher: backbone, DINO head and (when `ibot.separate_head`) iBOT head.
    public let studentModules: BackboneAndHeads
    public let teacherModules: BackboneAndHeads
    public var student: VisionTransformer { studentModules.backbone as! VisionTransformer }   // built as one (studentAndTeacher)
    public var teacher: VisionTransformer { teacherModules.backbone as! VisionTransformer }
    public var studentHead: DINOHead { studentModules.dinoHead }
    public var teacherHead: DINOHead { teacherModules.dinoHead }
    public var studentIBOTHead: DINOHead? { studentModules.ibotHead }
    public var teacherIBOTHead: DINOHead? { teacherModules.ibotHead }
    /// Running centres (1, K) of the DINO and iBOT teacher outputs (softmax centring).
    public let centres: TeacherCentres
    public var dinoCenter: Tensor { centres.dino }
    public var ibotCenter: Tensor { centres.ibot }
    let studentGenerator: RandomGenerator
    public let parameterGroups: [ParameterGroup]
    /// KoLeo per slice of the batch, as that many ranks compute it (`emulateRanks`); 1 by default.
    var koleoShards = 1

    public init(settings: ResolvedDINOv2Config) {
        self.settings = settings
        let c = settings.config
        (studentModules, teacherModules, studentGenerator) = BackboneAndHeads.studentAndTeacher(
            model: settings.model, dinoHead: c.dino.head, prototypes: settings.prototypes,
            ibotHead: c.ibot.separateHead ? c.ibot.head : nil, ibotPrototypes: settings.ibotPrototypes, seed: c.seed, method: "DINOv2")
        for (s, t) in zip(studentModules.modules, teacherModules.modules) {
            try! t.module.load(stateDict: s.module.stateDict().mapValues { $0.detach() })
            t.module.freeze()
            t.module.eval()
        }
        // precision: float64 — the Float32 initialisation widened, before the groups take the tensors.
        dtype = c.precision.dtype
        if dtype != .float32 {
            for m in studentModules.modules + teacherModules.modules { m.module.cast(to: dtype) }
        }
        centres = TeacherCentres(dinoPrototypes: settings.prototypes, ibotPrototypes: settings.ibotPrototypes, dtype: dtype)
        parameterGroups = studentModules.parameterGroups(prefix: BackboneAndHeads.studentPrefix, layerDecay: c.optim.layerwiseDecay,
                                                         patchEmbedLRMultiplier: c.optim.patchEmbedLRMultiplier)
    }

    public var clippingModules: [(name: String, parameters: [Tensor])] { studentModules.clippingModules }

    // MARK: Step

    /// The flat indices of the masked patches of the 2B global crops, and their weights.
    /// The masked patches of the iBOT term, or nil when iBOT is off or nothing is masked.
    func masked(_ batch: MultiCropInput) -> (indices: [Int], weights: Tensor, tensor: Tensor)? {
        guard settings.config.ibot.lossWeight > 0, let m = batch.masks, m.indices.count > 0 else { return nil }
        return (m.indices.indices, m.weights(dtype: dtype), m.tensor)
    }

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { settings.prototypes }

    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let batch = batch.converted(to: dtype)
        let c = settings.config
        let temperature = schedules[ScheduleValues.teacherTemperature]
        let mask = masked(batch)
        let d = settings.model.embedDimensions

        // Teacher: unmasked global crops.
        let (dinoTargets, ibotTargets) = withNoGrad { () -> (Tensor, Tensor?) in
            let f = teacher.forwardFeatures(batch.globalCrops)                                      // CLS (2B, D), patches (2B, N, D)
            let patches = mask.map { f.patchTokens.reshape([-1, d]).indexSelect(axis: 0, indices: $0.indices) }  // (M, D)
            let out = teacherModules.heads(cls: [f.classToken], patches: patches)
            return centres.targets(cls: out.cls[0], patches: out.patches, ibot: c.ibot.lossWeight > 0,  // (2B, K), (M, K')
                                   mode: c.teacher.centeringMode(recipe: c.recipe), temperature: temperature,
                                   momentum: c.teacher.centerMomentum, patchGroups: emulatedPatchGroups(batch, mask?.indices))
        }

        // Student: masked global crops (masked even with iBOT off, as the reference's collate
        // always masks and `forward_backward` always passes the masks), local crops.
        let inputs = studentModules.dinov2StudentInputs(
            batch, masks: batch.masks?.tensor, patchRows: { p in mask.map { p.indexSelect(axis: 0, indices: $0.indices) } },
            koleo: c.dino.koleoLossWeight > 0, teacherTargets: dinoTargets, teacherPatchTargets: ibotTargets, maskWeights: mask?.weights)
        var terms = DINOv2Objective.losses(inputs, config: c, koleoShards: koleoShards)
        // Across ranks every rank logs the same terms: a rank whose slice of the global batch's masks holds
        // no masked patch has an iBOT term of 0 (its iBOT head's gradients all-reduce as zeros).
        if centres.communicator.size > 1 && c.ibot.lossWeight > 0 && terms[LossTerm.ibot] == nil {
            terms[LossTerm.ibot] = Tensor.zeros([], dtype: dtype)
        }
        return terms
    }

    /// KoLeo over each of `ranks` slices of the batch, and the iBOT centre as the mean of the
    /// slices' means, as `ranks` ranks compute them.
    public func emulateRanks(_ ranks: Int) { koleoShards = ranks }

    /// With `emulateRanks`, the slice (rank) of each masked patch: its view row v·B + i is on
    /// rank i / (B / ranks). nil when not emulating.
    func emulatedPatchGroups(_ batch: MultiCropInput, _ indices: [Int]?) -> [Int]? {
        guard koleoShards > 1, let indices, let masks = batch.masks else { return nil }
        let b = masks.count / 2, perRank = b / koleoShards
        return indices.map { (($0 / masks.patches) % b) / perRank }
    }

    /// DINOv2's collectives: the centres and Sinkhorn-Knopp sums over all ranks; the student's
    /// drop-path draws are made on the global batch and sliced to this rank's rows.
    public func useCommunicator(_ communicator: any Communicator) {
        centres.communicator = communicator
        if communicator.size > 1 {
            student.setDropPathShard(DropPath.Shard(index: communicator.rank, count: communicator.size,
                                                    samplesPerView: settings.config.batchSize / communicator.size))
        }
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        teacherModules.updateExponentialMovingAverage(of: studentModules, momentum: schedules[ScheduleValues.teacherMomentum])
        centres.applyUpdate()
    }

    // MARK: Checkpoint state

    public func stateTensors() -> [String: Tensor] {
        var out = centres.stateTensors
        out.merge(teacherModules.namedTensors(prefix: BackboneAndHeads.teacherPrefix)) { a, _ in a }
        // The student's buffers (fixed scales, tables): not trained, but part of its state dict.
        out.merge(studentModules.namedTensors(prefix: BackboneAndHeads.studentPrefix, buffersOnly: true)) { a, _ in a }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { ["student.drop_path": studentGenerator] }
        set { if let g = newValue["student.drop_path"] { studentGenerator.restore(g) } }
    }
}
