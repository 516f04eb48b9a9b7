// The collectives of data-parallel training, behind one small protocol.
//
// What it is: `Communicator` (rank, size, in-place all-reduce sums of Float32/Float64 buffers,
// all-gathers of equal-sized Float32/Float64 buffers in rank order,
// started asynchronously and waited for through a `CollectiveHandle`, broadcast from a root,
// barrier), the single-process implementation every run uses by default, and the choice of
// implementation from the environment (`Communicators.fromEnvironment`: Open MPI when the
// process was started by `mpirun`, MPICommunicator.swift).
// What it is not: a binding of MPI. Collectives are issued in the same order on every rank by
// their callers (the trainer's buckets, the methods' documented hooks); a collective that does
// not complete within the communicator's timeout stops the whole job (PyTorch's
// `init_process_group(timeout=)`), so collectives return no errors.
// Reference: PyTorch torch/distributed/distributed_c10d.py (`all_reduce`, `all_gather`, `broadcast`,
// `barrier`, `async_op=True` → `Work.wait()`).

import DinoTensor
import Foundation

/// A buffer reduced in place: its first element and its length in elements.
public enum ReduceBuffer {
    case float32(UnsafeMutablePointer<Float>, count: Int)
    case float64(UnsafeMutablePointer<Double>, count: Int)

    /// True for Float64 elements.
    public var isFloat64: Bool {
        if case .float64 = self { return true }
        return false
    }

    /// Elements in the buffer.
    public var count: Int {
        switch self {
        case .float32(_, let n), .float64(_, let n): return n
        }
    }

    /// Bytes in the buffer.
    public var byteCount: Int {
        switch self {
        case .float32(_, let n): return n * 4
        case .float64(_, let n): return n * 8
        }
    }
}

/// A collective in flight: `wait()` returns once it is complete on this rank (as PyTorch's
/// `Work.wait()`), or stops the job when it takes longer than the communicator's timeout.
public final class CollectiveHandle: @unchecked Sendable {
    /// What the collective is, for the timeout's message ("all-reduce of bucket 2 (1.0 MB)").
    public let label: String
    let condition = NSCondition()
    var done = false
    /// True while a thread is blocked in `wait()` (the MPI thread then polls without pausing).
    var waitedFor = false
    /// Called when `wait()` runs out of time: reports and stops the job (never returns).
    let onTimeout: (CollectiveHandle, Double) -> Never
    let timeout: Double
    /// What the caller must keep alive until the collective is complete (a tensor's storage).
    var retained: Any?

    init(label: String, timeout: Double, retained: Any? = nil, onTimeout: @escaping (CollectiveHandle, Double) -> Never) {
        self.label = label
        self.timeout = timeout
        self.retained = retained
        self.onTimeout = onTimeout
    }

    /// A handle that is already complete (the single-process collectives).
    static func completed(_ label: String) -> CollectiveHandle {
        let h = CollectiveHandle(label: label, timeout: .infinity) { _, _ in fatalError("unreachable") }
        h.done = true
        return h
    }

    /// Marks the collective complete and wakes `wait()`.
    func complete() {
        condition.lock()
        done = true
        retained = nil
        condition.broadcast()
        condition.unlock()
    }

    /// True while some thread waits for this collective.
    var isWaitedFor: Bool {
        condition.lock()
        defer { condition.unlock() }
        return waitedFor
    }

    /// True once the collective is complete.
    public var isComplete: Bool {
        condition.lock()
        defer { condition.unlock() }
        return done
    }

    /// Blocks until the collective is complete on this rank; after `timeout` seconds, reports
    /// which collective hung and stops the whole job.
    public func wait() {
        condition.lock()
        waitedFor = true
        let deadline = Date(timeIntervalSinceNow: timeout.isFinite ? timeout : 1e9)
        while !done {
            if !condition.wait(until: deadline) && !done {
                condition.unlock()
                onTimeout(self, timeout)
            }
        }
        waitedFor = false
        condition.unlock()
    }
}

