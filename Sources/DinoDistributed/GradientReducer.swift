// Gradient averaging across ranks, as PyTorch DDP's reducer does it.
//
// What it is: the parameters in flat buckets in reverse registration order (backward produces
// the last layers' gradients first), the first bucket small (1 MiB, DDP's
// `_DEFAULT_FIRST_BUCKET_BYTES`) so that communication starts early, the others about 25 MiB
// (`bucket_cap_mb=25`), one dtype per bucket. During backward `gradientReady` is told of each
// parameter whose gradient is final (the autograd engine's per-leaf callback); when a bucket's
// last gradient is in, its gradients are copied into the flat buffer, divided by the world
// size, and its all-reduce is started — buckets are launched strictly in bucket order, so every
// rank issues the same collectives in the same order even when gradients arrive in another
// order. `finish()` (after backward) fills the buckets still open with zeros for the
// parameters that got no gradient on this rank (the mask token, an iBOT head without masked
// patches: DDP's `find_unused_parameters`), launches them, all-reduces which parameters got a
// gradient anywhere (DDP's globally-unused bitmap), waits, and writes the averages back into
// `.grad` (a parameter unused on every rank keeps `grad == nil`, as on one process).
// What it is not: gradient accumulation over several backward passes (`no_sync`), or
// compression hooks.
// Reference: PyTorch torch/csrc/distributed/c10d/reducer.cpp (`Reducer::autograd_hook`,
// `mark_bucket_ready`, `finalize_backward`), `compute_bucket_assignment_by_size`;
// torch/nn/parallel/distributed.py (`bucket_cap_mb`, `_DEFAULT_FIRST_BUCKET_BYTES`).

import DinoTensor
import Foundation

/// Averages the gradients of a set of parameters across the ranks of a communicator.
public final class GradientReducer {
    /// One flat bucket: parameters (by index into `parameters`) and their offsets in it.
    public struct Bucket {
        public let dtype: DType
        public let parameters: [Int]
        public let offsets: [Int]
        public let count: Int
        public var byteCount: Int { count * dtype.size }
    }

    public let communicator: any Communicator
    /// The parameters in registration order.
    public let parameters: [Tensor]
    public let buckets: [Bucket]
    /// DDP's defaults: the first bucket 1 MiB, the others 25 MiB.
    public static let firstBucketBytes = 1 << 20
    public static let bucketBytes = 25 << 20

    private let bucketOf: [ObjectIdentifier: (bucket: Int, slot: Int)]
    private var buffers: [Tensor]
    private var pendingCount: [Int] = []
    private var ready: [[Bool]] = []
    private var nextLaunch = 0
    private var handles: [CollectiveHandle?] = []
    private var used: [Double] = []
    private var inBackward = false
    /// Seconds the last `finish()` spent waiting for all-reduces (the communication backward
    /// did not hide), for the trainer's metrics.
    public private(set) var lastWaitSeconds = 0.0

    /// - Parameters:
    ///   - parameters: the trained parameters in registration order (every rank the same).
    ///   - firstBucketBytes, bucketBytes: bucket size limits (a parameter larger than the
    ///     limit gets a bucket of its own).
    public init(parameters: [Tensor], communicator: any Communicator,
                firstBucketBytes: Int = GradientReducer.firstBucketBytes, bucketBytes: Int = GradientReducer.bucketBytes) {
        self.parameters = parameters
        self.communicator = communicator
        buckets = Self.assign(parameters.map { ($0.dtype, $0.count) }, firstBucketBytes: firstBucketBytes, bucketBytes: bucketBytes)
        var map: [ObjectIdentifier: (Int, Int)] = [:]
        for (b, bucket) in buckets.enumerated() {
            for (slot, p) in bucket.parameters.enumerated() {
                precondition(map[ObjectIdentifier(parameters[p])] == nil, "GradientReducer: parameter \(p) is listed twice")
                map[ObjectIdentifier(parameters[p])] = (b, slot)
            }
        }
        bucketOf = map
        buffers = buckets.map { Tensor(zeros: [$0.count], dtype: $0.dtype) }
    }

    /// DDP's `compute_bucket_assignment_by_size`: parameters in reverse order, a new bucket when
    /// the current one of that dtype would pass its limit (the first bucket's limit is
    /// `firstBucketBytes`, the others' `bucketBytes`).
    ///
    /// - Parameter sizes: (dtype, elements) of each parameter in registration order.
    public static func assign(_ sizes: [(DType, Int)], firstBucketBytes: Int, bucketBytes: Int) -> [Bucket] {
        var out: [Bucket] = []
        var open: [DType: (parameters: [Int], offsets: [Int], count: Int)] = [:]
        func close(_ dtype: DType) {
            guard let o = open.removeValue(forKey: dtype), !o.parameters.isEmpty else { return }
            out.append(Bucket(dtype: dtype, parameters: o.parameters, offsets: o.offsets, count: o.count))
        }
        for p in sizes.indices.reversed() {
            let (dtype, n) = sizes[p]
            var o = open[dtype] ?? ([], [], 0)
            o.parameters.append(p)
            o.offsets.append(o.count)
            o.count += n
            open[dtype] = o
            let limit = out.contains { $0.dtype == dtype } ? bucketBytes : firstBucketBytes
            if o.count * dtype.size >= limit { close(dtype) }
        }
        for dtype in DType.allCases { close(dtype) }
        return out
    }

