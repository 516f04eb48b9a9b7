// A per-op wall-time profile of a training step, for reading beside PyTorch's profiler.
//
// What a profile attributes, and how: every op that records itself on the tape calls
// `OpProfiler.forward(_:)` once its result exists (even under `withNoGrad`, where the op is
// not recorded, as in a teacher's forward); the wall time since the previous boundary is that
// op's *self time* — PyTorch's "self CPU" per `aten::` op. Each backward closure is timed on its
// own (`"<op> backward"`), and the autograd engine's work between closures (topological order,
// summing gradients, handing them to the leaves) goes to "autograd engine". Code outside the
// ops marks its own phases (`mark(_:)`: the trainer's data wait, optimiser, EMA, …). Work that
// neither records nor marks (in-place updates, creating tensors, argmax) lands on the next
// boundary: the profile is exact in total and approximate in attribution at that grain.
//
// Only the thread that called `start()` is profiled: tensor work on other threads (a data
// loader's workers) is ignored, and kernels that split across the pool count once, in wall time.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Seconds from an arbitrary origin, monotonic (the profiler's clock, and the trainer's).
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Wall time per op and phase of the calling thread's tensor work, between `start()` and `stop()`.
public enum OpProfiler {
    /// One line of a profile: an op's forward (`"linear"`), its backward (`"linear backward"`)
    /// or a marked phase (`"optimizer"`), with its calls and seconds.
    public struct Entry: Codable, Sendable, Equatable {
        public var name: String
        public var calls: Int
        public var seconds: Double
    }

    /// Read by every recorded op on every thread (an acquiring load, a plain load on x86: `owner`
    /// and `boundary`, written before the releasing store in `start()`, are seen after it).
    static let enabledFlag = Atomic<Bool>(false)
    static var enabled: Bool { enabledFlag.load(ordering: .acquiring) }
    nonisolated(unsafe) private static var owner = pthread_self()
    nonisolated(unsafe) private static var boundary = 0.0
    nonisolated(unsafe) private static var suspended = 0
    nonisolated(unsafe) private static var totals: [String: (calls: Int, seconds: Double)] = [:]

    /// Whether the calling thread is being profiled now.
    public static var isActive: Bool { enabled && pthread_equal(owner, pthread_self()) != 0 }

    /// Starts an empty profile of the calling thread; time from now on is attributed.
    public static func start() {
        totals = [:]
        suspended = 0
        owner = pthread_self()
        boundary = monotonicSeconds()
        enabledFlag.store(true, ordering: .releasing)
    }

    /// Ends the profile (the time since the last boundary goes to "untracked") and returns its
    /// entries, largest first.
    @discardableResult
    public static func stop() -> [Entry] {
        guard isActive else { return [] }
        mark("untracked")
        enabledFlag.store(false, ordering: .releasing)
        return totals.map { Entry(name: $0.key, calls: $0.value.calls, seconds: $0.value.seconds) }
            .sorted { $0.seconds != $1.seconds ? $0.seconds > $1.seconds : $0.name < $1.name }
    }

    /// Attributes the wall time since the previous boundary to `label` and starts a new one.
    /// Does nothing unless the calling thread is being profiled (or inside a timed region).
    public static func mark(_ label: String) {
        guard isActive, suspended == 0 else { return }
        let t = monotonicSeconds()
        add(label, t - boundary)
        boundary = t
    }

    /// Runs `body` as one timed region named `label`: the time before it goes to `before`,
    /// its own to `label`, and ops inside it do not mark (a backward closure's forward ops are
    /// part of that closure's time).
    public static func timed<R>(_ label: @autoclosure () -> String, before: String, _ body: () throws -> R) rethrows -> R {
        guard isActive, suspended == 0 else { return try body() }
        mark(before)
        suspended += 1
        defer {
            suspended -= 1
            let t = monotonicSeconds()
            add(label(), t - boundary)
            boundary = t
        }
        return try body()
    }

    /// A recorded op's result exists: its self time ends here.
    @inline(__always)
    static func forward(_ op: GradOp) {
        if enabled { mark(op.rawValue) }
    }

    private static func add(_ label: String, _ seconds: Double) {
        var e = totals[label] ?? (0, 0)
        e.calls += 1
        e.seconds += seconds
        totals[label] = e
    }

    /// The entries as a table: name, calls per step, total ms, ms per step, share of the total.
    public static func table(_ entries: [Entry], steps: Int) -> String {
        let total = entries.reduce(0) { $0 + $1.seconds }, n = Double(max(steps, 1))
        func name(_ s: String) -> String {
            (s.count > 40 ? String(s.prefix(39)) + "…" : s).padding(toLength: 41, withPad: " ", startingAt: 0)
        }
        var lines = [name("op / phase") + "calls/step   total ms   ms/step   share"]
        for e in entries {
            lines.append(name(e.name) + String(format: "%10.1f %10.1f %9.2f %6.1f %%", Double(e.calls) / n,
                                               1000 * e.seconds, 1000 * e.seconds / n, 100 * e.seconds / max(total, 1e-12)))
        }
        lines.append(name("total") + String(repeating: " ", count: 10) + String(format: " %10.1f %9.2f", 1000 * total, 1000 * total / n))
        return lines.joined(separator: "\n")
    }
}
