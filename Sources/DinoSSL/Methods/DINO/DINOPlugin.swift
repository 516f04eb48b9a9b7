// DINO in the method registry: its name, config resolution, construction, batches and export.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

extension DINO: MethodPlugin {
    public static let name = "dino"
    public static let summary = "DINO: a student matches an EMA teacher across crops (Caron 2021)"

    public static func resolve(_ config: DINOConfig, context: MethodContext) throws -> ResolvedDINOConfig {
        try context.requireDivisibleBatch(config.batchSize)
        return try config.resolved(datasetSize: context.dataset.count)
    }

    public static func build(_ resolved: ResolvedDINOConfig) throws -> DINO { DINO(settings: resolved) }

    /// The multi-crop augmentation of a resolved config: DINO's preset at its crop sizes and scales.
    public static func multiCrop(_ r: ResolvedDINOConfig) -> MultiCropConfig {
        var m = MultiCropConfig.preset(.dino, globalSize: r.globalSize, localSize: r.localSize, localCount: r.localCount)
        m.global.scale = r.config.crops.globalScale
        m.local.scale = r.config.crops.localScale
        r.config.crops.applyColor(to: &m)
        return m
    }

    public static func batchSource(_ r: ResolvedDINOConfig, context: MethodContext) throws -> MultiCropBatchSource {
        let pipeline = MultiCropPipeline(dataset: context.dataset, config: multiCrop(r), issues: context.issues)
        return MultiCropBatchSource(pipeline: pipeline, batchSize: r.config.batchSize, seed: r.config.seed,
                                    workers: r.workers, prefetchBatches: r.config.data.prefetchBatches,
                                    placement: context.placement)
    }

    public static func schedules(_ r: ResolvedDINOConfig) -> ScheduleSet { r.schedules }
    public static func trainerOptions(_ r: ResolvedDINOConfig) -> TrainerOptions { r.trainerOptions }

    public static func describe(_ r: ResolvedDINOConfig, context: MethodContext) -> String {
        let c = r.config
        return """
        DINO: \(c.model) (\(r.model.embedDimensions) wide, depth \(r.model.depth)), \(context.dataset.count) images, \
        \(r.stepsPerEpoch) steps/epoch × \(c.epochs) epochs, batch \(c.batchSize), \(r.prototypes) prototypes, \
        crops 2×\(r.globalSize)px + \(r.localCount)×\(r.localSize)px, lr \(r.peakLearningRate) (warm-up \(r.warmupSteps) steps), \
        τ_t \(r.teacherWarmupTemperature)→\(r.teacherTemperature) over \(r.teacherTemperatureWarmupSteps) steps, \
        momentum \(r.teacherMomentum)\(r.koleoLossWeight > 0 ? ", KoLeo \(r.koleoLossWeight)" : ""), \
        threads \(Threads.count), loader workers \(r.workers)
        """
    }

    /// RUN/config.json records the teacher's normalisation the run uses (`teacher.centering`
    /// is automatic, and its automatic value changed once).
    public static func recorded(_ config: DINOConfig) -> DINOConfig {
        var c = config
        c.teacher.centering = c.teacher.centeringMode(recipe: c.recipe)
        return c
    }

    /// Runs recorded before `teacher.centering` existed used the centred softmax (laid under the
    /// stored tree: what the run recorded wins).
    public static func migrateStoredConfig(_ tree: JSONValue) -> JSONValue {
        JSONValue.object(["teacher": .object(["centering": .string(CenteringMode.centering.rawValue)])]).merged(with: tree)
    }

    /// The teacher backbone (and its head, for distillation).
    public static func exportedModel(_ c: DINOConfig) throws -> ExportedModel {
        ExportedModel(model: c.model, inputSize: c.crops.globalSize, backbonePrefix: teacherBackbonePrefix,
                      dinoHeadPrefix: teacherHeadPrefix)
    }
}
