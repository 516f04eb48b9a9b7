// Threads for the kernels: one setting for our loops and for BLAS, never both at once.
//
// Our parallel loops split a range into contiguous chunks and run them with
// `DispatchQueue.concurrentPerform`. Float32 matrix products run oneDNN single-threaded on
// blocks of the output inside one of our parallel loops (its OpenMP team never starts);
// Float64 products call OpenBLAS, with its own pool, from one thread only, never from inside
// our loops. So only one pool ever runs at a time and the cores are never oversubscribed.

import CBLAS
import Dispatch
import Foundation

/// The number of threads kernels use.
public enum Threads {
    nonisolated(unsafe) private static var _count: Int = {
        let n = ProcessInfo.processInfo.activeProcessorCount
        openblas_set_num_threads(Int32(n))
        return n
    }()

    /// The calling thread's own setting while it runs `with(_:_:)`, as a pointer-sized integer.
    private static let overrideKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "Threads: pthread_key_create failed")
        return key
    }()

    /// Threads used by our kernels (and, process-wide, by BLAS); default: the active processor
    /// count. Inside `with(_:_:)` the calling thread reads that call's setting.
    public static var count: Int {
        get {
            if let p = pthread_getspecific(overrideKey) { return Int(bitPattern: p) }
            return _count
        }
        set {
            precondition(newValue >= 1, "Threads.count must be at least 1, got \(newValue)")
            _count = newValue
            openblas_set_num_threads(Int32(newValue))
        }
    }

    /// Runs `body` with `n` threads for the kernels it calls from this thread, then restores
    /// the previous setting. Other threads keep theirs (concurrent callers, such as tests run in
    /// parallel, do not change each other's partitions and so each other's results); OpenBLAS's
    /// pool keeps the process-wide `count`.
    public static func with<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        precondition(n >= 1, "Threads.with: \(n) threads; at least 1")
        let saved = pthread_getspecific(overrideKey)
        pthread_setspecific(overrideKey, UnsafeRawPointer(bitPattern: n))
        defer { pthread_setspecific(overrideKey, saved) }
        return try body()
    }
}

/// Calls `body(range)` on disjoint chunks covering `0..<n`, in parallel when the work is large.
///
/// - Parameters:
///   - n: number of items.
///   - grain: the least number of items worth a thread of its own (scale by cost per item).
@inline(__always)
public func parallelFor(_ n: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let threads = Threads.count
    if threads <= 1 || n < 2 * grain {
        if n > 0 { body(0..<n) }
        return
    }
    let chunks = min(threads, (n + grain - 1) / grain)
    let size = (n + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * size
            let end = min(n, start + size)
            if start < end { body(start..<end) }
        }
    }
}
