// What DINOv2 and distillation share around their heads: the backbone-and-heads modules in
// the reference's order, their parameter groups (the last layer on its own schedule), running
// the DINO head (and the iBOT head when separate) on CLS and patch rows, and the checkpoint
// names of both.
//
// Reference: facebookresearch/dinov2 dinov2/train/ssl_meta_arch.py (`student`/`teacher`
// `ModuleDict`s of backbone, dino_head, ibot_head), dinov2/utils/param_groups.py
// (`is_last_layer` groups).

import DinoModels
import DinoNN
import DinoTensor

/// A backbone (a ViT; in distillation also a ConvNeXt) with its DINO head and, when
/// separate, its iBOT head.
public struct BackboneAndHeads {
    public let backbone: any StudentBackbone
    public let dinoHead: DINOHead
    public let ibotHead: DINOHead?

    /// Checkpoint names (the reference's state-dict keys): `student.backbone.…`,
    /// `teacher.dino_head.…`.
    public static let studentPrefix = "student."
    public static let teacherPrefix = "teacher."

    public init(backbone: any StudentBackbone, dinoHead: DINOHead, ibotHead: DINOHead?) {
        self.backbone = backbone
        self.dinoHead = dinoHead
        self.ibotHead = ibotHead
    }

    /// (name, module) in the reference's `ModuleDict` order: backbone, dino_head, ibot_head.
    public var modules: [(name: String, module: Module)] {
        [(name: "backbone", module: backbone), (name: "dino_head", module: dinoHead)]
            + (ibotHead.map { [(name: "ibot_head", module: $0)] } ?? [])
    }

    /// Each module's trainable parameters, for `ClipMode.totalNormPerModule`.
    public var clippingModules: [(name: String, parameters: [Tensor])] {
        modules.map { (name: $0.name, parameters: $0.module.parameters().map(\.value)) }
    }

    /// The optimiser groups of backbone and heads under `prefix`: the backbone's with
    /// layer-wise decay and the patch-embedding factor, each head's with its last layer on
    /// the `last_layer_lr` schedule; groups of equal rules merged.
    public func parameterGroups(prefix: String, layerDecay: Double, patchEmbedLRMultiplier: Double) -> [ParameterGroup] {
        var groups = backbone.parameterGroups(prefix: prefix + "backbone.", layerDecay: layerDecay,
                                              patchEmbedLRMultiplier: patchEmbedLRMultiplier)
        groups += dinoHead.groupsWithLastLayerSchedule(prefix: prefix + "dino_head.")
        if let h = ibotHead { groups += h.groupsWithLastLayerSchedule(prefix: prefix + "ibot_head.") }
        return groups.merged()
    }

    /// Runs the DINO head on the CLS rows and the iBOT head (the DINO head when shared) on the
    /// patch rows. A shared head runs once on all rows, as the reference concatenates them.
    ///
    /// - Parameters:
    ///   - cls: CLS-token blocks, each (R_i, D).
    ///   - patches: patch rows (M, D), or nil.
    /// - Returns: the head outputs of each CLS block (R_i, K) and of the patches (M, K').
    public func heads(cls: [Tensor], patches: Tensor?) -> (cls: [Tensor], patches: Tensor?) {
        if let ibot = ibotHead, let patches {
            let out = dinoHead(Tensor.concat(cls, axis: 0))
            return (out.split(sizes: cls.map { $0.shape[0] }, axis: 0), ibot(patches))
        }
        let rows = cls + (patches.map { [$0] } ?? [])
        let out = dinoHead(rows.count == 1 ? rows[0] : Tensor.concat(rows, axis: 0))         // (Σ rows, K)
        let parts = out.split(sizes: rows.map { $0.shape[0] }, axis: 0)
        return (Array(parts.prefix(cls.count)), patches == nil ? nil : parts.last)
    }

