// What a training method is to the rest of the package: one protocol, `MethodPlugin`, and one
// table of the registered methods, `MethodRegistry` (lightly-train's `_methods/<name>/` with
// `method_helpers.py` and `_method_name_to_cls`).
//
// A method is a `TrainingMethod` (its modules, parameter groups, step, hooks and checkpoint
// state, driven by the Trainer) that also says, as static members, its name, a one-line
// summary, its strict `Config`, how the config's automatic values are resolved for a data set
// and a run length, how the method and its batch source are built, its schedules and trainer
// options, and which backbone a finished run exports. `TrainingRun` (TrainingRun.swift) builds
// any registered method from its name; `dino train --method NAME` is a lookup in the table.
//
// Adding a method: a folder Methods/<Name>/ with its config, loss, step and this conformance,
// and one line in `MethodRegistry.builtIn`. docs/architecture.md has a walk-through.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// Where a process stands in data-parallel training: its rank among `worldSize` processes.
/// A batch source reads it to take its share of each epoch.
public struct DataParallelPlacement: Equatable, Sendable {
    public var rank: Int
    public var worldSize: Int

    public init(rank: Int, worldSize: Int) {
        precondition(worldSize >= 1 && (0..<worldSize).contains(rank),
                     "DataParallelPlacement: rank \(rank) is not in 0..<\(worldSize)")
        self.rank = rank
        self.worldSize = worldSize
    }

    /// One process.
    public static let single = DataParallelPlacement(rank: 0, worldSize: 1)
}

/// What a method is built from besides its config: the training images, the process's place
/// in data-parallel training, and where bad images are reported.
public struct MethodContext {
    public let dataset: ImageFileDataset
    public let placement: DataParallelPlacement
    public let issues: DataIssueLog

    public init(dataset: ImageFileDataset, placement: DataParallelPlacement = .single, issues: DataIssueLog = DataIssueLog()) {
        self.dataset = dataset
        self.placement = placement
        self.issues = issues
    }

    /// Throws unless `batchSize` (the global batch) divides evenly among the ranks.
    public func requireDivisibleBatch(_ batchSize: Int) throws {
        guard batchSize % placement.worldSize == 0 else {
            throw ConfigError.invalidValue(path: "batch_size", message: "the global batch \(batchSize) does not divide among \(placement.worldSize) ranks")
        }
    }

    /// Throws unless this is a single-process run (for methods whose batch source does not
    /// shard its epochs yet).
    public func requireSingleProcess(_ method: String) throws {
        guard placement.worldSize == 1 else {
            throw MethodError.unsupported("\(method): data-parallel training (world size \(placement.worldSize)) is not supported yet")
        }
    }
}

/// The backbone a finished run exports, and where its tensors are in the run's checkpoints.
public struct ExportedModel: Equatable, Sendable {
    /// The model preset of the exported backbone.
    public var model: String
    /// The side it was trained at (the global crop size); nil: the preset's input size.
    public var inputSize: Int?
    /// Checkpoint prefix of the exported backbone (`teacher.backbone.`).
    public var backbonePrefix: String
    /// Checkpoint prefixes of its DINO and iBOT heads, when the run has them (a distillation
    /// student reads a teacher run's heads from here).
    public var dinoHeadPrefix: String?
    public var ibotHeadPrefix: String?

    public init(model: String, inputSize: Int?, backbonePrefix: String, dinoHeadPrefix: String? = nil, ibotHeadPrefix: String? = nil) {
        self.model = model
        self.inputSize = inputSize
        self.backbonePrefix = backbonePrefix
        self.dinoHeadPrefix = dinoHeadPrefix
        self.ibotHeadPrefix = ibotHeadPrefix
    }
}

/// Why a method could not be chosen or built.
public enum MethodError: Error, CustomStringConvertible, Equatable {
    /// No method of this name is registered.
    case unknown(String, available: [String])
    /// A feature the method does not support.
    case unsupported(String)

    public var description: String {
        switch self {
        case .unknown(let name, let available):
            return "unknown method '\(name)'; registered methods: \(available.joined(separator: ", "))"
        case .unsupported(let message):
            return message
        }
    }
}

/// A training method as a plug-in: a `TrainingMethod` with its name, config, resolution,
/// construction, batch source and export.
///
/// The Trainer drives the instance (`step`, `afterOptimizerStep`, checkpoint state); the static
/// members let `TrainingRun` build it from a config file and a folder of images, and let
/// `dino export` / `dino eval --run` find the backbone a run trained.
public protocol MethodPlugin: TrainingMethod {
    /// The method's settings: a strict `Configuration` (unknown keys rejected) whose `init()`
    /// holds the reference's values, each documented.
    associatedtype Config: Configuration
    /// The config with every automatic value decided for one data set and run length.
    associatedtype Resolved
    /// Where its batches come from.
    associatedtype Source: BatchSource where Source.Batch == Batch

