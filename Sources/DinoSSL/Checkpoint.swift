// Checkpoints: tensors in a safetensors file, the rest of the train state in a JSON file
// that is written last and names the tensor file.
//
//     RUN/checkpoints/checkpoint-000012345.safetensors   parameters, method state, optimiser state
//     RUN/checkpoints/checkpoint-000012345.json          TrainState: position, RNGs, config echo
//
// Both files are written to a temporary name, synced and renamed, the JSON after the tensors.
// A checkpoint exists only once its JSON does, so a crash mid-write leaves the previous one as
// the newest. Loading takes the JSON with the highest step and refuses (with the reason) a JSON
// that does not decode or whose tensor file is missing, of the wrong size or malformed, rather
// than silently falling back to an older one. After each save only the newest `keep` remain.

#if canImport(Glibc)
import DinoNN
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DinoTensor
import Foundation

/// Everything about a run's position that is not a tensor.
public struct TrainState: Codable {
    /// Version of this layout.
    public static let currentFormat = 1
    public var format = TrainState.currentFormat
    /// Optimiser steps done: the global iteration of the next step and the schedules' position.
    public var step: Int
    /// Epoch of the next step.
    public var epoch: Int
    /// Index within `epoch` of the next batch.
    public var batchInEpoch: Int
    /// Batches per epoch when saved (a changed data set is detected on resume).
    public var batchesPerEpoch: Int
    /// The method's random generators (seed and stream position each).
    public var generators: [String: RandomGenerator]
    /// Schedule values used by the last step, for reference.
    public var scheduleValues: [String: Double]
    /// The last step's total loss.
    public var lastLoss: Double?
    /// Training time over all sessions of the run, in seconds.
    public var elapsedSeconds: Double
    /// Why this checkpoint was written: "epoch", "interval", "stop", "budget".
    public var reason: String
    /// The tensor file in the same folder.
    public var tensorFile: String
    /// Its size in bytes, checked on load.
    public var tensorFileBytes: Int
    /// The run's configuration, as given.
    public var config: JSONValue
    /// Wall-clock time of the save (ISO 8601).
    public var savedAt: String
    /// The collapse monitor's streaks (nil in checkpoints written before it was saved).
    public var collapseMonitor: CollapseMonitor.State? = nil
    /// The products' precision of the run (nil in checkpoints written before it was saved: Float32).
    public var precision: Precision? = nil
    /// With bf16: how the products ran, "native" (oneDNN's bf16 matmul, AVX512_BF16) or
    /// "emulated" (Float32 GEMM on rounded values). They sum in different orders, so a resume
    /// on the other kind of CPU is not bit-exact (the trainer says so).
    public var bf16Products: String? = nil
    /// What computed the run's Float32 arithmetic (`ComputeBackend.description`: oneDNN's
    /// version and instruction set, the fused kernels' variant); nil in checkpoints written
    /// before it was saved. A resume under another one is not bit-exact (the trainer says so).
    public var computeBackend: String? = nil

    public init(step: Int, epoch: Int, batchInEpoch: Int, batchesPerEpoch: Int,
                generators: [String: RandomGenerator] = [:], scheduleValues: [String: Double] = [:],
                lastLoss: Double? = nil, elapsedSeconds: Double = 0, reason: String = "epoch",
                config: JSONValue = .object([:])) {
        self.step = step
        self.epoch = epoch
        self.batchInEpoch = batchInEpoch
        self.batchesPerEpoch = batchesPerEpoch
        self.generators = generators
        self.scheduleValues = scheduleValues
        self.lastLoss = lastLoss
        self.elapsedSeconds = elapsedSeconds
        self.reason = reason
        tensorFile = ""
        tensorFileBytes = 0
        self.config = config
        savedAt = ""
    }
}

/// Why a checkpoint could not be used.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// A checkpoint's files are damaged or inconsistent.
    case malformed(file: String, reason: String)
    /// The checkpoint does not fit the model, optimiser or data being resumed.
    case mismatch(String)

    public var description: String {
        switch self {
        case .malformed(let file, let reason):
            return "checkpoint \(file) is unusable: \(reason). Move it away to resume from an older one."
        case .mismatch(let message):
            return "checkpoint does not match this run: \(message)"
        }
    }
}

/// A loaded checkpoint.
public struct Checkpoint {
    public var state: TrainState
    public var tensors: [String: Tensor]
    /// The state JSON's location.
    public var url: URL
}

/// Saves, lists, prunes and loads the checkpoints of one run.
public struct CheckpointStore {
    /// RUN/checkpoints.
    public let directory: URL
    /// How many checkpoints to keep (the newest).
    public let keep: Int

    public init(directory: URL, keep: Int = 3) {
        precondition(keep >= 1, "CheckpointStore: keep must be at least 1, got \(keep)")
        self.directory = directory
        self.keep = keep
    }

