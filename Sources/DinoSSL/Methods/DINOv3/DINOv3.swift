// DINOv3 as a training method: DINOv2's DINO + iBOT + KoLeo with DINOv3's choices (Sinkhorn-
// Knopp centring and a separate iBOT head, both asserted by the reference; plain Linear last
// layers; `global_ignore_diagonal`; exact-count masks; drop path on an exact subset of the
// batch; RoPE with training-time coordinate augmentation), plus Gram anchoring.
//
// One step, in the stages of the reference's `forward_backward`:
//
//     gram      at step `it_load_ema_teacher`: Gram teacher ← EMA teacher's backbone
//     teacher   backbone(2 global crops) → CLS (2B, D), patches (2B, N, D)
//               dino_head(CLS), ibot_head(masked patches) → Sinkhorn-Knopp targets
//     student   backbone(global crops, masked → mask token), backbone(local crops)
//               dino_head(local CLS ‖ global CLS), ibot_head(masked patches)
//     gram      Gram teacher backbone(global crops) → patches (2B, N, D) (or the EMA teacher's)
//     losses    DINOv3Objective: DINO local/global, KoLeo, iBOT, Gram
//     — trainer: backward, clip backbone and heads separately, AdamW —
//     after     teacher ← EMA(student); every `update_frequency` steps from `it_first_update`
//               (at most `max_updates` times): Gram teacher ← EMA teacher's backbone
//
// Across ranks (mpirun, docs/distributed.md): Sinkhorn-Knopp's sums, B and `n_masked_patches`
// are all-reduced (TeacherTargets); KoLeo and the Gram loss are per rank, as in the reference
// (one process computes them per slice with `emulateRanks`); masks, the drop-path subset and
// the RoPE augmentation are drawn for the global batch, identically on every rank.
//
// Reference: facebookresearch/dinov3 dinov3/train/ssl_meta_arch.py (`SSLMetaArch`),
// dinov3/train/train.py (`do_train`: the Gram teacher's load and refreshes).

import DinoDistributed
import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// DINOv3: DINO + iBOT + KoLeo self-distillation with Gram anchoring.
///
/// Reference: Siméoni et al., "DINOv3" (2025); facebookresearch/dinov3.
public final class DINOv3: TrainingMethod {
    public typealias Batch = MultiCropInput

    /// Names of DINOv3's own schedules: the Gram loss weight and the local DINO term's factor.
    public static let gramWeightSchedule = "gram_weight"
    public static let localWeightSchedule = "dino_local_weight"
    /// Checkpoint prefix of the Gram teacher's backbone, and the name of its state
    /// `[initialised (0/1), refreshes so far]`.
    public static let gramPrefix = "gram_teacher.backbone."
    public static let gramStateKey = "gram_teacher.state"

    public let settings: ResolvedDINOv3Config
    /// Student and teacher: backbone, DINO head and iBOT head (always separate).
    public let studentModules: BackboneAndHeads
    public let teacherModules: BackboneAndHeads
    public var student: VisionTransformer { studentModules.backbone as! VisionTransformer }   // built as one (studentAndTeacher)
    public var teacher: VisionTransformer { teacherModules.backbone as! VisionTransformer }
    /// The frozen Gram teacher (with `gram.use_loss` and not `gram.ema_teacher`).
    public let gramTeacher: VisionTransformer?
    /// (2) Float64: whether the Gram teacher holds weights, and how many refreshes it had.
    let gramState = Tensor.zeros([2], dtype: .float64)
    /// Unused buffers kept for the reference's checkpoint keys (Sinkhorn-Knopp has no centre).
    let centres: TeacherCentres
    let studentGenerator: RandomGenerator
    public let parameterGroups: [ParameterGroup]
    /// KoLeo and the Gram loss per slice of the batch, as that many ranks compute them
    /// (`emulateRanks`); 1 by default.
    var rankSlices = 1

    public var gramTeacherInitialized: Bool { gramState.doubles[0] != 0 }
    public var gramUpdates: Int { Int(gramState.doubles[1]) }

