// Distillation as a training method: a frozen teacher's DINO and iBOT targets train a student
// with the DINOv2 objective; an EMA of the student is kept and exported.
//
// One step:
//
//     teacher   backbone(2 global crops) → CLS (2B, Dt), every patch (2B·N, Dt); its heads →
//               targets: softmax centring (EMA centres) or Sinkhorn-Knopp          (no gradient)
//     student   backbone(global crops, unmasked) → CLS (2B, Ds), every patch (2B·N, Ds);
//               backbone(local crops) → CLS; its heads (same prototypes as the teacher's).
//               A ConvNeXt student: CLS = LN(mean of its final map), patches = LN(its final
//               map resized, bilinear antialiased, to the teacher's patch grid)
//     losses    DINOv2Objective: DINO local + global, KoLeo, iBOT on all patches (weight 1/N each)
//     after     student EMA ← m·EMA + (1 − m)·student; centres ← EMA of the teacher outputs
//
// Several students (`model: a,b`) share the teacher's forward pass and targets, each with
// its own heads, optimiser and EMA (DINOv3's multi-distillation).
//
// Reference: Oquab et al., "DINOv2" (2023), §5 and appendix B; facebookresearch/dinov3
// dinov3/train/multidist_meta_arch.py.

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

/// One student of a distillation: backbone and heads, its EMA (the exported model), its
/// optimiser groups and its random generator, all named under its checkpoint prefix.
public final class DistillationStudent {
    /// The student's name: its model preset when several students train, "" when alone.
    public let name: String
    public let settings: ResolvedDINOv2Config
    /// Backbone, DINO head and (when the teacher has one) iBOT head.
    public let modules: BackboneAndHeads
    /// The exported model: an EMA of the student backbone (a ViT, or a ConvNeXt).
    public let ema: any StudentBackbone
    public let parameterGroups: [ParameterGroup]
    let generator: RandomGenerator
    /// Checkpoint names: "" alone (`student.…`, `student_ema.backbone.…`, the reference's
    /// keys), `NAME.` before them when several students train.
    public let prefix: String
    var koleoShards = 1

    /// Built from the seed exactly as a student distilled alone is (the same generator forks),
    /// so that each of several students starts, and draws, as it would alone.
    init(name: String, settings: ResolvedDINOv2Config, teacher: FrozenTeacher) {
        self.name = name
        self.settings = settings
        prefix = name.isEmpty ? "" : name + "."
        let c = settings.config
        let root = RandomGenerator(seed: c.seed)
        generator = root.fork(1)
        let student = Self.backbone(settings, generator: generator)
        ema = Self.backbone(settings, generator: root.fork(3))
        func head(_ h: HeadConfig, prototypes: Int) -> DINOHead {
            DINOHead(config: h, inputDimensions: student.embedDimensions, prototypes: prototypes)
        }
        modules = BackboneAndHeads(backbone: student, dinoHead: head(c.dino.head, prototypes: teacher.head.prototypes),
                                   ibotHead: teacher.ibotHead.map { head(c.ibot.head, prototypes: $0.prototypes) })
        let initGenerator = root.fork(2)
        student.initializeWeights(generator: initGenerator)
        modules.dinoHead.initializeWeights(generator: initGenerator)
        modules.ibotHead?.initializeWeights(generator: initGenerator)
        try! ema.load(stateDict: student.stateDict().mapValues { $0.detach() })
        ema.freeze()
        ema.eval()
        parameterGroups = modules.parameterGroups(prefix: prefix + BackboneAndHeads.studentPrefix, layerDecay: c.optim.layerwiseDecay,
                                                  patchEmbedLRMultiplier: c.optim.patchEmbedLRMultiplier)
    }

    /// The student's backbone, without stochastic depth: a DINOv3 ConvNeXt for a
    /// `ConvNeXtPresets` name (its preset's LayerScale 1e-6, as the reference builds its
    /// ConvNeXt students with the constructor's defaults), else the resolved ViT.
    static func backbone(_ settings: ResolvedDINOv2Config, generator: RandomGenerator) -> any StudentBackbone {
        if var c = ConvNeXtPresets.all[settings.config.model] {
            c.dropPathRate = 0
            return ConvNeXt(c, generator: generator)
        }
        var model = settings.model
        model.dropPathRate = 0
        return VisionTransformer(model, generator: generator)
    }

    /// `student_ema.backbone.` under the student's prefix.
    public var emaPrefix: String { prefix + Distillation.emaPrefix }
    var generatorKey: String { prefix + "student.drop_path" }
}

/// DINOv2-style distillation of a frozen teacher into one student, or into several at once
/// (DINOv3's multi-distillation): one teacher forward per batch gives the targets of every
/// student; each student has its own heads, optimiser (AdamW over its own parameter groups,
/// on the run's shared schedules) and EMA, and the total loss is the sum of theirs, so that
/// each student's gradients are exactly those it gets alone.
///
/// Reference: facebookresearch/dinov3 dinov3/train/multidist_meta_arch.py
/// (`MultiDistillationMetaArch.forward_backward`: one `get_teacher_output`, broadcast to the
/// students' rank subgroups). Under mpirun every rank runs every student on its slice of the
/// global batch instead (no rank subgroups here), which gives the one-process result with the
/// same global batch (docs/distributed.md, "Several distillation students").
public final class Distillation: TrainingMethod {
    public typealias Batch = MultiCropInput

