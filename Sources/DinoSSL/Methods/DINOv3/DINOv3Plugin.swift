// DINOv3 in the method registry: its name, config resolution (with the weights of `--from RUN`
// and `gram.ckpt`), construction, batches (with DINOv3's exact-count iBOT masks) and export.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

extension DINOv3: MethodPlugin {
    public static let name = "dinov3"
    public static let summary = "DINOv3: DINOv2's recipe, SK, RoPE + Gram anchoring (Siméoni 2025)"

    public static func resolve(_ config: DINOv3Config, context: MethodContext) throws -> ResolvedDINOv3Config {
        try context.requireDivisibleBatch(config.batchSize)
        let ranks = context.placement.worldSize
        if ranks > 1, let g = config.dino.koleoGroupSize {
            let perRank = config.batchSize / ranks
            // A group spanning ranks is all-gathered (KoLeoLossDistributed), which needs whole
            // ranks in a group (the reference raises "Loss group size … must be a multiple of
            // local batch size"); a group within a rank must divide its images.
            if g > perRank && g % perRank != 0 {
                throw ConfigError.invalidValue(path: "dino.koleo_group_size", message: "\(g) spans several ranks but is not a multiple of the "
                    + "\(perRank) images per rank (the reference's KoLeoLossDistributed refuses it too)")
            }
            if g <= perRank && perRank % g != 0 {
                throw ConfigError.invalidValue(path: "dino.koleo_group_size", message: "\(g) does not divide the \(perRank) images per rank")
            }
        }
        var r = try config.resolved(datasetSize: context.dataset.count)
        if let from = config.from {
            r.initialWeights = try checkpointTensors(from, key: "from")
        }
        let g = config.gram
        if g.useLoss && !g.emaTeacher {
            if let ckpt = g.ckpt {
                r.gramTeacherWeights = try gramTeacherWeights(ckpt, model: r.model)
            } else if g.itLoadEmaTeacher < 0, let w = r.initialWeights {
                r.gramTeacherWeights = backbone(of: w, prefix: BackboneAndHeads.teacherPrefix + "backbone.")
            }
        }
        return r
    }