    /// - Throws: `ConfigError` naming `from` or `gram.ckpt` when the initial or Gram teacher
    ///   weights do not fit the model.
    public init(settings: ResolvedDINOv3Config) throws {
        self.settings = settings
        let c = settings.config
        (studentModules, teacherModules, studentGenerator) = BackboneAndHeads.studentAndTeacher(
            model: settings.model, dinoHead: c.dino.head, prototypes: settings.prototypes,
            ibotHead: c.ibot.head, ibotPrototypes: settings.ibotPrototypes, seed: c.seed, method: "DINOv3")
        // `--from RUN`: the student and the teacher of an earlier run.
        if let w = settings.initialWeights {
            for (prefix, target) in [(BackboneAndHeads.studentPrefix, studentModules), (BackboneAndHeads.teacherPrefix, teacherModules)] {
                for m in target.modules {
                    let p = prefix + m.name + "."
                    var dict: [String: Tensor] = [:]
                    for (k, t) in w where k.hasPrefix(p) { dict[String(k.dropFirst(p.count))] = t.detach() }
                    if m.name == "backbone" { dict = DINOv3.addingLocalClassNorm(dict, model: settings.model) }
                    let source = c.from ?? "?"
                    guard !dict.isEmpty else {
                        throw ConfigError.invalidValue(path: "from", message: "\(source) holds no '\(p)*' tensors")
                    }
                    do { try m.module.load(stateDict: dict) } catch {
                        throw ConfigError.invalidValue(path: "from", message: "\(source): its \(p.dropLast()) does not fit \(c.model): \(error)")
                    }
                }
            }
        } else {
            for (s, t) in zip(studentModules.modules, teacherModules.modules) {
                try t.module.load(stateDict: s.module.stateDict().mapValues { $0.detach() })
            }
        }
        for t in teacherModules.modules {
            t.module.freeze()
            t.module.eval()
        }
        if c.gram.useLoss && !c.gram.emaTeacher {
            var gramModel = settings.model
            gramModel.dropPathRate = 0
            let g = VisionTransformer(gramModel, generator: RandomGenerator(seed: c.seed).fork(4))
            if let w = settings.gramTeacherWeights {
                do { try g.load(stateDict: DINOv3.addingLocalClassNorm(w, model: settings.model)) } catch {
                    throw ConfigError.invalidValue(path: "gram.ckpt", message: "\(c.gram.ckpt ?? c.from ?? "?"): its teacher backbone does not fit \(c.model): \(error)")
                }
                gramState.copyIn(Tensor(doubles: [1, 0], shape: [2]))
            } else {
                try g.load(stateDict: teacherModules.backbone.stateDict().mapValues { $0.detach() })    // replaced at it_load_ema_teacher
            }
            g.freeze()
            g.eval()
            gramTeacher = g
        } else {
            gramTeacher = nil
        }
        centres = TeacherCentres(dinoPrototypes: settings.prototypes, ibotPrototypes: settings.ibotPrototypes)
        parameterGroups = studentModules.parameterGroups(prefix: BackboneAndHeads.studentPrefix, layerDecay: c.optim.layerwiseDecay,
                                                         patchEmbedLRMultiplier: c.optim.patchEmbedLRMultiplier)
    }

    /// Backbone weights of a run without `untie_global_and_local_cls_norm`, for a model with
    /// it: the local-crop class norm starts as a copy of the final norm.
    static func addingLocalClassNorm(_ weights: [String: Tensor], model: VisionTransformerConfig) -> [String: Tensor] {
        guard model.untieGlobalAndLocalClsNorm, weights["local_cls_norm.weight"] == nil,
              let w = weights["norm.weight"], let b = weights["norm.bias"] else { return weights }
        var out = weights
        out["local_cls_norm.weight"] = w
        out["local_cls_norm.bias"] = b
        return out
    }

    public var clippingModules: [(name: String, parameters: [Tensor])] { studentModules.clippingModules }

    /// K of the DINO head, for the trainer's collapse monitor.
    public var targetPrototypes: Int? { settings.prototypes }

    // MARK: Gram teacher

    /// Gram teacher ← the EMA teacher's backbone (`gram_load_ema_teacher`, skipping the heads).
    public func loadGramTeacherFromEMA() {
        guard let g = gramTeacher else { return }
        try! g.load(stateDict: teacher.stateDict().mapValues { $0.detach() })   // same architecture: cannot fail
        var s = gramState.doubles
        s[0] = 1
        gramState.copyIn(Tensor(doubles: s, shape: [2]))
    }

    /// Whether the Gram teacher is refreshed after step `iteration` (train.py: `(it + 1) ≥
    /// it_first_update`, `(it + 1) % update_frequency == 0`, fewer than `max_updates` so far).
    public func refreshesGramTeacher(after iteration: Int) -> Bool {
        let g = settings.config.gram
        guard g.useLoss, gramTeacher != nil, g.repUpdate else { return false }
        return iteration + 1 >= g.itFirstUpdate && (iteration + 1) % settings.gramUpdateFrequency == 0
            && (g.maxUpdates.map { gramUpdates < $0 } ?? true)
    }

    // MARK: Step