/// The collectives of data-parallel training.
///
/// Every rank must issue the same collectives in the same order (as with MPI and NCCL); a
/// buffer handed to an asynchronous collective must stay alive and untouched until its
/// handle's `wait()` returns.
public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, 0..<size.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Starts `buffer ← Σ_ranks buffer` in place; `label` names it in a timeout's message.
    func startAllReduceSum(_ buffer: ReduceBuffer, label: String) -> CollectiveHandle
    /// Starts `receive ← concat_ranks send`: every rank contributes `send.count` values (the
    /// same count on every rank, same element type), and every rank receives all of them in
    /// rank order, `size × send.count` values (MPI_Allgather; PyTorch's `all_gather`).
    func startAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) -> CollectiveHandle
    /// Starts copying `root`'s `bytes` into every other rank's `bytes`.
    func startBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, label: String) -> CollectiveHandle
    /// Starts a barrier: complete once every rank has started it.
    func startBarrier(label: String) -> CollectiveHandle
    /// Finishes the communicator (MPI_Finalize); no collective may follow.
    func finish()
}

extension Communicator {
    /// True for rank 0, the rank that writes logs, metrics and checkpoints.
    public var isMain: Bool { rank == 0 }

    /// `buffer ← Σ_ranks buffer`, waited for.
    public func allReduceSum(_ buffer: ReduceBuffer, label: String) {
        startAllReduceSum(buffer, label: label).wait()
    }

    /// `receive ← concat_ranks send`, waited for.
    public func allGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) {
        startAllGather(send, into: receive, label: label).wait()
    }

    /// Checks an all-gather's buffers: one element type, `size × send.count` values received.
    func checkAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) {
        precondition(send.isFloat64 == receive.isFloat64, "Communicator.allGather: '\(label)' sends and receives different element types")
        precondition(receive.count == size * send.count,
                     "Communicator.allGather: '\(label)' receives \(receive.count) values, not \(size) ranks × \(send.count)")
    }

    /// The rows of every rank's `t` (same shape and dtype on every rank), concatenated in rank
    /// order along axis 0: `[size · n, …]` from `[n, …]` (`t` itself on one process). Not
    /// differentiable; see `GatherRows` for the op with gradients.
    public func allGather(_ t: Tensor, label: String) -> Tensor {
        if size == 1 { return t }
        let send = t.detach().contiguousCopy()
        var shape = t.shape
        shape[0] *= size
        let out = Tensor.zeros(shape, dtype: t.dtype)
        allGather(send.reduceBuffer, into: out.reduceBuffer, label: label)
        return out
    }

    /// Every rank's `bytes` ← root's, waited for.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int = 0, label: String) {
        startBroadcast(bytes, root: root, label: label).wait()
    }

    /// Waits until every rank has reached this barrier.
    public func barrier(label: String) { startBarrier(label: label).wait() }

    /// Σ over ranks of `values`, in Float64.
    public func allReduceSum(_ values: [Double], label: String) -> [Double] {
        if size == 1 || values.isEmpty { return values }
        var out = values
        out.withUnsafeMutableBufferPointer { p in
            allReduceSum(.float64(p.baseAddress!, count: p.count), label: label)
        }
        return out
    }

    /// Whether any rank passes true for each flag (a logical or over ranks).
    public func any(_ flags: [Bool], label: String) -> [Bool] {
        if size == 1 { return flags }
        return allReduceSum(flags.map { $0 ? 1 : 0 }, label: label).map { $0 > 0 }
    }

    /// The sum over ranks of a tensor, as a new contiguous tensor of the same dtype and shape
    /// (`t` itself on one process).
    public func allReduceSum(_ t: Tensor, label: String) -> Tensor {
        if size == 1 { return t }
        let out = t.detach().contiguousCopy()
        allReduceSum(out.reduceBuffer, label: label)
        return out
    }

    /// Replaces `t`'s elements with rank `root`'s, in place (`t` must be contiguous).
    public func broadcast(_ t: Tensor, root: Int = 0, label: String) {
        if size == 1 { return }
        precondition(t.isContiguous, "Communicator.broadcast: '\(label)' is not contiguous (shape \(t.shape), strides \(t.strides))")
        let bytes = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(t.reduceBuffer.pointer), count: t.count * t.dtype.size)
        broadcast(bytes, root: root, label: label)
    }
}

