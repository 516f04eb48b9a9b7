// A training run on disk, for any registered method: building the trainer from a method's
// name, its config and a folder of images, and reading a finished run back for export and
// evaluation.
//
//     RUN/config.json      the method's config, with "method": NAME (read on resume)
//     RUN/checkpoints/…    the trainer's checkpoints
//     RUN/metrics.jsonl, tensorboard/
//
// What it is not: the command line (Sources/dino parses flags into a `TrainRequest` and calls
// this), or any one method (MethodPlugin.swift says what a method provides).

import DinoDistributed
import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// The trainer as a run holds it, whatever its method and batch source.
public protocol TrainingLoop: AnyObject {
    /// Trains from the newest checkpoint (or the start) to the end or a stop.
    func run() throws -> TrainOutcome
    var step: Int { get }
    var epoch: Int { get }
    var batchInEpoch: Int { get }
    var options: TrainerOptions { get }
    /// Where messages for the user go (resume, checkpoints, collapse warnings); standard error by default.
    var log: (String) -> Void { get set }
    /// Called after every optimisation step (`Trainer.onStep`).
    var onStep: ((StepReport) -> Void)? { get set }
    /// Check after every step that all ranks hold bit-identical parameters (`Trainer.verifyReplicas`).
    var verifyReplicas: Bool { get set }
    /// Images per (global) batch.
    var itemsPerBatch: Int { get }
    /// Whether gradient all-reduces start during backward (`Trainer.overlapGradientReduction`).
    var overlapGradientReduction: Bool { get set }
}

extension Trainer: TrainingLoop {
    public var itemsPerBatch: Int { data.itemsPerBatch }
}

/// Everything a training run needs, built from a registered method and its configuration.
public struct TrainingRun {
    public static let configFileName = "config.json"
    /// The key of RUN/config.json that names the method.
    public static let methodKey = "method"

    /// The method's type in the registry, and its name.
    public let methodType: any MethodPlugin.Type
    public var methodName: String { methodType.name }
    /// The decoded config (a `methodType.Config`).
    public let config: any Configuration
    public let dataset: ImageFileDataset
    /// The method instance the trainer drives (cast to the method's type to inspect it).
    public let method: any TrainingMethod
    public let trainer: any TrainingLoop
    /// The start line of `dino train` (model, data, steps, main settings).
    public let summary: String

    /// Builds a run of `type` from its config: indexes the images under `dataPath`, resolves
    /// the automatic settings, builds the method, its batch source and the trainer, and writes
    /// RUN/config.json (with `"method"`).
    ///
    /// - Parameters:
    ///   - communicator: the ranks of data-parallel training; with several, the placement is
    ///     the communicator's rank and size, and only rank 0 writes RUN/config.json.
    ///   - configure: adjusts the trainer's options (time budget, progress, logging) before use.
    /// - Throws: `ConfigError` for bad settings, `DatasetError` for an unusable folder,
    ///   `MethodError`.
    public init<M: MethodPlugin>(_ type: M.Type, config: M.Config, dataPath: String, runDirectory: URL,
                                 placement: DataParallelPlacement = .single, stopSignal: StopSignal? = nil,
                                 issues: DataIssueLog = DataIssueLog(), communicator: any Communicator = SingleProcessCommunicator(),
                                 configure: (inout TrainerOptions) -> Void = { _ in }) throws {
        methodType = type
        self.config = config
        let placement = communicator.size > 1 ? DataParallelPlacement(rank: communicator.rank, worldSize: communicator.size) : placement
        dataset = try ImageFileDataset.open(dataPath)
        let context = MethodContext(dataset: dataset, placement: placement, issues: issues)
        let resolved = try M.resolve(config, context: context)
        let method = try M.build(resolved)
        let source = try M.batchSource(resolved, context: context)
        var options = M.trainerOptions(resolved)
        configure(&options)
        let tree = try TrainingRun.recordedTree(M.recorded(config), method: M.name)
        if communicator.isMain {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            try TrainingRun.writeConfig(tree, to: runDirectory)
        }
        self.method = method
        trainer = try Trainer(method: method, data: source, schedules: M.schedules(resolved), options: options,
                              runDirectory: runDirectory, config: tree, stopSignal: stopSignal, communicator: communicator)
        summary = M.describe(resolved, context: context)
    }

    /// Builds a run of the method registered as `name`, its config decoded strictly from
    /// `tree` laid over the method's defaults.
    ///
    /// - Throws: `MethodError.unknown` for a name not in `MethodRegistry`, `ConfigError` for
    ///   unknown keys and bad values, and what the typed initialiser throws.
    public init(method name: String, configTree tree: JSONValue, dataPath: String, runDirectory: URL,
                placement: DataParallelPlacement = .single, stopSignal: StopSignal? = nil,
                issues: DataIssueLog = DataIssueLog(), communicator: any Communicator = SingleProcessCommunicator(),
                configure: (inout TrainerOptions) -> Void = { _ in }) throws {
        func make<M: MethodPlugin>(_ type: M.Type) throws -> TrainingRun {
            try TrainingRun(type, config: try ConfigLoader.decode(M.Config.self, from: tree), dataPath: dataPath,
                            runDirectory: runDirectory, placement: placement, stopSignal: stopSignal, issues: issues,
                            communicator: communicator, configure: configure)
        }
        self = try make(try MethodRegistry.method(named: name))
    }

