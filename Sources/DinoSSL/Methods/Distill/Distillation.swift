// Distillation as a training method: a frozen teacher's DINO and iBOT targets train a student
// with the DINOv2 objective; an EMA of the student is kept and exported.
//
// One step:
//
//     teacher   backbone(2 global crops) → CLS (2B, Dt), every patch (2B·N, Dt); its heads →
//               targets: softmax centring (EMA centres) or Sinkhorn-Knopp          (no gradient)
//     student   backbone(global crops, unmasked) → CLS (2B, Ds), every patch (2B·N, Ds);
//               backbone(local crops) → CLS; its heads (same prototypes as the teacher's)
//     losses    DINOv2Objective: DINO local + global, KoLeo, iBOT on all patches (weight 1/N each)
//     after     student EMA ← m·EMA + (1 − m)·student; centres ← EMA of the teacher outputs
//
// Reference: Oquab et al., "DINOv2" (2023), §5 and appendix B.

import DinoDistributed
import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A frozen teacher: backbone and heads, in evaluation mode, without gradients.
public struct FrozenTeacher {
    public let backbone: VisionTransformer
    public let head: DINOHead
    /// The iBOT head when the teacher has a separate one.
    public let ibotHead: DINOHead?

    public init(backbone: VisionTransformer, head: DINOHead, ibotHead: DINOHead?) {
        self.backbone = backbone
        self.head = head
        self.ibotHead = ibotHead
        for m in [backbone, head] + (ibotHead.map { [$0] } ?? []) as [Module] {
            m.freeze()
            m.eval()
        }
    }

    /// A head rebuilt from checkpoint tensors under `prefix` (its shape read from them).
    static func head(_ tensors: [String: Tensor], prefix: String) throws -> DINOHead? {
        var own: [String: Tensor] = [:]
        for (k, t) in tensors where k.hasPrefix(prefix) { own[String(k.dropFirst(prefix.count))] = t }
        guard let v = own["last_layer.weight_v"] else { return nil }
        let linear = own.keys.filter { $0.hasPrefix("mlp.") && $0.hasSuffix(".weight") }
            .compactMap { Int($0.split(separator: ".")[1]) }.sorted()
        guard let first = linear.first.flatMap({ own["mlp.\($0).weight"] }) else {
            throw CheckpointError.mismatch("head '\(prefix)' has a last layer but no MLP")
        }
        let head = DINOHead(inputDimensions: first.shape[1], prototypes: v.shape[0],
                            hiddenDimensions: linear.count > 1 ? first.shape[0] : 1,
                            bottleneckDimensions: v.shape[1], layers: linear.count, normLastLayer: false)
        try head.load(stateDict: own, strict: false)
        return head
    }

    /// The teacher of a run (DINO, DINOv2, or any method that exports heads): its exported
    /// backbone and the heads its method names, from the newest checkpoint.
    public static func fromRun(_ runDirectory: URL) throws -> FrozenTeacher {
        let exported = try TrainingRun.exportedModel(in: runDirectory)
        let (backbone, _) = try TrainingRun.loadBackbone(run: runDirectory)
        let checkpoint = try TrainingRun.newestCheckpoint(of: runDirectory)
        let t = checkpoint.tensors
        guard let prefix = exported.dinoHeadPrefix, let head = try head(t, prefix: prefix) else {
            throw CheckpointError.mismatch("\(checkpoint.url.lastPathComponent) holds no teacher head")
        }
        return FrozenTeacher(backbone: backbone, head: head, ibotHead: try exported.ibotHeadPrefix.flatMap { try Self.head(t, prefix: $0) })
    }

    /// A backbone with its weights and new heads drawn from `generator` (frozen, so a fixed
    /// random projection of the teacher's features onto the prototypes).
    public static func fromBackbone(_ backbone: VisionTransformer, head h: HeadConfig, prototypes: Int,
                                    generator: RandomGenerator) -> FrozenTeacher {
        let head = DINOHead(config: h, inputDimensions: backbone.embedDimensions, prototypes: prototypes)
        head.initializeWeights(generator: generator)
        return FrozenTeacher(backbone: backbone, head: head, ibotHead: nil)
    }
}

/// DINOv2-style distillation of a frozen teacher into a student.
public final class Distillation: TrainingMethod {
    public typealias Batch = MultiCropInput

    public let settings: ResolvedDINOv2Config
    public let teacher: FrozenTeacher
    /// The student: backbone, DINO head and (when the teacher has one) iBOT head.
    public let studentModules: BackboneAndHeads
    public var student: VisionTransformer { studentModules.backbone }
    public var studentHead: DINOHead { studentModules.dinoHead }
    public var studentIBOTHead: DINOHead? { studentModules.ibotHead }
    /// The exported model: an EMA of the student backbone.
    public let studentEMA: VisionTransformer
    /// Running centres of the teacher's DINO and iBOT outputs (softmax centring).
    public let centres: TeacherCentres
    public let parameterGroups: [ParameterGroup]
    let studentGenerator: RandomGenerator

    public static let emaPrefix = "student_ema.backbone."

