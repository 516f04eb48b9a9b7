// Distillation in the method registry: its name, the teacher's loading, construction, batches
// (no masks) and export (the student's EMA).

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A distillation config resolved for one data set: the student's DINOv2 settings and the
/// loaded teacher.
public struct ResolvedDistillation {
    public var config: DistillationConfig
    public var settings: ResolvedDINOv2Config
    public var teacher: FrozenTeacher
}

extension Distillation: MethodPlugin {
    public static let name = "distill"
    public static let summary = "a frozen teacher (a run, or a preset) distilled into a smaller student"

    /// The frozen teacher named by the config: a run's exported backbone and heads, or a
    /// preset with weights.
    public static func teacher(_ config: DistillationConfig, prototypes: Int) throws -> FrozenTeacher {
        if let run = config.teacherRun { return try FrozenTeacher.fromRun(URL(fileURLWithPath: run)) }
        let backbone = try VisionTransformer.load(preset: config.teacherModel, weights: config.teacherWeights.map { URL(fileURLWithPath: $0) })
        return FrozenTeacher.fromBackbone(backbone, head: config.dino.head, prototypes: prototypes,
                                          generator: RandomGenerator(seed: config.seed).fork(5))
    }

    /// Resolves the student's settings, loads the teacher and checks that the crops are whole
    /// teacher patches.
    public static func resolve(_ config: DistillationConfig, context: MethodContext) throws -> ResolvedDistillation {
        try context.requireDivisibleBatch(config.batchSize)
        try config.validate()
        let settings = try config.studentSettings.resolved(datasetSize: context.dataset.count)
        let teacher = try teacher(config, prototypes: settings.prototypes)
        let patch = teacher.backbone.patchSize
        for (key, size) in [("crops.global_size", settings.base.globalSize), ("crops.local_size", settings.base.localSize)] where size % patch != 0 {
            throw ConfigError.invalidValue(path: key, message: "\(size) px is not a whole number of the teacher's \(patch)-px patches")
        }
        return ResolvedDistillation(config: config, settings: settings, teacher: teacher)
    }

    public static func build(_ r: ResolvedDistillation) throws -> Distillation { Distillation(settings: r.settings, teacher: r.teacher) }

    public static func batchSource(_ r: ResolvedDistillation, context: MethodContext) throws -> MultiCropBatchSource {
        let pipeline = MultiCropPipeline(dataset: context.dataset, config: r.settings.multiCrop, maskCollator: nil, issues: context.issues)
        return MultiCropBatchSource(pipeline: pipeline, batchSize: r.config.batchSize, seed: r.config.seed,
                                    workers: r.settings.base.workers, prefetchBatches: r.config.data.prefetchBatches,
                                    epochLength: r.config.epochLength, placement: context.placement)
    }

    public static func schedules(_ r: ResolvedDistillation) -> ScheduleSet { r.settings.schedules }
    public static func trainerOptions(_ r: ResolvedDistillation) -> TrainerOptions { r.settings.trainerOptions }

    public static func describe(_ r: ResolvedDistillation, context: MethodContext) -> String {
        let c = r.config, s = r.settings, t = r.teacher
        return """
        distill: teacher \(t.backbone.embedDimensions) wide, depth \(t.backbone.config.depth) \
        (\(c.teacherRun ?? c.teacherWeights ?? "random weights")) → student \(c.model) \
        (\(s.model.embedDimensions) wide, depth \(s.model.depth)), \(context.dataset.count) images, \(s.stepsPerEpoch) steps/epoch × \
        \(c.epochs) epochs, batch \(c.batchSize), \(t.head.prototypes) prototypes, lr \(s.peakLearningRate), threads \(Threads.count)
        """
    }

    /// The student's EMA backbone.
    public static func exportedModel(_ c: DistillationConfig) throws -> ExportedModel {
        ExportedModel(model: c.model, inputSize: c.crops.globalSize, backbonePrefix: emaPrefix)
    }
}