    static let prefix = "checkpoint-"

    /// `checkpoint-000012345`.
    public static func name(step: Int) -> String { prefix + String(format: "%09d", step) }

    /// Writes `tensors` and then `state`, atomically each; prunes old checkpoints.
    ///
    /// - Returns: the state JSON's URL.
    @discardableResult
    public func save(tensors: [String: Tensor], state: TrainState) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = CheckpointStore.name(step: state.step)
        let tensorURL = directory.appendingPathComponent(name + ".safetensors")
        try SafeTensors.write(tensors, metadata: ["format": "swift-dino checkpoint", "step": String(state.step)], to: tensorURL)
        var state = state
        state.tensorFile = tensorURL.lastPathComponent
        state.tensorFileBytes = try fileSize(tensorURL)
        state.savedAt = ISO8601DateFormatter().string(from: Date())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let stateURL = directory.appendingPathComponent(name + ".json")
        try atomicWrite(try encoder.encode(state), to: stateURL)
        try prune()
        return stateURL
    }

    /// State JSONs of complete checkpoints, oldest first (by step in the name).
    public func list() -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { n -> (Int, URL)? in
            guard n.hasPrefix(CheckpointStore.prefix), n.hasSuffix(".json"),
                  let step = Int(n.dropFirst(CheckpointStore.prefix.count).dropLast(5)) else { return nil }
            return (step, directory.appendingPathComponent(n))
        }.sorted { $0.0 < $1.0 }
    }

    /// Deletes all but the newest `keep` checkpoints, and tensor files left without a JSON by
    /// an interrupted save (older than the newest checkpoint).
    func prune() throws {
        let fm = FileManager.default
        let all = list()
        for (_, url) in all.dropLast(keep) {
            try? fm.removeItem(at: url)    // the JSON first: never a JSON without its tensors
            try? fm.removeItem(at: url.deletingPathExtension().appendingPathExtension("safetensors"))
        }
        guard let newest = all.last?.step else { return }
        let names = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        for n in names where n.hasPrefix(CheckpointStore.prefix) && n.hasSuffix(".safetensors") {
            let base = String(n.dropLast(".safetensors".count))
            if let step = Int(base.dropFirst(CheckpointStore.prefix.count)), step < newest,
               !fm.fileExists(atPath: directory.appendingPathComponent(base + ".json").path) {
                try? fm.removeItem(at: directory.appendingPathComponent(n))
            }
        }
    }

    /// The newest checkpoint, or nil when there is none.
    ///
    /// - Throws: `CheckpointError.malformed` when the newest one cannot be used.
    public func loadLatest() throws -> Checkpoint? {
        guard let (_, url) = list().last else { return nil }
        return try load(url)
    }

    /// The checkpoint whose state JSON is `url`, with every consistency check.
    public func load(_ url: URL) throws -> Checkpoint {
        let file = url.path
        let state: TrainState
        do {
            state = try JSONDecoder().decode(TrainState.self, from: Data(contentsOf: url))
        } catch {
            throw CheckpointError.malformed(file: file, reason: "state JSON does not decode (\(error))")
        }
        guard state.format == TrainState.currentFormat else {
            throw CheckpointError.malformed(file: file, reason: "format \(state.format), this program reads \(TrainState.currentFormat)")
        }
        let tensorURL = directory.appendingPathComponent(state.tensorFile)
        guard !state.tensorFile.isEmpty, !state.tensorFile.contains("/"),
              FileManager.default.fileExists(atPath: tensorURL.path) else {
            throw CheckpointError.malformed(file: file, reason: "tensor file '\(state.tensorFile)' is missing")
        }
        let size = try fileSize(tensorURL)
        guard size == state.tensorFileBytes else {
            throw CheckpointError.malformed(file: file, reason: "tensor file has \(size) bytes, the state says \(state.tensorFileBytes)")
        }
        let tensors: [String: Tensor]
        do {
            tensors = try SafeTensors.read(from: tensorURL).tensors
        } catch {
            throw CheckpointError.malformed(file: file, reason: "\(error)")
        }
        return Checkpoint(state: state, tensors: tensors, url: url)
    }

    func fileSize(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? -1
    }
}

/// Writes `data` to a temporary file next to `url`, syncs it and renames it over `url`.
func atomicWrite(_ data: Data, to url: URL) throws {
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
    guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: tmp.path])
    }
    do {
        let h = try FileHandle(forWritingTo: tmp)
        try h.write(contentsOf: data)
        try h.synchronize()
        try h.close()
        if rename(tmp.path, url.path) != 0 {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path,
                                                           NSLocalizedDescriptionKey: String(cString: strerror(errno))])
        }
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw error
    }
}
