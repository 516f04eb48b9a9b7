// Training metrics on disk: RUN/metrics.jsonl (one JSON object per line) and, optionally,
// TensorBoard scalars in RUN/tensorboard/.
//
// Every line is written with one `write` call as soon as it is logged, so a crash loses
// nothing already logged and `tail -f` shows progress. When a run resumes from a checkpoint,
// lines from steps at or after the checkpoint (logged by the interrupted run, to be redone)
// are dropped, so the file reads as one uninterrupted run.

import DinoNN
import Foundation

/// Writes one JSON object per logged step, plus TensorBoard scalars.
public final class MetricsLogger {
    /// The key of each step's wall time in seconds, logged by the trainer: the one value of a
    /// line that is not bit-exact across a resume.
    public static let stepSecondsKey = "step_seconds"

    /// RUN/metrics.jsonl.
    public let url: URL
    /// The TensorBoard writer, when enabled.
    public let tensorBoard: TensorBoardWriter?
    let handle: FileHandle

    /// Opens RUN/metrics.jsonl for appending.
    ///
    /// - Parameters:
    ///   - runDirectory: the run's folder (created if needed).
    ///   - resumingAt: when resuming at this step, earlier lines are kept and lines with
    ///     `step >= resumingAt` (and any unreadable partial line) are removed first.
    ///   - tensorBoard: also write RUN/tensorboard/events.out.tfevents.*.
    public init(runDirectory: URL, resumingAt: Int? = nil, tensorBoard: Bool = true) throws {
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        url = runDirectory.appendingPathComponent("metrics.jsonl")
        let fm = FileManager.default
        if let step = resumingAt, fm.fileExists(atPath: url.path) {
            let kept = try String(contentsOf: url, encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: true)
                .filter { line in
                    guard let v = try? JSONValue.parse(String(line)), case .integer(let s)? = v["step"] else { return false }
                    return s < step
                }
            try (kept.map { $0 + "\n" }.joined()).write(to: url, atomically: true, encoding: .utf8)
        } else if resumingAt == nil || !fm.fileExists(atPath: url.path) {
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        self.tensorBoard = tensorBoard
            ? try TensorBoardWriter(directory: runDirectory.appendingPathComponent("tensorboard")) : nil
    }

    deinit { try? handle.close() }

    /// Logs `values` (loss terms, schedule values, throughput) at `step` of `epoch`.
    ///
    /// The line is `{"epoch":E,"step":S,<name>:<value>,…}` with keys sorted; non-finite values
    /// are written as null (JSON has no NaN).
    public func log(step: Int, epoch: Int, values: [String: Double]) throws {
        var object: [String: JSONValue] = values.mapValues { .double($0) }
        object["step"] = .integer(step)
        object["epoch"] = .integer(epoch)
        try handle.write(contentsOf: Data((JSONValue.object(object).serialized + "\n").utf8))
        try tensorBoard?.add(scalars: values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, step: step)
    }

    /// Reads a metrics file back: one dictionary of numbers per line (null values omitted).
    public static func read(_ url: URL) throws -> [[String: Double]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            guard case .object(let o) = try JSONValue.parse(String(line)) else {
                throw ConfigError.invalidValue(path: url.lastPathComponent, message: "line is not a JSON object: \(line)")
            }
            return o.compactMapValues { v -> Double? in
                switch v {
                case .integer(let i): return Double(i)
                case .double(let d): return d
                default: return nil
                }
            }
        }
    }
}
