// Open MPI's collectives, called from one dedicated thread.
//
// What it is: a `Communicator` over libmpi, loaded at run time by the CDinoMPI shim (dlopen;
// no link-time dependency, so `dino` builds and runs where Open MPI is not installed). One
// thread, started here, calls MPI_Init_thread (MPI_THREAD_FUNNELED, checked), then every MPI
// function: callers enqueue requests and wait on handles; the thread starts them as
// non-blocking collectives (MPI_Iallreduce, MPI_Iallgather, MPI_Ibcast, MPI_Ibarrier) in the order they were
// enqueued and polls MPI_Test on those in flight. Open MPI 4 makes progress on a non-blocking
// collective only inside MPI calls, so the polling is what moves a bucket's all-reduce forward
// while backward computes the next bucket's gradients (PyTorch's ProcessGroupMPI also runs a
// worker thread; Horovod a background thread).
// What it is not: thread-safe MPI. No other thread calls MPI, and Swift's cooperative pool
// never does.
// The watchdog: `CollectiveHandle.wait()` gives up after `timeout` seconds, prints which
// collective on which rank, and this thread calls MPI_Abort, which makes mpirun stop every
// rank (a rank that dies is noticed by mpirun itself, which stops the others).

import CDinoMPI
import Foundation

/// The Open MPI communicator of a process started by `mpirun`.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public private(set) var rank = 0
    public private(set) var size = 1
    /// Seconds a collective may take before the job is stopped.
    public let timeout: Double
    /// The thread support MPI_Init_thread provided (at least MPI_THREAD_FUNNELED).
    public private(set) var threadLevel: Int32 = 0

    enum Request {
        case allReduce(ReduceBuffer)
        case allGather(ReduceBuffer, into: ReduceBuffer)
        case broadcast(UnsafeMutableRawBufferPointer, root: Int)
        case barrier
    }

    private let condition = NSCondition()
    private var queue: [(Request, CollectiveHandle)] = []
    private var finishing = false
    private var finished = false
    private var abortCode: Int32? = nil
    private var startError: String? = nil
    private var started = false
    private var thread: Thread!
    /// Collectives started so far, for messages.
    private var issued = 0

    /// Loads libmpi, starts the MPI thread and initialises MPI on it.
    ///
    /// - Parameters:
    ///   - timeout: seconds a collective may take before the job is stopped.
    ///   - library: libmpi's path; nil tries libmpi.so.40, then libmpi.so.
    /// - Throws: `DistributedError.initialization` naming what failed.
    public init(timeout: Double = Communicators.defaultTimeoutSeconds, library: String? = nil) throws {
        self.timeout = timeout
        thread = Thread { [unowned self] in self.main(library: library) }
        thread.name = "dino-mpi"
        thread.stackSize = 4 << 20
        thread.start()
        condition.lock()
        while !started { condition.wait() }
        let error = startError
        condition.unlock()
        if let error { throw DistributedError.initialization(error) }
    }

    // MARK: Communicator

    public func startAllReduceSum(_ buffer: ReduceBuffer, label: String) -> CollectiveHandle {
        enqueue(.allReduce(buffer), label: "all-reduce of \(label) (\(buffer.count) values)")
    }

    public func startAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) -> CollectiveHandle {
        checkAllGather(send, into: receive, label: label)
        return enqueue(.allGather(send, into: receive), label: "all-gather of \(label) (\(send.count) values per rank)")
    }

    public func startBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, label: String) -> CollectiveHandle {
        precondition((0..<size).contains(root), "MPICommunicator: broadcast root \(root) is not a rank of \(size)")
        return enqueue(.broadcast(bytes, root: root), label: "broadcast of \(label) (\(bytes.count) bytes) from rank \(root)")
    }

    public func startBarrier(label: String) -> CollectiveHandle { enqueue(.barrier, label: "barrier \(label)") }

    /// Waits for the collectives in flight, calls MPI_Finalize and ends the MPI thread.
    public func finish() {
        condition.lock()
        if finished || finishing { condition.unlock(); return }
        finishing = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    /// Stops the whole job after an error on this rank (the other ranks may be waiting in a
    /// collective this rank will never start): prints `message`, then MPI_Abort from the MPI
    /// thread, which makes mpirun stop every rank.
    public func abortJob(_ message: String) -> Never {
        FileHandle.standardError.write(Data("dino: rank \(rank) of \(size): \(message). Stopping the whole job.\n".utf8))
        condition.lock()
        abortCode = 1
        condition.broadcast()
        condition.unlock()
        Thread.sleep(forTimeInterval: 30)
        exit(1)
    }

    private func enqueue(_ request: Request, label: String) -> CollectiveHandle {
        let handle = CollectiveHandle(label: label, timeout: timeout) { [unowned self] h, seconds in
            self.stopJob(h, seconds)
        }
        condition.lock()
        precondition(!finishing && !finished, "MPICommunicator: \(label) after finish()")
        queue.append((request, handle))
        condition.broadcast()
        condition.unlock()
        return handle
    }

    /// The watchdog's end: says which collective hung, asks the MPI thread to call MPI_Abort
    /// (mpirun then stops every rank), and exits if that has not happened within 30 s.
    private func stopJob(_ handle: CollectiveHandle, _ seconds: Double) -> Never {
        let message = "dino: rank \(rank) of \(size): the \(handle.label) did not complete within \(seconds) s "
            + "(collective timeout): another rank has died, hangs, or issued different collectives. Stopping the whole job.\n"
        FileHandle.standardError.write(Data(message.utf8))
        condition.lock()
        abortCode = 3
        condition.broadcast()
        condition.unlock()
        Thread.sleep(forTimeInterval: 30)
        exit(3)
    }

    // MARK: The MPI thread

    private func main(library: String?) {
        var error = [CChar](repeating: 0, count: 512)
        func fail(_ message: String) {
            condition.lock()
            startError = message
            started = true
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        if dino_mpi_load(library, &error, error.count) != 0 { return fail(String(cString: error)) }
        var provided: Int32 = 0
        var code = dino_mpi_init_thread(Int32(DINO_MPI_THREAD_FUNNELED), &provided)
        if code != 0 { return fail("MPI_Init_thread failed: \(Self.errorString(code))") }
        guard provided >= Int32(DINO_MPI_THREAD_FUNNELED) else {
            _ = dino_mpi_finalize()
            return fail("MPI_Init_thread provided thread level \(provided); MPI_THREAD_FUNNELED (1) is needed")
        }
        var r: Int32 = 0, s: Int32 = 0
        code = dino_mpi_rank(&r)
        if code == 0 { code = dino_mpi_size(&s) }
        if code != 0 { return fail("MPI_Comm_rank/MPI_Comm_size failed: \(Self.errorString(code))") }
        condition.lock()
        rank = Int(r)
        size = Int(s)
        threadLevel = provided
        started = true
        condition.broadcast()
        condition.unlock()
        loop()
    }

    /// Starts queued requests in order and polls those in flight until `finish()`.
    private func loop() {
        var inFlight: [(request: UnsafeMutableRawPointer?, handle: CollectiveHandle)] = []
        while true {
            condition.lock()
            while queue.isEmpty && inFlight.isEmpty && !finishing && abortCode == nil {
                condition.wait()
            }
            if let code = abortCode {
                condition.unlock()
                _ = dino_mpi_abort(code)
                exit(code)
            }
            let new = queue
            queue.removeAll()
            let done = finishing && new.isEmpty && inFlight.isEmpty
            condition.unlock()
            if done { break }
            for (request, handle) in new {
                var r: UnsafeMutableRawPointer? = nil
                let code: Int32
                switch request {
                case .allReduce(let b):
                    switch b {
                    case .float32(let p, let n): code = dino_mpi_iallreduce_sum(p, n, 0, &r)
                    case .float64(let p, let n): code = dino_mpi_iallreduce_sum(p, n, 1, &r)
                    }
                case .allGather(let send, let receive):
                    code = dino_mpi_iallgather(send.pointer, receive.pointer, send.count, send.isFloat64 ? 1 : 0, &r)
                case .broadcast(let bytes, let root):
                    code = dino_mpi_ibcast_bytes(bytes.baseAddress, bytes.count, Int32(root), &r)
                case .barrier:
                    code = dino_mpi_ibarrier(&r)
                }
                issued += 1
                if code != 0 { fatal("\(handle.label) failed to start: \(Self.errorString(code))") }
                inFlight.append((r, handle))
            }
            // Poll every collective in flight once; complete those that are done.
            var i = 0
            while i < inFlight.count {
                var flag: Int32 = 0
                let code = dino_mpi_test(&inFlight[i].request, &flag)
                if code != 0 { fatal("\(inFlight[i].handle.label) failed: \(Self.errorString(code))") }
                if flag != 0 {
                    inFlight[i].handle.complete()
                    inFlight.remove(at: i)
                } else {
                    i += 1
                }
            }
            // While backward computes, poll gently (every 20 µs) and leave the core to it; once a
            // thread waits for a collective there is nothing else to run, so poll at once again.
            if !inFlight.isEmpty {
                if inFlight.contains(where: { $0.handle.isWaitedFor }) { sched_yield() } else { usleep(20) }
            }
        }
        _ = dino_mpi_finalize()
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    private func fatal(_ message: String) -> Never {
        FileHandle.standardError.write(Data("dino: rank \(rank) of \(size): \(message). Stopping the whole job.\n".utf8))
        _ = dino_mpi_abort(2)
        exit(2)
    }

    static func errorString(_ code: Int32) -> String {
        var out = [CChar](repeating: 0, count: 512)
        dino_mpi_error_string(code, &out, out.count)
        return String(cString: out)
    }
}