    /// - Parameters:
    ///   - settings: the student's resolved DINOv2 settings (stochastic depth 0).
    ///   - teacher: the frozen teacher; the student's heads get its heads' prototype counts.
    public init(settings: ResolvedDINOv2Config, teacher: FrozenTeacher) {
        self.settings = settings
        self.teacher = teacher
        let c = settings.config
        let root = RandomGenerator(seed: c.seed)
        studentGenerator = root.fork(1)
        var model = settings.model
        model.dropPathRate = 0
        func head(_ h: HeadConfig, prototypes: Int) -> DINOHead {
            DINOHead(config: h, inputDimensions: model.embedDimensions, prototypes: prototypes)
        }
        let student = VisionTransformer(model, generator: studentGenerator)
        studentEMA = VisionTransformer(model, generator: root.fork(3))
        studentModules = BackboneAndHeads(backbone: student, dinoHead: head(c.dino.head, prototypes: teacher.head.prototypes),
                                          ibotHead: teacher.ibotHead.map { head(c.ibot.head, prototypes: $0.prototypes) })
        let initGenerator = root.fork(2)
        student.initializeWeights(generator: initGenerator)
        studentModules.dinoHead.initializeWeights(generator: initGenerator)
        studentModules.ibotHead?.initializeWeights(generator: initGenerator)
        try! studentEMA.load(stateDict: student.stateDict().mapValues { $0.detach() })
        studentEMA.freeze()
        studentEMA.eval()
        centres = TeacherCentres(dinoPrototypes: teacher.head.prototypes, ibotPrototypes: (teacher.ibotHead ?? teacher.head).prototypes)
        parameterGroups = studentModules.parameterGroups(prefix: BackboneAndHeads.studentPrefix, layerDecay: c.optim.layerwiseDecay,
                                                         patchEmbedLRMultiplier: c.optim.patchEmbedLRMultiplier)
    }

    public var clippingModules: [(name: String, parameters: [Tensor])] { studentModules.clippingModules }

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { teacher.head.prototypes }

    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let c = settings.config
        let temperature = schedules[ScheduleValues.teacherTemperature]
        let useIBOT = c.ibot.lossWeight > 0

        // Teacher: global crops, every patch.
        let (dinoTargets, ibotTargets, patchCount) = withNoGrad { () -> (Tensor, Tensor?, Int) in
            let f = teacher.backbone.forwardFeatures(batch.globalCrops)
            let n = f.patchTokens.shape[1]
            let patches = useIBOT ? f.patchTokens.reshape([-1, teacher.backbone.embedDimensions]) : nil  // (2B·N, Dt)
            let t = teacher.head(f.classToken)                                                            // (2B, K)
            let tp = patches.map { (teacher.ibotHead ?? teacher.head)($0) }                               // (2B·N, K')
            let q = centres.targets(cls: t, patches: tp, ibot: useIBOT, mode: c.teacher.centeringMode(recipe: c.recipe), temperature: temperature,
                                    momentum: c.teacher.centerMomentum)
            return (q.cls, q.patches, n)
        }

        // Student: unmasked global crops, local crops; iBOT on every patch, each weighing 1/N.
        let rows = batch.globalCrops.shape[0] * patchCount
        let inputs = studentModules.dinov2StudentInputs(
            batch, masks: nil, patchRows: { useIBOT ? $0 : nil }, koleo: c.dino.koleoLossWeight > 0,
            teacherTargets: dinoTargets, teacherPatchTargets: ibotTargets,
            maskWeights: useIBOT ? Tensor.full([rows], 1 / Double(patchCount)) : nil)
        return DINOv2Objective.losses(inputs, config: c, koleoShards: koleoShards)
    }

    /// KoLeo per slice of the batch, as that many ranks compute it (`emulateRanks`); 1 by default.
    var koleoShards = 1

    /// KoLeo over each of `ranks` slices of the batch, as `ranks` ranks compute it.
    public func emulateRanks(_ ranks: Int) { koleoShards = ranks }

    /// The centres and Sinkhorn-Knopp sums over all ranks; the student's drop-path draws made on
    /// the global batch and sliced to this rank's rows.
    public func useCommunicator(_ communicator: any Communicator) {
        centres.communicator = communicator
        if communicator.size > 1 {
            student.setDropPathShard(DropPath.Shard(index: communicator.rank, count: communicator.size,
                                                    samplesPerView: settings.config.batchSize / communicator.size))
        }
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        studentEMA.updateExponentialMovingAverage(of: student, momentum: schedules[ScheduleValues.teacherMomentum])
        centres.applyUpdate()
    }

    public func stateTensors() -> [String: Tensor] {
        var out = centres.stateTensors
        for (name, p) in studentEMA.namedTensors() { out[Distillation.emaPrefix + name] = p.value }
        out.merge(studentModules.namedTensors(prefix: BackboneAndHeads.studentPrefix, buffersOnly: true)) { a, _ in a }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { ["student.drop_path": studentGenerator] }
        set { if let g = newValue["student.drop_path"] { studentGenerator.restore(g) } }
    }
}