    // MARK: RUN/config.json

    /// The config's tree with `"method": NAME` added.
    public static func recordedTree<C: Configuration>(_ config: C, method: String) throws -> JSONValue {
        guard case .object(var object) = try config.jsonTree() else {
            preconditionFailure("TrainingRun: \(C.self) does not encode as a JSON object")
        }
        precondition(object[methodKey] == nil, "TrainingRun: \(C.self) has a key '\(methodKey)' of its own")
        object[methodKey] = .string(method)
        return .object(object)
    }

    /// Writes RUN/config.json (pretty, sorted keys).
    public static func writeConfig(_ tree: JSONValue, to runDirectory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(tree).write(to: runDirectory.appendingPathComponent(configFileName), options: .atomic)
    }

    /// A config tree split into its `"method"` (nil when absent) and the method's own keys.
    public static func splitMethod(_ tree: JSONValue) throws -> (method: String?, config: JSONValue) {
        guard case .object(var object) = tree else { return (nil, tree) }
        guard let value = object.removeValue(forKey: methodKey) else { return (nil, tree) }
        guard case .string(let name) = value else {
            throw ConfigError.typeMismatch(path: methodKey, expected: "a method name (\(MethodRegistry.names.joined(separator: ", ")))",
                                           found: "\(value)")
        }
        return (name, .object(object))
    }