    /// The name of `dino train --method NAME` and of RUN/config.json's `"method"`.
    static var name: String { get }
    /// One line for `dino train --help` (at most 70 characters, so that it stays one line).
    static var summary: String { get }
    /// Decides the automatic values (prototypes, warm-ups, crop sizes, …) for the data set
    /// and run length; validates the config.
    ///
    /// - Throws: `ConfigError` naming the key at fault, `MethodError.unsupported`.
    static func resolve(_ config: Config, context: MethodContext) throws -> Resolved
    /// Builds the modules (initialised from the config's seed) and their parameter groups.
    static func build(_ resolved: Resolved) throws -> Self
    /// The batches of each epoch; the source may read the process's rank and the world size.
    static func batchSource(_ resolved: Resolved, context: MethodContext) throws -> Source
    /// The schedules the parameter groups and the step read (`lr`, `wd`, `momentum`, …).
    static func schedules(_ resolved: Resolved) -> ScheduleSet
    /// Epochs, clipping and the optimiser's settings.
    static func trainerOptions(_ resolved: Resolved) -> TrainerOptions
    /// One or two lines printed when training starts (model, data, steps, main settings).
    static func describe(_ resolved: Resolved, context: MethodContext) -> String
    /// The backbone a run of this config exports, and where it is in its checkpoints.
    static func exportedModel(_ config: Config) throws -> ExportedModel
    /// The backbone of one of several trained models (`dino export --student NAME`; multi-student
    /// distillation); nil: the default one, `exportedModel(config)`. Default: only nil is accepted.
    static func exportedModel(_ config: Config, student: String?) throws -> ExportedModel
    /// The config as RUN/config.json records it: automatic choices whose default may change
    /// between versions written out, so that `--resume` keeps what the run started with.
    /// Default: the config unchanged.
    static func recorded(_ config: Config) -> Config
    /// A RUN/config.json tree written by an older version, given the values that version used
    /// for keys it did not record. Default: the tree unchanged.
    static func migrateStoredConfig(_ tree: JSONValue) -> JSONValue
}

extension MethodPlugin {
    public static func recorded(_ config: Config) -> Config { config }
    public static func migrateStoredConfig(_ tree: JSONValue) -> JSONValue { tree }

    public static func exportedModel(_ config: Config, student: String?) throws -> ExportedModel {
        guard let student else { return try exportedModel(config) }
        throw MethodError.unsupported("a \(name) run trains one model; there is no student '\(student)' to choose")
    }
}

/// The table of registered methods, by name.
public enum MethodRegistry {
    /// The methods of this package, in the order `dino train --help` lists them.
    public static let builtIn: [any MethodPlugin.Type] = [DINO.self, DINOv2.self, Distillation.self, DINOv3.self]

    nonisolated(unsafe) private static var added: [any MethodPlugin.Type] = []
    private static let lock = NSLock()

    /// Every registered method: the built-in ones, then those added with `register`.
    public static var methods: [any MethodPlugin.Type] {
        lock.lock()
        defer { lock.unlock() }
        return builtIn + added
    }

    /// The names of the registered methods.
    public static var names: [String] { methods.map { $0.name } }

    /// Adds a method defined outside this package (a program's own, or a test's). A second
    /// registration of the same type is ignored; another type of an existing name is an error.
    public static func register(_ method: any MethodPlugin.Type) {
        lock.lock()
        defer { lock.unlock() }
        if let same = (builtIn + added).first(where: { $0.name == method.name }) {
            precondition(ObjectIdentifier(same) == ObjectIdentifier(method),
                         "MethodRegistry: a method named '\(method.name)' is already registered")
            return
        }
        added.append(method)
    }

    /// The method registered as `name`.
    ///
    /// - Throws: `MethodError.unknown` listing the registered names.
    public static func method(named name: String) throws -> any MethodPlugin.Type {
        guard let m = methods.first(where: { $0.name == name }) else {
            throw MethodError.unknown(name, available: names)
        }
        return m
    }

    /// "name  summary" lines, one per method (for `dino train --help`).
    public static var listing: String {
        let width = names.map(\.count).max() ?? 0
        return methods.map { $0.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.summary }
            .joined(separator: "\n")
    }
}
