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

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A batch of multi-crop views of B images, view-major (rows `v·B ..< (v+1)·B` are view v).
public struct MultiCropInput {
    /// (2B, C, G, G): global views 0 and 1.
    public var globalCrops: Tensor
    /// (L·B, C, l, l): the local views, or nil without multi-crop.
    public var localCrops: Tensor?
    /// iBOT masks of the 2B global views (DINOv2/v3), or nil.
    public var masks: BatchMasks?

    public init(globalCrops: Tensor, localCrops: Tensor?, masks: BatchMasks? = nil) {
        precondition(globalCrops.rank == 4 && globalCrops.shape[0] % 2 == 0,
                     "MultiCropInput: global crops must be (2B, C, H, W), got \(globalCrops.shape)")
        if let localCrops {
            precondition(localCrops.rank == 4 && localCrops.shape[0] % (globalCrops.shape[0] / 2) == 0,
                         "MultiCropInput: local crops \(localCrops.shape) are not whole views of \(globalCrops.shape[0] / 2) images")
        }
        if let masks {
            precondition(masks.count == globalCrops.shape[0],
                         "MultiCropInput: masks of \(masks.count) views for \(globalCrops.shape[0]) global crops")
        }
        self.globalCrops = globalCrops
        self.localCrops = localCrops
        self.masks = masks
    }

    /// B, the number of images.
    public var images: Int { globalCrops.shape[0] / 2 }
    /// V, the number of views (2 + L).
    public var views: Int { 2 + (localCrops.map { $0.shape[0] / images } ?? 0) }
}

/// Teacher ← m · teacher + (1 − m) · student, element by element, in place and off the tape.
///
/// Reference: facebookresearch/dino `main_dino.py` (`param_k.data.mul_(m).add_((1 - m) * param_q)`).
public func updateExponentialMovingAverage(teacher: [Tensor], student: [Tensor], momentum m: Double) {
    precondition(teacher.count == student.count, "EMA: \(teacher.count) teacher tensors for \(student.count) student tensors")
    for (t, s) in zip(teacher, student) {
        precondition(t.shape == s.shape && t.dtype == s.dtype && t.isContiguous,
                     "EMA: teacher tensor \(t.shape) \(t.dtype) and student tensor \(s.shape) \(s.dtype) differ")
        let src = s.isContiguous ? s : s.contiguousCopy()
        func run<T: TensorScalar>(_: T.Type) {
            let tp = t.pointer(T.self), sp = src.pointer(T.self)
            let keep = T(m), take = T(1 - m)
            parallelFor(t.count, grain: 32_768) { r in
                for i in r { tp[i] = tp[i] * keep + take * sp[i] }
            }
        }
        switch t.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
    }
}

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
    /// Drop-path masks of the student.
    let studentGenerator: RandomGenerator
    public let parameterGroups: [ParameterGroup]
    /// The centre for the next step, computed with this step's teacher output.
    var nextCenter: Tensor?

    /// Checkpoint prefixes (the reference's `student`/`teacher` state dicts and `dino_loss.center`).
    public static let studentBackbonePrefix = "student.backbone."
    public static let studentHeadPrefix = "student.head."
    public static let teacherBackbonePrefix = "teacher.backbone."
    public static let teacherHeadPrefix = "teacher.head."
    public static let centerKey = "dino_loss.center"
    /// The DINO term's name when KoLeo is on (logged beside `DINOv2Objective.koleoTerm`; their
    /// sum is "loss").
    public static let dinoTerm = "dino_loss"

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
            DINOHead(inputDimensions: settings.model.embedDimensions, prototypes: settings.prototypes,
                     hiddenDimensions: h.hiddenDimensions, bottleneckDimensions: h.bottleneckDimensions,
                     layers: h.layers, normLastLayer: h.normLastLayer)
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
        center = Tensor.zeros([1, settings.prototypes])
        parameterGroups = DINO.mergedGroups(
            student.parameterGroups(prefix: DINO.studentBackbonePrefix)
                + studentHead.parameterGroups(prefix: DINO.studentHeadPrefix))
    }

    /// Groups of equal multipliers merged (backbone and head each declare decay / no-decay).
    static func mergedGroups(_ groups: [ParameterGroup]) -> [ParameterGroup] {
        var out: [ParameterGroup] = []
        for g in groups {
            if let i = out.firstIndex(where: { $0.lrMultiplier == g.lrMultiplier && $0.weightDecayMultiplier == g.weightDecayMultiplier
                                              && $0.learningRateSchedule == g.learningRateSchedule
                                              && $0.weightDecaySchedule == g.weightDecaySchedule }) {
                out[i].parameters += g.parameters
                out[i].names += g.names
            } else {
                out.append(g)
            }
        }
        return out
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

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { settings.prototypes }

    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let t = teacherOutput(batch)                                                     // (2B, K)
        let q = DINOLoss.teacherProbabilities(teacherOutput: t, center: center,
                                              temperature: schedules[ScheduleValues.teacherTemperature])
        let (cls, s) = studentForward(batch)                                             // (2B, D), (V·B, K)
        var loss = DINOLoss.loss(studentOutput: s, teacherProbabilities: q,
                                 studentTemperature: settings.config.studentTemperature)
        nextCenter = DINOLoss.updatedCenter(center, teacherOutput: t, momentum: settings.config.teacher.centerMomentum)
        var terms: [String: Tensor] = [:]
        if settings.koleoLossWeight > 0 {
            let koleo = KoLeoLoss.sumOverGlobalCrops(cls) * settings.koleoLossWeight
            terms[DINO.dinoTerm] = loss
            terms[DINOv2Objective.koleoTerm] = koleo
            loss = loss + koleo
        }
        terms["loss"] = loss
        terms.merge(DINO.teacherEntropies(q)) { a, _ in a }
        terms[CollapseMonitor.featureStd] = CollapseMonitor.featureSpread(cls)
        return terms
    }

    /// Collapse monitors from the teacher's targets q (G·B, K), in nats: the mean entropy of
    /// one target (0 when every target is one-hot) and the entropy of the mean target (log K
    /// when the prototypes are used evenly). Collapse to one prototype drives both to 0;
    /// collapse to the uniform distribution drives both to log K.
    static func teacherEntropies(_ q: Tensor) -> [String: Tensor] {
        withNoGrad {
            let rows = Double(q.shape[0])
            let plogp = q * q.clamp(min: 1e-30).log()                                     // (G·B, K)
            let mean = q.mean(axes: [0])                                                  // (K)
            let meanEntropy = -(mean * mean.clamp(min: 1e-30).log()).sum()
            return ["teacher_entropy": -plogp.sum() * (1 / rows), "teacher_mean_entropy": meanEntropy]
        }
    }

    public func beforeOptimizerStep(schedules: ScheduleValues) {
        if schedules.iteration < settings.freezeLastLayerSteps {
            for p in studentHead.lastLayerParameters { p.value.grad = nil }
        }
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        let m = schedules[ScheduleValues.teacherMomentum]
        withNoGrad {
            updateExponentialMovingAverage(teacher: teacher.parameters().map(\.value) + teacherHead.parameters().map(\.value),
                                           student: student.parameters().map(\.value) + studentHead.parameters().map(\.value),
                                           momentum: m)
            if let next = nextCenter { center.copyIn(next) }
        }
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
