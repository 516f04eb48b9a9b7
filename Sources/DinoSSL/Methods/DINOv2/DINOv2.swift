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
    public let student: VisionTransformer
    public let teacher: VisionTransformer
    public let studentHead: DINOHead
    public let teacherHead: DINOHead
    /// The iBOT heads when `ibot.separate_head`.
    public let studentIBOTHead: DINOHead?
    public let teacherIBOTHead: DINOHead?
    /// Running centres (1, K) of the DINO and iBOT teacher outputs (softmax centring).
    public let dinoCenter: Tensor
    public let ibotCenter: Tensor
    let studentGenerator: RandomGenerator
    public let parameterGroups: [ParameterGroup]
    var nextCenters: (dino: Tensor?, ibot: Tensor?) = (nil, nil)

    public static let studentPrefix = "student."
    public static let teacherPrefix = "teacher."
    public static let dinoCenterKey = "dino_loss.center"
    public static let ibotCenterKey = "ibot_patch_loss.center"

    public init(settings: ResolvedDINOv2Config) {
        self.settings = settings
        let c = settings.config
        let root = RandomGenerator(seed: c.seed)
        studentGenerator = root.fork(1)
        var teacherModel = settings.model
        teacherModel.dropPathRate = 0
        student = VisionTransformer(settings.model, generator: studentGenerator)
        teacher = VisionTransformer(teacherModel, generator: root.fork(3))
        func head(_ h: DINOConfig.Head, prototypes: Int) -> DINOHead {
            DINOHead(inputDimensions: settings.model.embedDimensions, prototypes: prototypes, hiddenDimensions: h.hiddenDimensions,
                     bottleneckDimensions: h.bottleneckDimensions, layers: h.layers, normLastLayer: h.normLastLayer)
        }
        studentHead = head(c.dino.head, prototypes: settings.prototypes)
        teacherHead = head(c.dino.head, prototypes: settings.prototypes)
        if c.ibot.separateHead {
            studentIBOTHead = head(c.ibot.head, prototypes: settings.ibotPrototypes)
            teacherIBOTHead = head(c.ibot.head, prototypes: settings.ibotPrototypes)
        } else {
            studentIBOTHead = nil
            teacherIBOTHead = nil
        }
        let initGenerator = root.fork(2)
        student.initializeWeights(generator: initGenerator)
        studentHead.initializeWeights(generator: initGenerator)
        studentIBOTHead?.initializeWeights(generator: initGenerator)
        for (s, t) in zip(DINOv2.modules(student, studentHead, studentIBOTHead), DINOv2.modules(teacher, teacherHead, teacherIBOTHead)) {
            try! t.module.load(stateDict: s.module.stateDict().mapValues { $0.detach() })
            t.module.freeze()
            t.module.eval()
        }
        dinoCenter = Tensor.zeros([1, settings.prototypes])
        ibotCenter = Tensor.zeros([1, settings.ibotPrototypes])
        var groups = student.parameterGroups(prefix: DINOv2.studentPrefix + "backbone.", layerDecay: c.optim.layerwiseDecay,
                                             patchEmbedLRMultiplier: c.optim.patchEmbedLRMultiplier)
        groups += DINOv2.headGroups(studentHead, prefix: DINOv2.studentPrefix + "dino_head.")
        if let h = studentIBOTHead { groups += DINOv2.headGroups(h, prefix: DINOv2.studentPrefix + "ibot_head.") }
        parameterGroups = DINO.mergedGroups(groups)
    }

    /// (name, module) of backbone and heads, in the reference's `ModuleDict` order.
    static func modules(_ backbone: VisionTransformer, _ head: DINOHead, _ ibot: DINOHead?) -> [(name: String, module: Module)] {
        [(name: "backbone", module: backbone), (name: "dino_head", module: head)] + (ibot.map { [(name: "ibot_head", module: $0)] } ?? [])
    }

    /// A head's groups, with the last layer on the `last_layer_lr` schedule (frozen by a zero
    /// learning rate at the start, as DINOv2's `is_last_layer` groups).
    static func headGroups(_ head: DINOHead, prefix: String) -> [ParameterGroup] {
        let last = Set(head.lastLayerParameters.map { ObjectIdentifier($0.value) })
        var out: [ParameterGroup] = []
        for g in head.parameterGroups(prefix: prefix) {
            var rest = g, tail = g
            rest.parameters = []; rest.names = []; tail.parameters = []; tail.names = []
            for (p, n) in zip(g.parameters, g.names) {
                if last.contains(ObjectIdentifier(p)) { tail.parameters.append(p); tail.names.append(n) }
                else { rest.parameters.append(p); rest.names.append(n) }
            }
            if !rest.parameters.isEmpty { out.append(rest) }
            if !tail.parameters.isEmpty {
                tail.role = "last_layer_" + g.role
                tail.learningRateSchedule = ScheduleValues.lastLayerLearningRate
                out.append(tail)
            }
        }
        return out
    }

    public var clippingModules: [(name: String, parameters: [Tensor])] {
        DINOv2.modules(student, studentHead, studentIBOTHead).map { m in
            (name: m.name, parameters: m.module.parameters().map(\.value))
        }
    }

    // MARK: Step

    /// The flat indices of the masked patches of the 2B global crops, and their weights.
    func masked(_ batch: MultiCropInput) -> (indices: [Int], weights: Tensor, tensor: Tensor)? {
        guard settings.config.ibot.lossWeight > 0, let m = batch.masks, m.indices.count > 0 else { return nil }
        return (m.indices.indices, m.weights, m.tensor)
    }

    /// Runs `head` (and the iBOT head when separate) on CLS rows and patch rows.
    func heads(_ head: DINOHead, _ ibot: DINOHead?, cls: [Tensor], patches: Tensor?) -> (cls: [Tensor], patches: Tensor?) {
        if let ibot, let patches {
            let out = head(Tensor.concat(cls, axis: 0))
            return (out.split(sizes: cls.map { $0.shape[0] }, axis: 0), ibot(patches))
        }
        let rows = cls + (patches.map { [$0] } ?? [])
        let out = head(rows.count == 1 ? rows[0] : Tensor.concat(rows, axis: 0))          // (Σ rows, K)
        let parts = out.split(sizes: rows.map { $0.shape[0] }, axis: 0)
        return (Array(parts.prefix(cls.count)), patches == nil ? nil : parts.last)
    }

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { settings.prototypes }

    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let c = settings.config
        let temperature = schedules[ScheduleValues.teacherTemperature]
        let mask = masked(batch)
        let d = settings.model.embedDimensions

        // Teacher: unmasked global crops.
        let (dinoTargets, ibotTargets) = withNoGrad { () -> (Tensor, Tensor?) in
            let f = teacher.forwardFeatures(batch.globalCrops)                                      // CLS (2B, D), patches (2B, N, D)
            let patches = mask.map { f.patchTokens.reshape([-1, d]).indexSelect(axis: 0, indices: $0.indices) }  // (M, D)
            let out = heads(teacherHead, teacherIBOTHead, cls: [f.classToken], patches: patches)
            let t = out.cls[0]                                                                      // (2B, K)
            switch c.teacher.centering {
            case .centering:
                let q = TeacherCentering.softmaxCentered(teacherOutput: t, center: dinoCenter, temperature: temperature)
                nextCenters.dino = TeacherCentering.updatedCenter(dinoCenter, teacherOutput: t, momentum: c.teacher.centerMomentum)
                var qp: Tensor? = nil
                if let p = out.patches {
                    qp = TeacherCentering.softmaxCentered(teacherOutput: p, center: ibotCenter, temperature: temperature)
                    nextCenters.ibot = TeacherCentering.updatedCenter(ibotCenter, teacherOutput: p, momentum: c.teacher.centerMomentum)
                }
                return (q, qp)
            case .sinkhornKnopp:
                let q = TeacherCentering.sinkhornKnopp(teacherOutput: t, temperature: temperature)
                let qp = out.patches.map { TeacherCentering.sinkhornKnopp(teacherOutput: $0, temperature: temperature, samples: $0.shape[0]) }
                return (q, qp)
            }
        }

        // Student: masked global crops, local crops.
        let global = student.forwardFeatures(batch.globalCrops, masks: mask?.tensor)              // CLS (2B, D)
        var cls = [global.classToken]
        if let local = batch.localCrops {
            cls.insert(student.forwardFeatures(local, local: true).classToken, at: 0)             // (L·B, D) first, as the reference
        }
        let patches = mask.map { global.patchTokens.reshape([-1, d]).indexSelect(axis: 0, indices: $0.indices) }  // (M, D)
        let out = heads(studentHead, studentIBOTHead, cls: cls, patches: patches)
        let inputs = DINOv2LossInputs(
            studentGlobal: out.cls.last!, studentLocal: batch.localCrops == nil ? nil : out.cls[0],
            teacherTargets: dinoTargets,
            studentBackboneCls: c.dino.koleoLossWeight > 0 ? global.classToken : nil,
            studentMaskedPatches: out.patches, teacherPatchTargets: ibotTargets, maskWeights: mask?.weights)
        var terms = DINOv2Objective.losses(inputs, weights: DINOv2LossWeights(dino: c.dino.lossWeight, koleo: c.dino.koleoLossWeight,
                                                                              ibot: c.ibot.lossWeight),
                                           studentTemperature: c.studentTemperature)
        terms.merge(DINO.teacherEntropies(dinoTargets)) { a, _ in a }
        terms[CollapseMonitor.featureStd] = CollapseMonitor.featureSpread(global.classToken)
        return terms
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        let m = schedules[ScheduleValues.teacherMomentum]
        withNoGrad {
            let s = DINOv2.modules(student, studentHead, studentIBOTHead).flatMap { $0.module.parameters().map(\.value) }
            let t = DINOv2.modules(teacher, teacherHead, teacherIBOTHead).flatMap { $0.module.parameters().map(\.value) }
            updateExponentialMovingAverage(teacher: t, student: s, momentum: m)
            if let next = nextCenters.dino { dinoCenter.copyIn(next) }
            if let next = nextCenters.ibot { ibotCenter.copyIn(next) }
        }
        nextCenters = (nil, nil)
    }

    // MARK: Checkpoint state

    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [DINOv2.dinoCenterKey: dinoCenter, DINOv2.ibotCenterKey: ibotCenter]
        for m in DINOv2.modules(teacher, teacherHead, teacherIBOTHead) {
            for (name, p) in m.module.namedTensors() { out[DINOv2.teacherPrefix + m.name + "." + name] = p.value }
        }
        for m in DINOv2.modules(student, studentHead, studentIBOTHead) {
            for (name, p) in m.module.namedBuffers() { out[DINOv2.studentPrefix + m.name + "." + name] = p.value }
        }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { ["student.drop_path": studentGenerator] }
        set { if let g = newValue["student.drop_path"] { studentGenerator.restore(g) } }
    }
}