extension ReduceBuffer {
    /// The first element's address.
    public var pointer: UnsafeMutableRawPointer {
        switch self {
        case .float32(let p, _): return UnsafeMutableRawPointer(p)
        case .float64(let p, _): return UnsafeMutableRawPointer(p)
        }
    }
}

extension Tensor {
    /// The elements of a contiguous tensor as a buffer to reduce in place.
    public var reduceBuffer: ReduceBuffer {
        precondition(isContiguous, "reduceBuffer: tensor of shape \(shape) is not contiguous")
        switch dtype {
        case .float32: return .float32(pointer(Float.self), count: count)
        case .float64: return .float64(pointer(Double.self), count: count)
        }
    }
}

/// One process: every collective is complete at once (a sum over one rank is the buffer).
public final class SingleProcessCommunicator: Communicator {
    public let rank = 0
    public let size = 1
    public init() {}
    public func startAllReduceSum(_ buffer: ReduceBuffer, label: String) -> CollectiveHandle { .completed(label) }
    /// Copies `send` into `receive` (the gather over one rank), unless they are the same memory.
    public func startAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) -> CollectiveHandle {
        checkAllGather(send, into: receive, label: label)
        if send.pointer != receive.pointer {
            receive.pointer.copyMemory(from: UnsafeRawPointer(send.pointer), byteCount: send.byteCount)
        }
        return .completed(label)
    }
    public func startBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, label: String) -> CollectiveHandle {
        precondition(root == 0, "SingleProcessCommunicator: broadcast from rank \(root) of 1")
        return .completed(label)
    }
    public func startBarrier(label: String) -> CollectiveHandle { .completed(label) }
    public func finish() {}
}

/// Choosing the communicator of this process.
public enum Communicators {
    /// PyTorch's default timeout of a collective (`default_pg_timeout`): 30 minutes.
    public static let defaultTimeoutSeconds = 1800.0

    /// The rank and size `mpirun` gave this process (Open MPI's `OMPI_COMM_WORLD_RANK` and
    /// `OMPI_COMM_WORLD_SIZE`), or nil when it was not started by `mpirun`.
    public static func mpirunPlacement(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> (rank: Int, size: Int)? {
        guard let s = environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init),
              let r = environment["OMPI_COMM_WORLD_RANK"].flatMap(Int.init) else { return nil }
        return (r, s)
    }

    /// Open MPI's communicator when this process was started by `mpirun` (with more than one
    /// rank), the single-process one otherwise.
    ///
    /// - Parameter timeout: seconds a collective may take before the job is stopped.
    /// - Throws: `DistributedError` when `mpirun` started the process but libmpi cannot be
    ///   loaded or initialised.
    public static func fromEnvironment(timeout: Double = defaultTimeoutSeconds) throws -> any Communicator {
        guard let placement = mpirunPlacement(), placement.size > 1 else { return SingleProcessCommunicator() }
        let c = try MPICommunicator(timeout: timeout)
        guard c.rank == placement.rank && c.size == placement.size else {
            throw DistributedError.initialization("MPI says rank \(c.rank) of \(c.size), mpirun's environment rank \(placement.rank) of \(placement.size)")
        }
        return c
    }
}

/// Why distributed training could not start.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// libmpi could not be loaded or MPI could not be initialised.
    case initialization(String)
    /// The run's settings do not divide among the ranks.
    case placement(String)

    public var description: String {
        switch self {
        case .initialization(let m): return "distributed training: \(m)"
        case .placement(let m): return "distributed training: \(m)"
        }
    }
}