    /// The tensors of a run's newest checkpoint (a run folder) or of one checkpoint (its state
    /// JSON or its tensor file).
    ///
    /// - Throws: `ConfigError` naming `key` when the path is neither.
    static func checkpointTensors(_ path: String, key: String) throws -> [String: Tensor] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ConfigError.invalidValue(path: key, message: "\(path) does not exist")
        }
        if isDirectory.boolValue {
            return try TrainingRun.newestCheckpoint(of: url).tensors
        }
        switch url.pathExtension {
        case "json": return try CheckpointStore(directory: url.deletingLastPathComponent()).load(url).tensors
        case "safetensors": return try SafeTensors.read(from: url).tensors
        default: throw ConfigError.invalidValue(path: key, message: "\(path) is not a run folder, a checkpoint (.json) or a .safetensors file")
        }
    }

    static func backbone(of tensors: [String: Tensor], prefix: String) -> [String: Tensor]? {
        var out: [String: Tensor] = [:]
        for (k, t) in tensors where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = t }
        return out.isEmpty ? nil : out
    }

    /// The Gram teacher's first weights from `gram.ckpt`: the teacher backbone of a run or
    /// checkpoint (`teacher.backbone.*`, the reference loads its teacher checkpoint skipping
    /// the heads), or an exported backbone file.
    static func gramTeacherWeights(_ path: String, model: VisionTransformerConfig) throws -> [String: Tensor] {
        let tensors = try checkpointTensors(path, key: "gram.ckpt")
        if let w = backbone(of: tensors, prefix: BackboneAndHeads.teacherPrefix + "backbone.") { return w }
        // An exported backbone (official hub keys).
        var m = model
        m.dropPathRate = 0
        let vit = VisionTransformer(m)
        do {
            try vit.loadWeights(from: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError.invalidValue(path: "gram.ckpt", message: "\(path) holds no teacher backbone of this model (\(error))")
        }
        return vit.stateDict().mapValues { $0.detach() }
    }

    public static func build(_ resolved: ResolvedDINOv3Config) throws -> DINOv3 { try DINOv3(settings: resolved) }

    /// One multi-crop loader per resolution (one in the base phase), combined per batch; each
    /// yields this rank's slice of every global batch, and the resolution of a batch is drawn
    /// from (seed, step), the same on every rank.
    public static func batchSource(_ r: ResolvedDINOv3Config, context: MethodContext) throws -> MultiResolutionBatchSource {
        let sources = r.resolutions.map { res in
            MultiCropBatchSource(pipeline: MultiCropPipeline(dataset: context.dataset, config: r.multiCrop(res),
                                                             maskCollator: r.maskCollator(globalSize: res.globalSize), issues: context.issues),
                                 batchSize: r.config.batchSize, seed: r.config.seed, workers: r.base.workers,
                                 prefetchBatches: r.config.data.prefetchBatches, placement: context.placement)
        }
        return MultiResolutionBatchSource(sources: sources, ratios: r.resolutions.map(\.ratio), seed: r.config.seed,
                                          epochLength: r.config.epochLength)
    }

    public static func schedules(_ r: ResolvedDINOv3Config) -> ScheduleSet { r.schedules }
    public static func trainerOptions(_ r: ResolvedDINOv3Config) -> TrainerOptions { r.trainerOptions }

    public static func describe(_ r: ResolvedDINOv3Config, context: MethodContext) -> String {
        let c = r.config
        let rope = r.model.rope.map { "RoPE shift \($0.shiftCoords.map { "\($0)" } ?? "–") jitter \($0.jitterCoords.map { "\($0)" } ?? "–") rescale \($0.rescaleCoords.map { "\($0)" } ?? "–")" } ?? "no RoPE"
        var gram = "Gram off"
        if c.gram.useLoss {
            let source = c.gram.emaTeacher ? "EMA teacher" : c.gram.ckpt.map { "from \($0)" }
                ?? (c.gram.itLoadEmaTeacher >= 0 ? "EMA teacher at step \(c.gram.itLoadEmaTeacher)" : "from \(c.from ?? "?")")
            let crops = c.gram.teacherCropsSize.map { ", its crops \($0)px\(c.gram.teacherNoDistortions ? " undistorted" : "")" } ?? ""
            gram = "Gram on (\(source)\(crops), refresh every \(r.gramUpdateFrequency) steps from \(c.gram.itFirstUpdate)\(c.gram.maxUpdates.map { ", at most \($0)×" } ?? ""))"
        }
        return """
        DINOv3: \(c.model) (\(r.model.embedDimensions) wide, depth \(r.model.depth)), \(context.dataset.count) images, \
        \(r.stepsPerEpoch) steps/epoch × \(c.epochs) epochs, batch \(c.batchSize), \(r.prototypes) + \(r.ibotPrototypes) prototypes, \
        Sinkhorn-Knopp, crops \(r.resolutions.map { "2×\($0.globalSize)px + \(r.base.localCount)×\($0.localSize)px\(r.resolutions.count > 1 ? " (\($0.ratio))" : "")" }.joined(separator: " | ")), \
        phase \(c.phase.rawValue), \(c.schedules.rawValue) schedules, \
        lr \(r.peakLearningRate) (warm-up \(r.base.warmupSteps) steps), τ_t \(r.base.teacherWarmupTemperature)→\(r.base.teacherTemperature), \
        momentum \(r.base.teacherMomentum), drop path \(r.model.dropPathRate) (\(r.model.dropPathMode.rawValue)), \(rope), \(gram)\
        \(c.from.map { ", from \($0)" } ?? ""), threads \(Threads.count)
        """
    }

    /// The teacher backbone (and its heads, for distillation).
    public static func exportedModel(_ c: DINOv3Config) throws -> ExportedModel {
        let t = BackboneAndHeads.teacherPrefix
        return ExportedModel(model: c.model, inputSize: c.crops.globalSize, backbonePrefix: t + "backbone.",
                             dinoHeadPrefix: t + "dino_head.", ibotHeadPrefix: t + "ibot_head.")
    }
}
