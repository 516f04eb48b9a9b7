// A distillation run on disk, as DINORun: RUN/config.json (the DistillationConfig), checkpoints
// with the student's EMA under `student_ema.backbone.` (what `dino export` writes), metrics.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// Everything a distillation run needs, built from its configuration.
public struct DistillationRun {
    public let config: DistillationConfig
    public let resolved: ResolvedDINOv2Config
    public let dataset: ImageFileDataset
    public let method: Distillation
    public let source: MultiCropBatchSource
    public let trainer: Trainer<Distillation, MultiCropBatchSource>

    /// The frozen teacher named by the config: a run's teacher and heads, or a preset with weights.
    public static func teacher(_ config: DistillationConfig, prototypes: Int) throws -> FrozenTeacher {
        if let run = config.teacherRun { return try FrozenTeacher.fromRun(URL(fileURLWithPath: run)) }
        let backbone = try VisionTransformer.load(preset: config.teacherModel, weights: config.teacherWeights.map { URL(fileURLWithPath: $0) })
        return FrozenTeacher.fromBackbone(backbone, head: config.dino.head, prototypes: prototypes,
                                          generator: RandomGenerator(seed: config.seed).fork(5))
    }

    /// Indexes the images, loads the teacher, builds the student, the loader (no masks) and the
    /// trainer, and writes RUN/config.json.
    public init(config: DistillationConfig, dataPath: String, runDirectory: URL, stopSignal: StopSignal? = nil,
                issues: DataIssueLog = DataIssueLog(), configure: (inout TrainerOptions) -> Void = { _ in }) throws {
        try config.validate()
        self.config = config
        dataset = try ImageFileDataset.open(dataPath)
        resolved = try config.studentSettings.resolved(datasetSize: dataset.count)
        let teacher = try DistillationRun.teacher(config, prototypes: resolved.prototypes)
        let patch = teacher.backbone.patchSize
        for (key, size) in [("crops.global_size", resolved.base.globalSize), ("crops.local_size", resolved.base.localSize)] where size % patch != 0 {
            throw ConfigError.invalidValue(path: key, message: "\(size) px is not a whole number of the teacher's \(patch)-px patches")
        }
        method = Distillation(settings: resolved, teacher: teacher)
        let pipeline = MultiCropPipeline(dataset: dataset, config: resolved.multiCrop, maskCollator: nil, issues: issues)
        source = MultiCropBatchSource(pipeline: pipeline, batchSize: config.batchSize, seed: config.seed,
                                      workers: resolved.base.workers, prefetchBatches: config.data.prefetchBatches)
        var options = resolved.trainerOptions
        configure(&options)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try DINORun.writeConfig(config, to: runDirectory)
        trainer = try Trainer(method: method, data: source, schedules: resolved.schedules, options: options,
                              runDirectory: runDirectory, config: try config.jsonTree(), stopSignal: stopSignal)
    }
}