    public func step(batch: MultiCropInput, schedules: ScheduleValues) -> [String: Tensor] {
        let c = settings.config
        if gramTeacher != nil && c.gram.itLoadEmaTeacher == schedules.iteration { loadGramTeacherFromEMA() }
        let temperature = schedules[ScheduleValues.teacherTemperature]
        let d = settings.model.embedDimensions
        guard let localCrops = batch.localCrops else { preconditionFailure("DINOv3: batches need local crops") }
        let masks = batch.masks.flatMap { $0.indices.count > 0 ? $0 : nil }

        // Teacher: unmasked global crops.
        let (dinoTargets, ibotTargets, teacherPatches) = withNoGrad { () -> (Tensor, Tensor?, Tensor) in
            let f = teacher.forwardFeatures(batch.globalCrops)                                      // CLS (2B, D), patches (2B, N, D)
            let patches = masks.map { f.patchTokens.reshape([-1, d]).indexSelect(axis: 0, indices: $0.indices.indices) }  // (M, D)
            let out = teacherModules.heads(cls: [f.classToken], patches: patches)
            let t = centres.targets(cls: out.cls[0], patches: out.patches, ibot: true, mode: .sinkhornKnopp, temperature: temperature, momentum: 0.9)
            return (t.cls, t.patches, f.patchTokens)
        }

        // Student: masked global crops, local crops; heads on local ‖ global CLS, iBOT head on masked patches.
        let global = student.forwardFeatures(batch.globalCrops, masks: batch.masks?.tensor)       // (2B, D), (2B, N, D)
        let local = student.forwardFeatures(localCrops, local: true)                              // (L·B, D)
        let maskedRows = masks.map { global.patchTokens.reshape([-1, d]).indexSelect(axis: 0, indices: $0.indices.indices) }
        let out = studentModules.heads(cls: [local.classToken, global.classToken], patches: maskedRows)
        var inputs = DINOv2LossInputs(studentGlobal: out.cls[1], studentLocal: out.cls[0], teacherTargets: dinoTargets,
                                      studentBackboneCls: global.classToken, studentMaskedPatches: out.patches,
                                      teacherPatchTargets: ibotTargets, maskWeights: masks?.weights)
        inputs.studentClassTokens = global.classToken

        // Gram: the student's normed patch tokens of its (masked) global crops against the Gram teacher's.
        var gram: GramInputs? = nil
        var weights = DINOv3LossWeights(dino: c.dino.lossWeight, koleo: settings.base.koleoLossWeight, ibot: c.ibot.lossWeight)
        // Before `it_load_ema_teacher` (without `gram.ckpt`) there is no Gram teacher yet: the term
        // is left out (logged as 0). The reference refuses such a config instead (it needs a
        // checkpoint whenever it has a Gram teacher).
        let gramReady = gramTeacher == nil || gramTeacherInitialized
        if c.gram.useLoss && gramReady {
            let target: Tensor
            if let g = gramTeacher {
                target = withNoGrad {
                    let t = g.forwardFeatures(batch.gramCrops ?? batch.globalCrops).patchTokens      // (2B, N_T, D)
                    return DINOv3.resizePatchFeatures(t, toGrid: Int(Double(global.patchTokens.shape[1]).squareRoot()))
                }                                                                                    // (2B, N, D)
            } else {
                target = teacherPatches
            }
            var (s, t) = (global.patchTokens, target)
            // On one process emulating N ranks, the image (row) of each Gram row's rank.
            let images = s.shape[0], perImage = s.shape[1]
            var rowImages = Array(0..<images)
            if c.gram.tokensUsed != .all {
                let values = batch.masks?.values ?? [Bool](repeating: false, count: s.shape[0] * s.shape[1])
                let keep = values.indices.filter { values[$0] == (c.gram.tokensUsed == .masked) }
                s = s.reshape([-1, d]).indexSelect(axis: 0, indices: keep)                         // (M', D)
                t = t.reshape([-1, d]).indexSelect(axis: 0, indices: keep)
                rowImages = keep.map { $0 / perImage }
            }
            var g = GramInputs(student: s, teacher: t, imageLevel: c.gram.imgLevel, normalize: c.gram.normalized,
                               negatives: c.gram.negatives)
            // The reference's Gram loss is per rank (DDP averages the ranks' gradients). Per
            // image (`img_level`) the mean over equal slices is the global mean; over the batch
            // or the chosen tokens it is not, so one process emulating N ranks takes the loss
            // of each rank's rows and averages.
            if rankSlices > 1 && !c.gram.imgLevel {
                let b = images / 2, perRank = b / rankSlices
                let rank = rowImages.map { ($0 % b) / perRank }
                g.rowGroups = (0..<rankSlices).map { r in rank.indices.filter { rank[$0] == r } }
            }
            gram = g
            weights.gram = schedules[DINOv3.gramWeightSchedule]
        }
        if c.dino.reweightDinoLocalLoss { weights.dinoLocal = schedules[DINOv3.localWeightSchedule] }
        // KoLeo per rank (the reference's non-distributed KoLeoLoss): over this rank's slice,
        // or on one process emulating N ranks over each of the N slices. With
        // `dino.koleo_group_size` (KoLeoLossDistributed) a group larger than a rank's images
        // is all-gathered over its ranks; on one process, the groups of the whole batch (the
        // mean over groups is the mean over the ranks' losses, with or without --emulate-ranks).
        let koleoGroup = c.dino.koleoGroupSize ?? (rankSlices > 1 ? c.batchSize / rankSlices : nil)
        var terms = DINOv3Objective.losses(inputs, gram: gram, weights: weights, ignoreDiagonal: c.dino.globalIgnoreDiagonal,
                                           studentTemperature: c.studentTemperature, koleoGroupSize: koleoGroup,
                                           koleoRanks: centres.communicator)
        if c.gram.useLoss && !gramReady { terms[LossTerm.gram] = Tensor(scalar: 0) }
        // Across ranks every rank logs the same terms: a rank whose slice of the global batch's
        // masks holds no masked patch has an iBOT term of 0 (its iBOT head's gradients all-reduce as zeros).
        if centres.communicator.size > 1 && weights.ibot != 0 && terms[LossTerm.ibot] == nil {
            terms[LossTerm.ibot] = Tensor(scalar: 0)
        }
        terms.merge(TargetEntropy.teacherEntropies(dinoTargets)) { a, _ in a }
        terms[LossTerm.featureStd] = CollapseMonitor.featureSpread(global.classToken)
        return terms
    }

