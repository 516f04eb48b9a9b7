// DINO as a training method: student and teacher networks, the multi-crop step, the teacher's
// EMA and the centre update. The trainer (Trainer.swift) owns the loop, the optimiser, the
// schedules, clipping, logging and checkpoints.
//
// One step, in the stages of the reference's `train_one_epoch`:
//
//     teacher output   teacher head(teacher backbone(2 global views))            (2B, K), no gradient
//     student output   student head(student backbone(global views) ‖ (local views))  (V·B, K)
//     loss             DINOLoss(student, teacher, centre, τ_s, τ_t)
//                      [+ w · Σ_g KoLeo(student CLS of global view g), only with koleo_loss_weight > 0]
//     — trainer: backward, clip —
//     before the step  last layer's gradients dropped while it is frozen
//     — trainer: AdamW —
//     after the step   teacher ← m·teacher + (1 − m)·student;  centre ← EMA of the teacher's batch mean
//
// Crops of one resolution go through the backbone together, as the reference's
// `MultiCropWrapper` groups consecutive crops of equal size; the head then runs once on all.
//
// Reference: facebookresearch/dino `main_dino.py` (`train_dino`, `train_one_epoch`),
// `utils.py` (`MultiCropWrapper`, `get_params_groups`, `cancel_gradients_last_layer`).

import DinoDistributed
import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// DINO: self-distillation with no labels.
///
/// Reference: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers"
/// (ICCV 2021); facebookresearch/dino `main_dino.py`.
public final class DINO: TrainingMethod {
    public typealias Batch = MultiCropInput

    public let student: VisionTransformer
    public let studentHead: DINOHead
    public let teacher: VisionTransformer
    public let teacherHead: DINOHead
    /// The running centre of the teacher outputs, (1, K); updated in place.
    public let center: Tensor
    public let settings: ResolvedDINOConfig
    /// The dtype of the modules, the centre and the batches in the step: Float64 for
    /// `precision: float64`, else Float32.
    public let dtype: DType
    /// Drop-path masks of the student.
    let studentGenerator: RandomGenerator
    public let parameterGroups: [ParameterGroup]
    /// The centre for the next step, computed with this step's teacher output.
    var nextCenter: Tensor?
    /// The ranks whose teacher outputs the centre averages (one process unless the trainer
    /// hands over another).
    var communicator: any Communicator = SingleProcessCommunicator()
    /// KoLeo per slice of the batch, as that many ranks compute it (`emulateRanks`); 1 by default.
    var koleoShards = 1

    /// Checkpoint prefixes (the reference's `student`/`teacher` state dicts and `dino_loss.center`).
    public static let studentBackbonePrefix = "student.backbone."
    public static let studentHeadPrefix = "student.head."
    public static let teacherBackbonePrefix = "teacher.backbone."
    public static let teacherHeadPrefix = "teacher.head."
    public static let centerKey = "dino_loss.center"

    /// Builds student and teacher from `settings`, the student randomly initialised from
    /// the config's seed and the teacher a copy of it (the reference's
    /// `teacher_without_ddp.load_state_dict(student.module.state_dict())`).
    public init(settings: ResolvedDINOConfig) {
        self.settings = settings
        let root = RandomGenerator(seed: settings.config.seed)
        studentGenerator = root.fork(1)
        var teacherModel = settings.model
        teacherModel.dropPathRate = 0
        student = VisionTransformer(settings.model, generator: studentGenerator)
        teacher = VisionTransformer(teacherModel, generator: root.fork(3))
        let h = settings.config.head
        func head() -> DINOHead {
            DINOHead(config: h, inputDimensions: settings.model.embedDimensions, prototypes: settings.prototypes)
        }
        studentHead = head()
        teacherHead = head()
        let initGenerator = root.fork(2)
        student.initializeWeights(generator: initGenerator)
        studentHead.initializeWeights(generator: initGenerator)
        try! teacher.load(stateDict: student.stateDict().mapValues { $0.detach() })
        try! teacherHead.load(stateDict: studentHead.stateDict().mapValues { $0.detach() })
        teacher.freeze()
        teacherHead.freeze()
        teacher.eval()
        teacherHead.eval()
        // precision: float64 — the Float32 initialisation widened, before the groups take the tensors.
        dtype = settings.config.precision.dtype
        if dtype != .float32 {
            for m: Module in [student, studentHead, teacher, teacherHead] { m.cast(to: dtype) }
        }
        center = Tensor.zeros([1, settings.prototypes], dtype: dtype)
        parameterGroups = (student.parameterGroups(prefix: DINO.studentBackbonePrefix)
                           + studentHead.parameterGroups(prefix: DINO.studentHeadPrefix)).merged()
    }

    // MARK: Forward

