// A terminal progress bar for training, evaluation and feature extraction.
//
//     epoch 3/100 [=============>                ] 45% 1234/2740 loss 3.21 lr 1.2e-4 58.3 img/s ETA 02:13
//
// On a terminal the line is redrawn in place (carriage return, clear to end of line) at most
// ten times a second. When the output is a file or a pipe (a batch job's log), a plain line is
// printed every `plainInterval` seconds instead, and at the end. `finish` prints a summary line.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DinoTensor
import Foundation

/// A progress bar over `total` steps.
public final class ProgressBar {
    public let total: Int
    /// Text before the bar, e.g. "epoch 3/100".
    public var label: String
    /// Items per step and their unit, for the throughput (`58.3 img/s`); nil hides it.
    public var itemsPerStep: Int?
    public var itemUnit: String
    let width: Int
    let isTerminal: Bool
    let plainInterval: Double
    let output: (String) -> Void
    let clock: () -> Double
    let startTime: Double
    let startCompleted: Int
    var lastDraw = -Double.infinity
    var lastLine = ""
    public private(set) var completed = 0
    /// A warning shown at the end of the bar while it holds (the collapse monitor's).
    public var note: String?

    /// - Parameters:
    ///   - total: number of steps.
    ///   - startingAt: steps already done (a resumed epoch); the rate counts only new ones.
    ///   - label: text before the bar.
    ///   - itemsPerStep: items (images) per step, for the throughput; nil to omit it.
    ///   - isTerminal: redraw in place; defaults to whether standard error is a terminal.
    ///   - plainInterval: seconds between lines when not on a terminal.
    ///   - output: where text goes (default: standard error, unbuffered).
    ///   - clock: monotonic seconds (injectable for tests).
    public init(total: Int, startingAt: Int = 0, label: String = "", itemsPerStep: Int? = nil, itemUnit: String = "img",
                width: Int = 30, isTerminal: Bool? = nil, plainInterval: Double = 30,
                output: ((String) -> Void)? = nil, clock: @escaping () -> Double = monotonicSeconds) {
        self.total = Swift.max(total, 0)
        self.label = label
        self.itemsPerStep = itemsPerStep
        self.itemUnit = itemUnit
        self.width = width
        self.isTerminal = isTerminal ?? (isatty(STDERR_FILENO) != 0)
        self.plainInterval = plainInterval
        self.output = output ?? { FileHandle.standardError.write(Data($0.utf8)) }
        self.clock = clock
        startTime = clock()
        startCompleted = startingAt
        completed = startingAt
    }

    /// Records that `completed` steps are done, with the latest metrics (`("loss", 3.21)`).
    /// Draws if enough time has passed since the last drawing, or when the last step is done.
    public func update(completed: Int, metrics: [(String, Double)] = []) {
        self.completed = completed
        let now = clock()
        let interval = isTerminal ? 0.1 : plainInterval
        let last = completed >= total
        guard now - lastDraw >= interval || last else { return }
        lastDraw = now
        let line = render(now: now, metrics: metrics)
        lastLine = line
        output(isTerminal ? "\r" + line + "\u{1B}[K" : line + "\n")
    }

    /// Ends the line of the bar on a terminal, so that a message can be printed below it; the
    /// next update draws the bar again.
    public func interrupt() {
        if isTerminal && !lastLine.isEmpty { output("\n") }
        lastLine = ""
    }

    /// Ends the bar (leaving the last drawing on a terminal) and prints a summary line:
    /// `epoch 3/100: 2740 steps in 12:34 (3.63 it/s, 58.3 img/s) loss 3.21`.
    public func finish(metrics: [(String, Double)] = []) {
        let now = clock()
        if isTerminal && !lastLine.isEmpty { output("\n") }
        let elapsed = now - startTime
        var parts = [(label.isEmpty ? "" : label + ": ") + "\(completed - startCompleted) steps in \(ProgressBar.duration(elapsed))"]
        if let rate = rate(now: now) {
            var r = ProgressBar.number(rate) + " it/s"
            if let items = itemsPerStep { r += ", " + ProgressBar.number(rate * Double(items)) + " \(itemUnit)/s" }
            parts[0] += " (\(r))"
        }
        parts += metrics.map { "\($0.0) \(ProgressBar.number($0.1))" }
        output(parts.joined(separator: " ") + "\n")
    }

    /// Steps per second since the bar was created.
    func rate(now: Double) -> Double? {
        guard completed > startCompleted, now > startTime else { return nil }
        return Double(completed - startCompleted) / (now - startTime)
    }

    /// The bar's text at time `now`.
    public func render(now: Double, metrics: [(String, Double)]) -> String {
        let fraction = total > 0 ? Double(Swift.min(completed, total)) / Double(total) : 1
        let filled = Int(fraction * Double(width))
        let bar: String
        if filled >= width {
            bar = String(repeating: "=", count: width)
        } else if filled == 0 {
            bar = String(repeating: " ", count: width)
        } else {
            bar = String(repeating: "=", count: filled - 1) + ">" + String(repeating: " ", count: width - filled)
        }
        var parts: [String] = []
        if !label.isEmpty { parts.append(label) }
        parts.append("[\(bar)] \(Int(fraction * 100))% \(completed)/\(total)")
        parts += metrics.map { "\($0.0) \(ProgressBar.number($0.1))" }
        if let r = rate(now: now) {
            if let items = itemsPerStep { parts.append(ProgressBar.number(r * Double(items)) + " \(itemUnit)/s") }
            parts.append("ETA " + ProgressBar.duration(Double(Swift.max(total - completed, 0)) / r))
        }
        if let note { parts.append(note) }
        return parts.joined(separator: " ")
    }

    /// Compact numbers: `3.21`, `58.3`, `1234`, `0.0123`, `1.2e-4`, `nan`.
    public static func number(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == 0 { return "0" }
        let a = Swift.abs(x)
        if a >= 1000 && a < 1e7 { return String(format: "%.0f", x) }
        if a >= 0.01 && a < 1000 { return String(format: "%.3g", x) }
        // 1.2e-04 → 1.2e-4, 1.0e-04 → 1e-4
        let s = String(format: "%.1e", x).replacingOccurrences(of: ".0e", with: "e")
        guard let e = s.firstIndex(of: "e") else { return s }
        let mantissa = s[..<e], exponent = s[s.index(after: e)...]
        let sign = exponent.first == "-" ? "-" : ""
        let digits = exponent.drop { $0 == "-" || $0 == "+" || $0 == "0" }
        return "\(mantissa)e\(sign)\(digits.isEmpty ? "0" : String(digits))"
    }

    /// `mm:ss`, or `h:mm:ss` from an hour on.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%02d:%02d", m, sec)
    }
}