    /// Before backward: every bucket waits for all of its gradients again.
    public func prepare() {
        precondition(!inBackward, "GradientReducer.prepare: the previous backward was not finished")
        inBackward = true
        pendingCount = buckets.map { $0.parameters.count }
        ready = buckets.map { [Bool](repeating: false, count: $0.parameters.count) }
        nextLaunch = 0
        handles = [CollectiveHandle?](repeating: nil, count: buckets.count)
        used = [Double](repeating: 0, count: parameters.count)
    }

    /// The autograd engine's callback: `leaf`'s gradient is final for this backward pass.
    /// Tensors that are not among the parameters are ignored.
    public func gradientReady(_ leaf: Tensor) {
        guard inBackward, let (b, slot) = bucketOf[ObjectIdentifier(leaf)], !ready[b][slot] else { return }
        ready[b][slot] = true
        pendingCount[b] -= 1
        launchReadyBuckets()
    }

    /// Starts, in bucket order, every bucket whose gradients are all in.
    private func launchReadyBuckets() {
        while nextLaunch < buckets.count && pendingCount[nextLaunch] == 0 {
            launch(nextLaunch)
            nextLaunch += 1
        }
    }

    /// Copies bucket b's gradients (zeros where a parameter has none) into its buffer, divided
    /// by the world size, and starts its all-reduce.
    private func launch(_ b: Int) {
        let bucket = buckets[b], buffer = buffers[b]
        let scale = 1 / Double(communicator.size)
        for (slot, p) in bucket.parameters.enumerated() {
            let param = parameters[p], n = param.count, offset = bucket.offsets[slot]
            if let g = param.grad { used[p] = 1; copy(g, into: buffer, at: offset, count: n, scale: scale) }
            else { zero(buffer, at: offset, count: n) }
        }
        handles[b] = communicator.startAllReduceSum(buffer.reduceBuffer, label: "gradient bucket \(b) of \(buckets.count) (\(bucket.byteCount) bytes)")
    }

    /// After backward: launches the buckets still open, waits for every all-reduce and writes
    /// the averaged gradients back.
    public func finish() {
        precondition(inBackward, "GradientReducer.finish: prepare() was not called")
        for b in nextLaunch..<buckets.count { pendingCount[b] = 0 }
        launchReadyBuckets()
        let start = DispatchTime.now().uptimeNanoseconds
        let anyUsed = communicator.allReduceSum(used, label: "parameters with gradients")
        for b in buckets.indices { handles[b]!.wait() }
        lastWaitSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        for (b, bucket) in buckets.enumerated() {
            let buffer = buffers[b]
            for (slot, p) in bucket.parameters.enumerated() where anyUsed[p] > 0 {
                let param = parameters[p]
                if param.grad == nil { param.grad = Tensor(zeros: param.shape, dtype: param.dtype) }
                copyBack(buffer, at: bucket.offsets[slot], into: param.grad!)
            }
        }
        handles = []
        inBackward = false
    }

    // MARK: Copies

    private func copy(_ g: Tensor, into buffer: Tensor, at offset: Int, count n: Int, scale: Double) {
        let src = g.dtype == buffer.dtype && g.isContiguous ? g : g.to(buffer.dtype).contiguousCopy()
        switch buffer.dtype {
        case .float32:
            let s = src.pointer(Float.self), d = buffer.pointer(Float.self) + offset, f = Float(scale)
            for i in 0..<n { d[i] = s[i] * f }
        case .float64:
            let s = src.pointer(Double.self), d = buffer.pointer(Double.self) + offset
            for i in 0..<n { d[i] = s[i] * scale }
        }
    }

    private func zero(_ buffer: Tensor, at offset: Int, count n: Int) {
        switch buffer.dtype {
        case .float32: (buffer.pointer(Float.self) + offset).update(repeating: 0, count: n)
        case .float64: (buffer.pointer(Double.self) + offset).update(repeating: 0, count: n)
        }
    }

    private func copyBack(_ buffer: Tensor, at offset: Int, into grad: Tensor) {
        precondition(grad.isContiguous && grad.dtype == buffer.dtype,
                     "GradientReducer: gradient of shape \(grad.shape) is not a contiguous \(buffer.dtype) tensor")
        let n = grad.count
        switch buffer.dtype {
        case .float32: grad.pointer(Float.self).update(from: buffer.pointer(Float.self) + offset, count: n)
        case .float64: grad.pointer(Double.self).update(from: buffer.pointer(Double.self) + offset, count: n)
        }
    }
}