    /// The student's head outputs for every view, (V·B, K): each resolution group through the
    /// backbone, then the head once.
    public func studentOutput(_ batch: MultiCropInput) -> Tensor { studentForward(batch).head }

    /// The student's backbone class tokens of the global views, (2B, D), and its head outputs
    /// for every view, (V·B, K).
    func studentForward(_ batch: MultiCropInput) -> (globalClassTokens: Tensor, head: Tensor) {
        var features = [student(batch.globalCrops)]                                      // (2B, D)
        if let local = batch.localCrops {
            features.append(student.forwardFeatures(local, local: true).classToken)      // (L·B, D)
        }
        let all = features.count == 1 ? features[0] : Tensor.concat(features, axis: 0)  // (V·B, D)
        return (features[0], studentHead(all))                                           // (V·B, K)
    }

    /// The teacher's head outputs for the global views, (2B, K), off the tape.
    public func teacherOutput(_ batch: MultiCropInput) -> Tensor {
        withNoGrad { teacherHead(teacher(batch.globalCrops)) }                           // (2B, K)
    }

    /// The teacher's normalisation (`teacher.centering`, decided for the recipe).
    var centering: CenteringMode { settings.config.teacher.centeringMode(recipe: settings.config.recipe) }

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { settings.prototypes }

    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let batch = batch.converted(to: dtype)
        let t = teacherOutput(batch)                                                     // (2B, K)
        let temperature = schedules[ScheduleValues.teacherTemperature]
        let q: Tensor                                                                    // (2B, K)
        switch centering {
        case .centering:
            q = TeacherTargets.softmaxCentered(teacherOutput: t, center: center, temperature: temperature)
        case .sinkhornKnopp:
            q = TeacherTargets.sinkhornKnopp(teacherOutput: t, prototypes: settings.prototypes, temperature: temperature,
                                             samples: t.shape[0] * communicator.size, communicator: communicator)!
        }
        let (cls, s) = studentForward(batch)                                             // (2B, D), (V·B, K)
        var loss = DINOLoss.loss(studentOutput: s, teacherProbabilities: q,
                                 studentTemperature: settings.config.studentTemperature)
        if centering == .centering {
            nextCenter = TeacherTargets.updatedCenter(center, teacherOutput: t, momentum: settings.config.teacher.centerMomentum,
                                                      communicator: communicator)
        }
        var terms: [String: Tensor] = [:]
        if settings.koleoLossWeight > 0 {
            let koleo = KoLeoLoss.sumOverGlobalCrops(cls, shards: koleoShards) * settings.koleoLossWeight
            terms[LossTerm.dino] = loss
            terms[LossTerm.koleo] = koleo
            loss = loss + koleo
        }
        terms[LossTerm.total] = loss
        terms.merge(TargetEntropy.teacherEntropies(q)) { a, _ in a }
        terms[LossTerm.featureStd] = CollapseMonitor.featureSpread(cls)
        return terms
    }

    /// DINO's one collective: the centre, a sum of the teacher outputs of all ranks.
    /// The student's drop-path draws are made on the global batch and sliced to this rank's rows.
    public func useCommunicator(_ communicator: any Communicator) {
        self.communicator = communicator
        if communicator.size > 1 {
            student.setDropPathShard(DropPath.Shard(index: communicator.rank, count: communicator.size,
                                                    samplesPerView: settings.config.batchSize / communicator.size))
        }
    }

    /// KoLeo over each of `ranks` slices of the batch, as `ranks` ranks compute it.
    public func emulateRanks(_ ranks: Int) { koleoShards = ranks }

    public func beforeOptimizerStep(schedules: ScheduleValues) {
        if schedules.iteration < settings.freezeLastLayerSteps {
            for p in studentHead.lastLayerParameters { p.value.grad = nil }
        }
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        let m = schedules[ScheduleValues.teacherMomentum]
        teacher.updateExponentialMovingAverage(of: student, momentum: m)
        teacherHead.updateExponentialMovingAverage(of: studentHead, momentum: m)
        if let next = nextCenter { withNoGrad { center.copyIn(next) } }
        nextCenter = nil
    }

    // MARK: Checkpoint state

    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [DINO.centerKey: center]
        for (name, p) in teacher.namedTensors() { out[DINO.teacherBackbonePrefix + name] = p.value }
        for (name, p) in teacherHead.namedTensors() { out[DINO.teacherHeadPrefix + name] = p.value }
        // The student's buffers (fixed scales, tables): not trained, but part of its state dict.
        for (name, p) in student.namedBuffers() { out[DINO.studentBackbonePrefix + name] = p.value }
        for (name, p) in studentHead.namedBuffers() { out[DINO.studentHeadPrefix + name] = p.value }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { ["student.drop_path": studentGenerator] }
        set {
            if let g = newValue["student.drop_path"] { studentGenerator.restore(g) }
        }
    }
}