    public let teacher: FrozenTeacher
    /// The students, in the order of `model` (one when alone).
    public let students: [DistillationStudent]
    /// The first student's settings, modules and EMA (the only one's when alone).
    public var settings: ResolvedDINOv2Config { students[0].settings }
    public var studentModules: BackboneAndHeads { students[0].modules }
    /// The first student's backbone and EMA as ViTs (`studentModules.backbone`, `students[0].ema`
    /// for any backbone).
    public var student: VisionTransformer { studentModules.backbone as! VisionTransformer }
    public var studentHead: DINOHead { studentModules.dinoHead }
    public var studentIBOTHead: DINOHead? { studentModules.ibotHead }
    public var studentEMA: VisionTransformer { students[0].ema as! VisionTransformer }
    /// Running centres of the teacher's DINO and iBOT outputs (softmax centring), shared.
    public let centres: TeacherCentres
    public var parameterGroups: [ParameterGroup] { students.flatMap(\.parameterGroups) }

    public static let emaPrefix = "student_ema.backbone."
    /// The patches of the global crops that iBOT compares.
    public let ibotPatches: DistillationConfig.IBOTPatches
    /// The global crops are shrunk by 1/scale before teacher and students (nil: not resized).
    public let resolutionScale: Double?

    /// - Parameters:
    ///   - settings: the student's resolved DINOv2 settings (stochastic depth 0).
    ///   - teacher: the frozen teacher; the student's heads get its heads' prototype counts.
    public convenience init(settings: ResolvedDINOv2Config, teacher: FrozenTeacher) {
        self.init(students: [(name: "", settings: settings)], teacher: teacher)
    }

    /// Several students of one teacher, each named (their checkpoint prefix) and with its own
    /// resolved settings; one student named "" is the single-student method.
    ///   - ibotPatches: the patches iBOT compares (`DistillationConfig.ibotPatches`).
    ///   - resolutionScale: `teacher_to_student_resolution_scale`; nil: 1.
    public init(students: [(name: String, settings: ResolvedDINOv2Config)], teacher: FrozenTeacher,
                ibotPatches: DistillationConfig.IBOTPatches = .all, resolutionScale: Double? = nil) {
        self.ibotPatches = ibotPatches
        self.resolutionScale = resolutionScale == 1 ? nil : resolutionScale
        precondition(!students.isEmpty && (students.count == 1 || students.allSatisfy { !$0.name.isEmpty }),
                     "Distillation: one student, or several with names")
        self.teacher = teacher
        self.students = students.map { DistillationStudent(name: $0.name, settings: $0.settings, teacher: teacher) }
        centres = TeacherCentres(dinoPrototypes: teacher.head.prototypes, ibotPrototypes: (teacher.ibotHead ?? teacher.head).prototypes)
    }

    /// One AdamW per student, named by the student ("" alone: the single-student checkpoint).
    public var optimizerGroups: [(name: String, groups: [ParameterGroup])] {
        students.map { (name: $0.name, groups: $0.parameterGroups) }
    }

    public var clippingModules: [(name: String, parameters: [Tensor])] {
        students.flatMap { s in s.modules.clippingModules.map { (name: s.prefix + $0.name, parameters: $0.parameters) } }
    }

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { teacher.head.prototypes }

    /// The loss terms. Alone: the DINOv2 objective's. Several students: `loss` the sum of
    /// theirs, each student's terms as `NAME/term`, and the first student's terms under their
    /// plain names (the teacher's entropies, the same for all, and the first student's feature
    /// spread, for the collapse monitor).
    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let c = settings.config
        let temperature = schedules[ScheduleValues.teacherTemperature]
        let useIBOT = c.ibot.lossWeight > 0
        // `ibot_patches: masked`: the rows of the mask indices (a batch without masked patches
        // has no iBOT term); `all`: every row.
        let mask: (indices: [Int], weights: Tensor)? = ibotPatches == .masked
            ? batch.masks.flatMap { $0.indices.count > 0 ? ($0.indices.indices, $0.weights) : nil } : nil
        let ibotOn = useIBOT && (ibotPatches == .all || mask != nil)
        var batch = batch
        if let scale = resolutionScale {
            // The global crops shrunk by 1/scale (bilinear, antialiased), for teacher and students.
            let g = batch.globalCrops
            batch.globalCrops = resizeBilinearAntialiased(g, height: Int((Double(g.shape[2]) / scale).rounded(.down)),
                                                          width: Int((Double(g.shape[3]) / scale).rounded(.down)))
        }