    /// The method and config tree RUN/config.json records, or nil when the run has no config.
    ///
    /// Runs written before RUN/config.json named its method (no `"method"` key) are read as
    /// the method whose config they hold: `distill` when it names a teacher, `dinov2` when it
    /// has an `ibot` section, else `dino`. This fallback exists for those old runs only.
    public static func storedConfig(in runDirectory: URL) throws -> (method: String, config: JSONValue)? {
        let url = runDirectory.appendingPathComponent(configFileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let (stored, config) = try splitMethod(try ConfigLoader.readTree(url))
        let method = stored ?? legacyMethod(of: config)
        func migrate<M: MethodPlugin>(_ type: M.Type) -> JSONValue { M.migrateStoredConfig(config) }
        guard let plugin = try? MethodRegistry.method(named: method) else { return (method, config) }
        return (method, migrate(plugin))
    }

    /// The method of a RUN/config.json written before the `"method"` key existed.
    static func legacyMethod(of tree: JSONValue) -> String {
        if tree["teacher_run"] != nil || tree["teacher_model"] != nil || tree["teacher_weights"] != nil { return "distill" }
        return tree["ibot"] != nil ? "dinov2" : "dino"
    }

    // MARK: Reading a trained run

    /// The backbone a run exports (its method's choice: DINO and DINOv2 their teacher,
    /// distillation its student's EMA), read from RUN/config.json.
    ///
    /// - Parameter student: one of several students of a multi-student distillation run (its
    ///   preset); nil: the run's default (the first student).
    public static func exportedModel(in runDirectory: URL, student: String? = nil) throws -> ExportedModel {
        guard let (name, tree) = try storedConfig(in: runDirectory) else {
            throw ConfigError.unreadable(file: runDirectory.appendingPathComponent(configFileName).path, message: "missing; is this a `dino train` run?")
        }
        func read<M: MethodPlugin>(_ type: M.Type) throws -> ExportedModel {
            try M.exportedModel(try ConfigLoader.decode(M.Config.self, from: tree), student: student)
        }
        return try read(try MethodRegistry.method(named: name))
    }

    /// The exported backbone of a run's newest checkpoint, in evaluation mode, and its input
    /// size (the global crop size it was trained at).
    ///
    /// - Throws: `ConfigError`, `MethodError`, `CheckpointError` (no checkpoint, or one without
    ///   the backbone), `StateDictError`.
    public static func loadBackbone(run runDirectory: URL, student: String? = nil) throws -> (model: VisionTransformer, inputSize: Int) {
        var (config, weights, inputSize) = try backboneWeights(run: runDirectory, student: student)
        config.dropPathRate = 0
        let vit = VisionTransformer(config)
        try vit.load(stateDict: weights, takingOwnership: true)
        vit.eval()
        return (vit, inputSize)
    }

    /// The exported backbone of a run's newest checkpoint as an embedding backbone, in
    /// evaluation mode, and its input size: a DINOv3 ConvNeXt for a distillation's ConvNeXt
    /// student (official keys), else the ViT of `loadBackbone`.
    ///
    /// - Throws: as `loadBackbone(run:)`.
    public static func loadEmbeddingBackbone(run runDirectory: URL, student: String? = nil) throws -> (model: any EmbeddingBackbone, inputSize: Int) {
        let exported = try exportedModel(in: runDirectory, student: student)
        guard var config = ConvNeXtPresets.all[exported.model] else {
            let (vit, size) = try loadBackbone(run: runDirectory, student: student)
            return (vit, size)
        }
        config.dropPathRate = 0
        let model = ConvNeXt(config)
        try model.load(stateDict: try exportedWeights(run: runDirectory, prefix: exported.backbonePrefix), takingOwnership: true)
        model.eval()
        return (model, exported.inputSize ?? config.imageSize)
    }

    /// The architecture, weights (official keys) and input size of a run's exported backbone when it
    /// is a DINOv3 ConvNeXt (a distillation's ConvNeXt student), for a caller that builds the
    /// model itself (fine-tuning sets its own drop-path rate); nil when it is a ViT.
    ///
    /// - Throws: as `loadBackbone(run:)`.
    public static func convNeXtBackboneWeights(run runDirectory: URL, student: String? = nil) throws
        -> (config: ConvNeXtConfig, weights: [String: Tensor], inputSize: Int)? {
        let exported = try exportedModel(in: runDirectory, student: student)
        guard let config = ConvNeXtPresets.all[exported.model] else { return nil }
        return (config, try exportedWeights(run: runDirectory, prefix: exported.backbonePrefix), exported.inputSize ?? config.imageSize)
    }

    /// The tensors under `prefix` of a run's newest checkpoint, without it.
    static func exportedWeights(run runDirectory: URL, prefix: String) throws -> [String: Tensor] {
        let checkpoint = try newestCheckpoint(of: runDirectory)
        var weights: [String: Tensor] = [:]
        for (k, t) in checkpoint.tensors where k.hasPrefix(prefix) { weights[String(k.dropFirst(prefix.count))] = t }
        guard !weights.isEmpty else {
            throw CheckpointError.mismatch("\(checkpoint.url.lastPathComponent) holds no '\(prefix)*' tensors")
        }
        return weights
    }

    /// The architecture, weights (official keys) and input size of a run's exported backbone,
    /// for a caller that builds the model itself (fine-tuning sets its own drop-path rate).
    ///
    /// - Throws: as `loadBackbone(run:)`.
    public static func backboneWeights(run runDirectory: URL, student: String? = nil) throws
        -> (config: VisionTransformerConfig, weights: [String: Tensor], inputSize: Int) {
        let exported = try exportedModel(in: runDirectory, student: student)
        if ConvNeXtPresets.all[exported.model] != nil {
            throw MethodError.unsupported("\(runDirectory.lastPathComponent)'s exported backbone is the ConvNeXt \(exported.model), not a Vision Transformer; read it with `loadEmbeddingBackbone` or `convNeXtBackboneWeights` (`dino embed|export|eval|finetune` take it; `dino eval video` does not)")
        }
        let model: VisionTransformerConfig
        do { model = try ModelPresets.config(named: exported.model) } catch let e as PresetError {
            throw ConfigError.invalidValue(path: "model", message: e.description)
        }
        let checkpoint = try newestCheckpoint(of: runDirectory)
        var weights: [String: Tensor] = [:]
        for (k, t) in checkpoint.tensors where k.hasPrefix(exported.backbonePrefix) {
            weights[String(k.dropFirst(exported.backbonePrefix.count))] = t
        }
        guard !weights.isEmpty else {
            throw CheckpointError.mismatch("\(checkpoint.url.lastPathComponent) holds no '\(exported.backbonePrefix)*' tensors")
        }
        // A run trained with a norm of its own for local crops (DINOv3's
        // `untie_global_and_local_cls_norm`) on a preset without it: that norm serves local
        // crops in training only, never inference.
        if !model.untieGlobalAndLocalClsNorm { weights = weights.filter { !$0.key.hasPrefix("local_cls_norm.") } }
        return (model, weights, exported.inputSize ?? model.imageSize)
    }

    /// The newest checkpoint of a run.
    static func newestCheckpoint(of runDirectory: URL) throws -> Checkpoint {
        let store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))
        guard let checkpoint = try store.loadLatest() else {
            throw CheckpointError.mismatch("\(runDirectory.path) has no checkpoint yet")
        }
        return checkpoint
    }

    /// Writes a run's exported backbone with the official hub keys (loadable by
    /// `VisionTransformer.loadWeights` and by PyTorch's `load_state_dict`).
    /// A ConvNeXt student is written with the official keys (without the reference's `norms.3`
    /// alias of `norm`), which `ConvNeXt.load(preset:weights:)` and `dino embed` read.
    public static func exportBackbone(run runDirectory: URL, to url: URL, student: String? = nil) throws -> any EmbeddingBackbone {
        let (model, inputSize) = try loadEmbeddingBackbone(run: runDirectory, student: student)
        let metadata = ["dino.source": "exported backbone of \(runDirectory.path)" + (student.map { " (student \($0))" } ?? ""),
                        "dino.input_size": String(inputSize)]
        if let vit = model as? VisionTransformer {
            try vit.saveWeights(to: url, metadata: metadata)
        } else {
            try SafeTensors.write(model.stateDict(), metadata: metadata, to: url)
        }
        return model
    }
}
