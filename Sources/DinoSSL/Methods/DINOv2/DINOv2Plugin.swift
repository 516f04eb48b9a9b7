// DINOv2 in the method registry: its name, config resolution, construction, batches (with
// iBOT masks) and export.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

extension DINOv2: MethodPlugin {
    public static let name = "dinov2"
    public static let summary = "DINOv2: DINO + iBOT on masked patches + KoLeo (Oquab 2024)"

    public static func resolve(_ config: DINOv2Config, context: MethodContext) throws -> ResolvedDINOv2Config {
        try context.requireDivisibleBatch(config.batchSize)
        return try config.resolved(datasetSize: context.dataset.count)
    }

    public static func build(_ resolved: ResolvedDINOv2Config) throws -> DINOv2 { DINOv2(settings: resolved) }

    public static func batchSource(_ r: ResolvedDINOv2Config, context: MethodContext) throws -> MultiCropBatchSource {
        let pipeline = MultiCropPipeline(dataset: context.dataset, config: r.multiCrop, maskCollator: r.maskCollator, issues: context.issues)
        return MultiCropBatchSource(pipeline: pipeline, batchSize: r.config.batchSize, seed: r.config.seed,
                                    workers: r.base.workers, prefetchBatches: r.config.data.prefetchBatches,
                                    epochLength: r.config.epochLength, placement: context.placement)
    }

    public static func schedules(_ r: ResolvedDINOv2Config) -> ScheduleSet { r.schedules }
    public static func trainerOptions(_ r: ResolvedDINOv2Config) -> TrainerOptions { r.trainerOptions }

    public static func describe(_ r: ResolvedDINOv2Config, context: MethodContext) -> String {
        let c = r.config
        return """
        DINOv2: \(c.model) (\(r.model.embedDimensions) wide, depth \(r.model.depth)), \(context.dataset.count) images, \
        \(r.stepsPerEpoch) steps/epoch × \(c.epochs) epochs, batch \(c.batchSize), \(r.prototypes) prototypes \
        (iBOT \(c.ibot.separateHead ? "separate head, \(r.ibotPrototypes)" : "shared head")), centring \(c.teacher.centeringMode(recipe: c.recipe).rawValue), \
        crops 2×\(r.base.globalSize)px + \(r.base.localCount)×\(r.base.localSize)px, lr \(r.peakLearningRate) \
        (warm-up \(r.base.warmupSteps) steps), τ_t \(r.base.teacherWarmupTemperature)→\(r.base.teacherTemperature), \
        momentum \(r.base.teacherMomentum), drop path \(r.model.dropPathRate), \
        LayerScale \(r.model.layerScaleInit.map { "\($0)" } ?? "none"), threads \(Threads.count)
        """
    }

    /// The teacher backbone (and its heads, for distillation).
    public static func exportedModel(_ c: DINOv2Config) throws -> ExportedModel {
        let t = BackboneAndHeads.teacherPrefix
        return ExportedModel(model: c.model, inputSize: c.crops.globalSize, backbonePrefix: t + "backbone.",
                             dinoHeadPrefix: t + "dino_head.", ibotHeadPrefix: t + "ibot_head.")
    }
}