        // Teacher: global crops, the iBOT patches; once for all students.
        let (dinoTargets, ibotTargets, grid) = withNoGrad { () -> (Tensor, Tensor?, (height: Int, width: Int)) in
            let f = teacher.backbone.forwardFeatures(batch.globalCrops)
            let n = f.patchTokens.shape[1]
            var patches = ibotOn ? f.patchTokens.reshape([-1, teacher.backbone.embedDimensions]) : nil    // (2B·N, Dt)
            if let mask { patches = patches?.indexSelect(axis: 0, indices: mask.indices) }                 // (M, Dt)
            let t = teacher.head(f.classToken)                                                            // (2B, K)
            let tp = patches.map { (teacher.ibotHead ?? teacher.head)($0) }                               // (2B·N or M, K')
            let q = centres.targets(cls: t, patches: tp, ibot: useIBOT, mode: c.teacher.centeringMode(recipe: c.recipe), temperature: temperature,
                                    momentum: c.teacher.centerMomentum, patchGroups: emulatedPatchGroups(batch, mask?.indices))
            precondition(n == f.grid.height * f.grid.width)
            return (q.cls, q.patches, f.grid)
        }
        let patchCount = grid.height * grid.width

        // Each student: unmasked global crops, local crops; iBOT on every patch (each weighing
        // 1/N) or on the masked ones (the mask weights), its patch tokens on the teacher's grid
        // (a ConvNeXt's final map resized to it).
        let rows = batch.globalCrops.shape[0] * patchCount
        let weights = mask?.weights ?? (ibotOn ? Tensor.full([rows], 1 / Double(patchCount)) : nil)
        let perStudent = students.map { s in
            let inputs = s.modules.dinov2StudentInputs(
                batch, masks: nil, patchRows: { p in ibotOn ? mask.map { p.indexSelect(axis: 0, indices: $0.indices) } ?? p : nil },
                koleo: s.settings.config.dino.koleoLossWeight > 0,
                teacherTargets: dinoTargets, teacherPatchTargets: ibotTargets, maskWeights: weights,
                patchGrid: ibotOn ? grid : nil)
            var terms = DINOv2Objective.losses(inputs, config: s.settings.config, koleoShards: s.koleoShards)
            // Across ranks every rank logs the same terms: a rank whose slice of the global
            // batch's masks holds no masked patch has an iBOT term of 0 (a separate iBOT head's
            // gradients then all-reduce as zeros from it).
            if centres.communicator.size > 1 && useIBOT && terms[LossTerm.ibot] == nil {
                terms[LossTerm.ibot] = Tensor.zeros([], dtype: terms[LossTerm.total]!.dtype)
            }
            return terms
        }
        if students.count == 1 { return perStudent[0] }
        var out = perStudent[0]
        out[LossTerm.total] = perStudent.dropFirst().reduce(perStudent[0][LossTerm.total]!) { $0 + $1[LossTerm.total]! }
        for (s, terms) in zip(students, perStudent) {
            for (k, v) in terms { out[s.name + "/" + k] = v }
        }
        return out
    }

    /// KoLeo per slice of the batch, and with `ibot_patches: masked` the iBOT centre as the
    /// mean of the slices' means, as `ranks` ranks compute them. (With iBOT on every patch each
    /// slice has as many patches, and the mean of the means is the mean.)
    public func emulateRanks(_ ranks: Int) { for s in students { s.koleoShards = ranks } }

    /// With `emulateRanks` and `ibot_patches: masked`, the slice (rank) of each masked patch:
    /// its view row v·B + i is on rank i / (B / ranks). nil when not emulating.
    func emulatedPatchGroups(_ batch: MultiCropInput, _ indices: [Int]?) -> [Int]? {
        let ranks = students[0].koleoShards
        guard ranks > 1, let indices, let masks = batch.masks else { return nil }
        let b = masks.count / 2, perRank = b / ranks
        return indices.map { (($0 / masks.patches) % b) / perRank }
    }

    /// The centres and Sinkhorn-Knopp sums over all ranks; the student's drop-path draws made on
    /// the global batch and sliced to this rank's rows.
    public func useCommunicator(_ communicator: any Communicator) {
        centres.communicator = communicator
        if communicator.size > 1 {
            for s in students {
                s.modules.backbone.setDropPathShard(DropPath.Shard(index: communicator.rank, count: communicator.size,
                                                                   samplesPerView: s.settings.config.batchSize / communicator.size))
            }
        }
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        for s in students {
            s.ema.updateExponentialMovingAverage(of: s.modules.backbone, momentum: schedules[ScheduleValues.teacherMomentum])
        }
        centres.applyUpdate()
    }

    public func stateTensors() -> [String: Tensor] {
        var out = centres.stateTensors
        for s in students {
            for (name, p) in s.ema.namedTensors() { out[s.emaPrefix + name] = p.value }
            out.merge(s.modules.namedTensors(prefix: s.prefix + BackboneAndHeads.studentPrefix, buffersOnly: true)) { a, _ in a }
        }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { Dictionary(uniqueKeysWithValues: students.map { ($0.generatorKey, $0.generator) }) }
        set { for s in students { if let g = newValue[s.generatorKey] { s.generator.restore(g) } } }
    }
}
