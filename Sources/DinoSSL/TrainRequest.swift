// What `dino train` asks for, checked and turned into a method and its config tree: the rules
// for choosing the method (a flag, the config file's "method", or the run being resumed), for
// new and resumed run folders, and for layering defaults, file and key=value overrides. The
// CLI only maps its flags to a `TrainRequest`; tests call `resolve()` directly.

import DinoNN
import Foundation

/// A request to start or resume a training run.
public struct TrainRequest: Equatable {
    /// `--method NAME`; nil: the config file's `"method"`, the resumed run's, or `dino`.
    public var method: String?
    /// Continue the run in `runDirectory` from its newest checkpoint.
    public var resume: Bool
    /// `--config FILE` (JSON or YAML); on resume it replaces RUN/config.json.
    public var configFile: URL?
    /// `key.sub=value` overrides, applied last (flags such as `--epochs` arrive as overrides).
    public var overrides: [String]
    public var runDirectory: URL

    /// The method of a new run when nothing names one.
    public static let defaultMethod = "dino"

    public init(method: String? = nil, resume: Bool = false, configFile: URL? = nil, overrides: [String] = [], runDirectory: URL) {
        self.method = method
        self.resume = resume
        self.configFile = configFile
        self.overrides = overrides
        self.runDirectory = runDirectory
    }

    /// Why a request cannot be served.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case nothingToResume(run: String)
        case runExists(run: String)
        case noStoredConfig(run: String)
        case conflictingMethod(requested: String, found: String, source: String)

        public var description: String {
            switch self {
            case .nothingToResume(let run):
                return "\(run) has no checkpoint to resume from"
            case .runExists(let run):
                return "\(run) already holds checkpoints; pass --resume to continue it or choose another --out"
            case .noStoredConfig(let run):
                return "\(run) has checkpoints but no \(TrainingRun.configFileName); pass --config FILE and --method NAME"
            case .conflictingMethod(let requested, let found, let source):
                return "--method \(requested) conflicts with \(source), which is a '\(found)' config; drop --method or use --method \(found)"
            }
        }
    }

    /// The method to train and its config tree (defaults of the method's config, the file
    /// without its `"method"` key, then the overrides), checked against the method's config
    /// type (strictly, then validated) so that an unknown key or a bad value fails here, before
    /// any data is read.
    ///
    /// - Throws: `Failure`, `MethodError.unknown`, `ConfigError` (unknown keys, bad values,
    ///   unreadable files).
    public func resolve() throws -> (method: String, config: JSONValue) {
        let hasCheckpoints = !CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints")).list().isEmpty
        var fileTree: JSONValue? = nil
        var fileMethod: (name: String, source: String)? = nil
        if resume {
            guard hasCheckpoints else { throw Failure.nothingToResume(run: runDirectory.path) }
            if let configFile {
                let (m, tree) = try TrainingRun.splitMethod(try ConfigLoader.readTree(configFile))
                fileTree = tree
                fileMethod = m.map { ($0, configFile.path) }
                // The run's own method still decides when the file names none.
                if fileMethod == nil, let stored = try TrainingRun.storedConfig(in: runDirectory) {
                    fileMethod = (stored.method, runDirectory.path)
                }
            } else {
                guard let stored = try TrainingRun.storedConfig(in: runDirectory) else { throw Failure.noStoredConfig(run: runDirectory.path) }
                fileTree = stored.config
                fileMethod = (stored.method, runDirectory.path)
            }
        } else {
            guard !hasCheckpoints else { throw Failure.runExists(run: runDirectory.path) }
            if let configFile {
                let (m, tree) = try TrainingRun.splitMethod(try ConfigLoader.readTree(configFile))
                fileTree = tree
                fileMethod = m.map { ($0, configFile.path) }
            }
        }
        if let method, let found = fileMethod, method != found.name {
            throw Failure.conflictingMethod(requested: method, found: found.name, source: found.source)
        }
        let name = method ?? fileMethod?.name ?? Self.defaultMethod
        func check<M: MethodPlugin>(_ type: M.Type) throws -> JSONValue {
            let file = fileTree ?? .object([:])
            let tree = try ConfigLoader.apply(overrides: overrides, to: try M.Config.defaults(under: file).merged(with: file))
            _ = try ConfigLoader.decode(M.Config.self, from: tree)
            return tree
        }
        return (name, try check(try MethodRegistry.method(named: name)))
    }
}