    /// Patch features (B, n·n, D) of a square grid resized to `side × side` patches, bicubic
    /// without antialias (`F.interpolate(mode="bicubic", align_corners=False)` on (B, D, n, n),
    /// as `get_gram_teacher_output` resizes higher-resolution Gram features); unchanged when
    /// the grids are equal.
    public static func resizePatchFeatures(_ x: Tensor, toGrid side: Int) -> Tensor {
        let (b, n, d) = (x.shape[0], x.shape[1], x.shape[2])
        if n == side * side { return x }
        let m = Int(Double(n).squareRoot())
        precondition(m * m == n, "resizePatchFeatures: \(n) patches are not a square grid")
        let images = x.chunk(b, axis: 0).map {
            resizePositionGrid($0.reshape([m, m, d]), height: side, width: side, interpolation: .plainSize)
                .reshape([1, side * side, d])
        }
        return Tensor.concat(images, axis: 0)                                                    // (B, side², D)
    }

    /// KoLeo and the Gram loss over each of `ranks` slices of the batch, as `ranks` ranks
    /// compute them (Sinkhorn-Knopp needs nothing: its sums are global on the ranks too).
    public func emulateRanks(_ ranks: Int) { rankSlices = ranks }

    /// DINOv3's collectives: Sinkhorn-Knopp's sums, B and the masked-patch count over all
    /// ranks (`TeacherCentres.targets`); the student's drop-path subsets are drawn on the
    /// global batch and sliced to this rank's rows. The RoPE augmentation is one draw per
    /// forward pass from the student's generator, which every rank advances identically.
    public func useCommunicator(_ communicator: any Communicator) {
        centres.communicator = communicator
        if communicator.size > 1 {
            student.setDropPathShard(DropPath.Shard(index: communicator.rank, count: communicator.size,
                                                    samplesPerView: settings.config.batchSize / communicator.size))
        }
    }

    public func afterOptimizerStep(schedules: ScheduleValues) {
        teacherModules.updateExponentialMovingAverage(of: studentModules, momentum: schedules[ScheduleValues.teacherMomentum])
        if refreshesGramTeacher(after: schedules.iteration), let g = gramTeacher {
            // update_gram(m=0): the Gram teacher's parameters ← the EMA teacher's.
            g.updateExponentialMovingAverage(of: teacher, momentum: 0)
            var s = gramState.doubles
            s[1] += 1
            gramState.copyIn(Tensor(doubles: s, shape: [2]))
        }
    }

    // MARK: Checkpoint state

    public func stateTensors() -> [String: Tensor] {
        var out = centres.stateTensors
        out.merge(teacherModules.namedTensors(prefix: BackboneAndHeads.teacherPrefix)) { a, _ in a }
        out.merge(studentModules.namedTensors(prefix: BackboneAndHeads.studentPrefix, buffersOnly: true)) { a, _ in a }
        if let g = gramTeacher {
            for (name, p) in g.namedTensors() { out[DINOv3.gramPrefix + name] = p.value }
            out[DINOv3.gramStateKey] = gramState
        }
        return out
    }

    public var randomGenerators: [String: RandomGenerator] {
        get { ["student.drop_path": studentGenerator] }
        set { if let g = newValue["student.drop_path"] { studentGenerator.restore(g) } }
    }
}
