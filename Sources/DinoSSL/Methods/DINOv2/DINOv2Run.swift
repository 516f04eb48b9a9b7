// A DINOv2 run on disk, as DINORun for DINO: RUN/config.json (the DINOv2Config), checkpoints with
// the teacher backbone under `teacher.backbone.` (read back by `DINORun.loadTeacher` for export
// and evaluation), metrics and TensorBoard files.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// Everything a DINOv2 training run needs, built from its configuration.
public struct DINOv2Run {
    public let config: DINOv2Config
    public let resolved: ResolvedDINOv2Config
    public let dataset: ImageFileDataset
    public let method: DINOv2
    public let source: MultiCropBatchSource
    public let trainer: Trainer<DINOv2, MultiCropBatchSource>

    /// Indexes the images under `dataPath`, resolves the automatic settings, builds the method,
    /// the loader (with iBOT masks) and the trainer, and writes RUN/config.json.
    public init(config: DINOv2Config, dataPath: String, runDirectory: URL, stopSignal: StopSignal? = nil,
                issues: DataIssueLog = DataIssueLog(), configure: (inout TrainerOptions) -> Void = { _ in }) throws {
        self.config = config
        dataset = try ImageFileDataset.open(dataPath)
        resolved = try config.resolved(datasetSize: dataset.count)
        method = DINOv2(settings: resolved)
        let pipeline = MultiCropPipeline(dataset: dataset, config: resolved.multiCrop, maskCollator: resolved.maskCollator, issues: issues)
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