    /// The student's side of the DINOv2 objective: the global crops through the backbone (the
    /// masked patches replaced by the mask token when `masks` is given), the local crops
    /// (first, as the reference orders them), the chosen patch rows of the global crops, and
    /// the heads; returned as the objective's inputs beside the teacher's targets.
    ///
    /// - Parameters:
    ///   - masks: (2B, N) iBOT masks of the global crops, or nil for unmasked crops.
    ///   - patchRows: picks the rows (M, D) for the iBOT term from the global crops' patch
    ///     tokens (2B·N, D) — the masked ones (DINOv2), all (distillation) — or nil for none.
    ///   - koleo: whether the backbone CLS tokens are passed on for KoLeo.
    ///   - patchGrid: the teacher's patch grid of the global crops, for a backbone whose own grid
    ///     differs (a ConvNeXt's map is resized to it); nil: the backbone's own.
    public func dinov2StudentInputs(_ batch: MultiCropInput, masks: Tensor?, patchRows: (Tensor) -> Tensor?, koleo: Bool,
                                    teacherTargets: Tensor, teacherPatchTargets: Tensor?, maskWeights: Tensor?,
                                    patchGrid: (height: Int, width: Int)? = nil) -> DINOv2LossInputs {
        let global = backbone.studentFeatures(batch.globalCrops, masks: masks, local: false, patchGrid: patchGrid)   // CLS (2B, D), patches (2B, N, D)
        var cls = [global.classToken]
        if let local = batch.localCrops {
            cls.insert(backbone.studentFeatures(local, masks: nil, local: true, patchGrid: nil).classToken, at: 0)   // (L·B, D) first
        }
        let patches = patchRows(global.patchTokens.reshape([-1, backbone.embedDimensions]))     // (M, D)
        let out = heads(cls: cls, patches: patches)
        var inputs = DINOv2LossInputs(
            studentGlobal: out.cls.last!, studentLocal: batch.localCrops == nil ? nil : out.cls[0],
            teacherTargets: teacherTargets, studentBackboneCls: koleo ? global.classToken : nil,
            studentMaskedPatches: out.patches, teacherPatchTargets: teacherPatchTargets, maskWeights: maskWeights)
        inputs.studentClassTokens = global.classToken
        return inputs
    }

    /// Each module ← EMA of the same module of `source`.
    public func updateExponentialMovingAverage(of source: BackboneAndHeads, momentum m: Double) {
        for (t, s) in zip(modules, source.modules) { t.module.updateExponentialMovingAverage(of: s.module, momentum: m) }
    }

    /// Every tensor (parameters and buffers) under `prefix`, or only the buffers.
    public func namedTensors(prefix: String, buffersOnly: Bool = false) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for m in modules {
            for (name, p) in buffersOnly ? m.module.namedBuffers() : m.module.namedTensors() {
                out[prefix + m.name + "." + name] = p.value
            }
        }
        return out
    }
}


extension BackboneAndHeads {
    /// A student and a teacher of the same architecture (the teacher without stochastic depth),
    /// the student's modules initialised as the reference's (trunc-normal ViT, DINO heads),
    /// from the generators `seed` forks: 1 the student's (kept for its drop path), 2 the
    /// initialisation, 3 the teacher's construction. The teacher's weights are left to the
    /// caller (a copy of the student, or a run's). DINOv2 and DINOv3 build theirs with it.
    ///
    /// - Parameters:
    ///   - ibotHead: the iBOT head's config, nil when iBOT shares the DINO head.
    ///   - method: named in the failure for an unexpected module.
    static func studentAndTeacher(model: VisionTransformerConfig, dinoHead: HeadConfig, prototypes: Int,
                                  ibotHead: HeadConfig?, ibotPrototypes: Int, seed: UInt64, method: String)
        -> (student: BackboneAndHeads, teacher: BackboneAndHeads, studentGenerator: RandomGenerator) {
        let root = RandomGenerator(seed: seed)
        let studentGenerator = root.fork(1)
        var teacherModel = model
        teacherModel.dropPathRate = 0
        func head(_ h: HeadConfig, prototypes: Int) -> DINOHead {
            DINOHead(config: h, inputDimensions: model.embedDimensions, prototypes: prototypes)
        }
        func modules(_ backbone: VisionTransformer) -> BackboneAndHeads {
            BackboneAndHeads(backbone: backbone, dinoHead: head(dinoHead, prototypes: prototypes),
                             ibotHead: ibotHead.map { head($0, prototypes: ibotPrototypes) })
        }
        let student = modules(VisionTransformer(model, generator: studentGenerator))
        let teacher = modules(VisionTransformer(teacherModel, generator: root.fork(3)))
        let initGenerator = root.fork(2)
        for m in student.modules {
            switch m.module {
            case let v as VisionTransformer: v.initializeWeights(generator: initGenerator)
            case let h as DINOHead: h.initializeWeights(generator: initGenerator)
            default: preconditionFailure("\(method): unexpected module \(m.name)")
            }
        }
        return (student, teacher, studentGenerator)
    }
}

extension DINOHead {
    /// The head's groups, with the last layer on the `last_layer_lr` schedule (frozen by a
    /// zero learning rate at the start, as DINOv2's `is_last_layer` groups).
    public func groupsWithLastLayerSchedule(prefix: String) -> [ParameterGroup] {
        let last = Set(lastLayerParameters.map { ObjectIdentifier($0.value) })
        var out: [ParameterGroup] = []
        for g in parameterGroups(prefix: prefix) {
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
}
