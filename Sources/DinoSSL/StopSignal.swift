// Stopping a run cleanly: on SIGINT/SIGTERM, or when a wall-clock budget is spent.
//
// The signal handler only writes a byte to a pipe, whose reader raises a flag; the trainer
// looks at the flag between steps, writes a checkpoint and returns, so that Ctrl-C (or a
// cluster's SIGTERM before pre-emption) never loses more than the step in flight. A second
// signal while the first is being handled ends the process at once, with status 128 + signal.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DinoTensor
import Dispatch
import Foundation

/// The signal handler's side of a self-pipe: the handler only writes the signal number to a
/// pipe (async-signal-safe); a dispatch source reads it and notifies the stop flags.
///
/// (A `DispatchSourceSignal` is not used: on Linux it reads a signalfd, which never sees a
/// signal whose disposition is SIG_IGN, and leaving the default disposition kills the process.)
private enum SignalPipe {
    nonisolated(unsafe) static var writeEnd: Int32 = -1
    nonisolated(unsafe) static var source: DispatchSourceRead?
    static let lock = NSLock()
    nonisolated(unsafe) static var listeners: [ObjectIdentifier: (flag: Weak, signals: [Int32])] = [:]

    struct Weak { weak var flag: StopSignal? }

    /// Creates the pipe and its reader once.
    static let ready: Bool = {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        writeEnd = fds[1]
        let readEnd = fds[0]
        let s = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: .global())
        s.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = read(readEnd, &buffer, buffer.count)
            guard n > 0 else { return }
            lock.lock()
            let current = listeners.values
            lock.unlock()
            for sig in buffer.prefix(n) {
                for l in current where l.signals.contains(Int32(sig)) { l.flag.flag?.received(Int32(sig)) }
            }
        }
        s.resume()
        source = s
        return true
    }()

    static func add(_ flag: StopSignal, signals: [Int32]) {
        guard ready else { return }
        lock.lock()
        listeners[ObjectIdentifier(flag)] = (Weak(flag: flag), signals)
        lock.unlock()
        for sig in signals { signal(sig, stopSignalHandler) }
    }

    static func remove(_ id: ObjectIdentifier) {
        lock.lock()
        guard let removed = listeners.removeValue(forKey: id) else { lock.unlock(); return }
        let stillWanted = Set(listeners.values.flatMap(\.signals))
        lock.unlock()
        for sig in removed.signals where !stillWanted.contains(sig) { signal(sig, SIG_DFL) }
    }
}

/// The C signal handler: one byte, the signal number, into the pipe.
private func stopSignalHandler(_ sig: Int32) {
    var byte = UInt8(truncatingIfNeeded: sig)
    _ = write(SignalPipe.writeEnd, &byte, 1)
}

/// A flag raised by SIGINT/SIGTERM (or by `request()`), checked by the trainer between steps.
public final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: String?
    private var active = false

    /// Starts catching `signals` (default SIGINT and SIGTERM) until `cancel()` or deinit;
    /// `[]` makes a flag raised only by `request()`.
    public init(signals: [Int32] = [SIGINT, SIGTERM]) {
        if !signals.isEmpty {
            active = true
            SignalPipe.add(self, signals: signals)
        }
    }

    deinit { if active { SignalPipe.remove(ObjectIdentifier(self)) } }

    /// Stops catching signals and restores their default action.
    public func cancel() {
        lock.lock()
        let wasActive = active
        active = false
        lock.unlock()
        if wasActive { SignalPipe.remove(ObjectIdentifier(self)) }
    }

    func received(_ sig: Int32) {
        lock.lock()
        let already = reason != nil
        if !already { reason = "received \(StopSignal.name(sig))" }
        lock.unlock()
        if already {
            FileHandle.standardError.write(Data("\n\(StopSignal.name(sig)) again: exiting without a checkpoint\n".utf8))
            exit(128 + sig)
        }
        FileHandle.standardError.write(Data("\n\(StopSignal.name(sig)): stopping after the current step (again to exit at once)\n".utf8))
    }

    /// Raises the flag from code (tests, a stop file, another thread).
    public func request(_ why: String = "stop requested") {
        lock.lock()
        if reason == nil { reason = why }
        lock.unlock()
    }

    /// Why a stop was requested, or nil while the run should continue.
    public var stopReason: String? {
        lock.lock()
        defer { lock.unlock() }
        return reason
    }

    public var isRequested: Bool { stopReason != nil }

    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        default: return "signal \(sig)"
        }
    }
}

/// A wall-clock allowance for a run (`--max-minutes`), measured from its creation.
public struct TimeBudget {
    public let seconds: Double?
    let start: Double
    let clock: () -> Double

    /// - Parameter minutes: the allowance; nil for no limit.
    public init(minutes: Double?, clock: @escaping () -> Double = monotonicSeconds) {
        seconds = minutes.map { $0 * 60 }
        self.clock = clock
        start = clock()
    }

    /// Seconds since the budget started.
    public var elapsed: Double { clock() - start }

    /// True once the allowance is spent.
    public var isExhausted: Bool { seconds.map { elapsed >= $0 } ?? false }
}
