// A DINO run on disk: building the trainer from a config and a folder of images, and reading
// the trained teacher back from RUN for export and evaluation.
//
//     RUN/config.json                the DINOConfig the run was started with (read on resume)
//     RUN/checkpoints/…              the trainer's checkpoints (teacher under `teacher.backbone.`)
//     RUN/metrics.jsonl, tensorboard/
//
// What it is not: the command line (Sources/dino parses flags and calls this).

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// Everything a DINO training run needs, built from its configuration.
public struct DINORun {
    public static let configFileName = "config.json"

    public let config: DINOConfig
    public let resolved: ResolvedDINOConfig
    public let dataset: ImageFileDataset
    public let method: DINO
    public let source: MultiCropBatchSource
    public let trainer: Trainer<DINO, MultiCropBatchSource>

    /// The multi-crop augmentation of a resolved config: DINO's preset at its crop sizes and scales.
    public static func multiCrop(_ r: ResolvedDINOConfig) -> MultiCropConfig {
        var m = MultiCropConfig.preset(.dino, globalSize: r.globalSize, localSize: r.localSize, localCount: r.localCount)
        m.global.scale = r.config.crops.globalScale
        m.local.scale = r.config.crops.localScale
        return m
    }

    /// Indexes the images under `dataPath` (all images below it; class folders are not needed),
    /// resolves the automatic settings, builds the method, the loader and the trainer, and
    /// writes RUN/config.json.
    ///
    /// - Parameters:
    ///   - configure: adjusts the trainer's options (time budget, progress, logging) before use.
    /// - Throws: `ConfigError` for bad settings, `DatasetError` for an unusable folder.
    public init(config: DINOConfig, dataPath: String, runDirectory: URL, stopSignal: StopSignal? = nil,
                issues: DataIssueLog = DataIssueLog(), configure: (inout TrainerOptions) -> Void = { _ in }) throws {
        self.config = config
        dataset = try ImageFileDataset.open(dataPath)
        resolved = try config.resolved(datasetSize: dataset.count)
        method = DINO(settings: resolved)
        let pipeline = MultiCropPipeline(dataset: dataset, config: DINORun.multiCrop(resolved), issues: issues)
        source = MultiCropBatchSource(pipeline: pipeline, batchSize: config.batchSize, seed: config.seed,
                                      workers: resolved.workers, prefetchBatches: config.data.prefetchBatches)
        var options = resolved.trainerOptions
        configure(&options)
        let tree = try config.jsonTree()
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try DINORun.writeConfig(config, to: runDirectory)
        trainer = try Trainer(method: method, data: source, schedules: resolved.schedules, options: options,
                              runDirectory: runDirectory, config: tree, stopSignal: stopSignal)
    }

    /// Writes RUN/config.json (pretty, sorted keys) for a run of any method.
    public static func writeConfig<Config: Encodable>(_ config: Config, to runDirectory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(config).write(to: runDirectory.appendingPathComponent(configFileName), options: .atomic)
    }

    /// The config a run was started with (RUN/config.json), laid over the defaults.
    public static func storedConfig(in runDirectory: URL) throws -> DINOConfig {
        try ConfigLoader.load(DINOConfig.self, file: runDirectory.appendingPathComponent(configFileName))
    }

    // MARK: Reading a trained run

    /// The model preset, global crop size and checkpoint prefix of the backbone to export, for a
    /// run of any method: RUN/config.json read as the config of the method that wrote it (a
    /// distillation config names a teacher; a DINOv2 config has an `ibot` section). DINO and
    /// DINOv2 export their teacher, distillation the EMA of its student.
    public static func storedModel(in runDirectory: URL) throws -> (model: String, globalSize: Int?, prefix: String) {
        let url = runDirectory.appendingPathComponent(configFileName)
        switch storedMethod(in: runDirectory) {
        case "distill":
            let c = try ConfigLoader.load(DistillationConfig.self, file: url)
            return (c.model, c.crops.globalSize, Distillation.emaPrefix)
        case "dinov2":
            let c = try ConfigLoader.load(DINOv2Config.self, file: url)
            return (c.model, c.crops.globalSize, DINO.teacherBackbonePrefix)
        default:
            let c = try storedConfig(in: runDirectory)
            return (c.model, c.crops.globalSize, DINO.teacherBackbonePrefix)
        }
    }

    /// The method whose config RUN/config.json holds — `distill` (it names a teacher),
    /// `dinov2` (it has an `ibot` section) or `dino` — or nil when the run has no readable config.
    public static func storedMethod(in runDirectory: URL) -> String? {
        let url = runDirectory.appendingPathComponent(configFileName)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any] else { return nil }
        if object["teacher_run"] != nil || object["teacher_model"] != nil || object["teacher_weights"] != nil { return "distill" }
        return object["ibot"] != nil ? "dinov2" : "dino"
    }

    /// The teacher backbone of a run's newest checkpoint, in evaluation mode, and its input size
    /// (the global crop size it was trained at).
    ///
    /// - Throws: `ConfigError`, `CheckpointError` (no checkpoint, or one without a teacher),
    ///   `StateDictError`.
    public static func loadTeacher(run runDirectory: URL) throws -> (model: VisionTransformer, inputSize: Int) {
        let (modelName, globalSize, prefix) = try storedModel(in: runDirectory)
        var model: VisionTransformerConfig
        do { model = try ModelPresets.config(named: modelName) } catch let e as PresetError {
            throw ConfigError.invalidValue(path: "model", message: e.description)
        }
        model.dropPathRate = 0
        let store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))
        guard let checkpoint = try store.loadLatest() else {
            throw CheckpointError.mismatch("\(runDirectory.path) has no checkpoint yet")
        }
        var weights: [String: Tensor] = [:]
        for (k, t) in checkpoint.tensors where k.hasPrefix(prefix) {
            weights[String(k.dropFirst(prefix.count))] = t
        }
        guard !weights.isEmpty else {
            throw CheckpointError.mismatch("\(checkpoint.url.lastPathComponent) holds no '\(prefix)*' tensors")
        }
        let vit = VisionTransformer(model)
        try vit.load(stateDict: weights, takingOwnership: true)
        vit.eval()
        return (vit, globalSize ?? model.imageSize)
    }

    /// Writes a run's teacher backbone with the official hub keys (loadable by
    /// `VisionTransformer.loadWeights` and by PyTorch's `load_state_dict`).
    public static func exportTeacher(run runDirectory: URL, to url: URL) throws -> VisionTransformer {
        let (model, inputSize) = try loadTeacher(run: runDirectory)
        try model.saveWeights(to: url, metadata: ["dino.source": "teacher of \(runDirectory.path)",
                                                  "dino.input_size": String(inputSize)])
        return model
    }
}
