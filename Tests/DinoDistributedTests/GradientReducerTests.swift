// The reducer's bucket assignment (DDP's `compute_bucket_assignment_by_size`) and its
// single-rank pass-through; the multi-rank behaviour is tested under mpirun (MPITrainingTests).

import DinoDistributed
import DinoTensor
import XCTest

final class GradientReducerTests: XCTestCase {
    func testBucketsInReverseOrderFirstSmall() {
        // Six Float32 parameters of 100 000 elements (400 kB): the first bucket closes at 1 MB
        // (three, from the last), the rest at 25 MB.
        let sizes = [(DType, Int)](repeating: (.float32, 100_000), count: 6)
        let buckets = GradientReducer.assign(sizes, firstBucketBytes: 1 << 20, bucketBytes: 25 << 20)
        XCTAssertEqual(buckets.map(\.parameters), [[5, 4, 3], [2, 1, 0]])
        XCTAssertEqual(buckets[0].offsets, [0, 100_000, 200_000])
    }

    func testOneDTypePerBucket() {
        let buckets = GradientReducer.assign([(.float32, 4), (.float64, 4), (.float32, 4)], firstBucketBytes: 1 << 20, bucketBytes: 25 << 20)
        XCTAssertEqual(buckets.map(\.dtype), [.float32, .float64])
        XCTAssertEqual(buckets.map(\.parameters), [[2, 0], [1]])
    }

    func testLargeParameterGetsItsOwnBucket() {
        let buckets = GradientReducer.assign([(.float32, 10), (.float32, 1 << 20), (.float32, 10)], firstBucketBytes: 1 << 20, bucketBytes: 25 << 20)
        XCTAssertEqual(buckets.map(\.parameters), [[2, 1], [0]])
    }

    func testSingleRankKeepsGradientsAndUnusedStaysNil() {
        let a = Tensor([1, 2, 3], shape: [3]).requiringGrad(), unused = Tensor([1], shape: [1]).requiringGrad()
        let reducer = GradientReducer(parameters: [a, unused], communicator: SingleProcessCommunicator())
        reducer.prepare()
        (a * a).sum().backward(onLeafGradient: reducer.gradientReady)
        reducer.finish()
        XCTAssertEqual(a.grad?.scalars, [2, 4, 6])
        XCTAssertNil(unused.grad)
    }

    /// Buckets start during backward, as soon as their last gradient is final, in bucket order:
    /// with one parameter per bucket, the last layer's all-reduce starts before backward has
    /// reached the first layer. A pretend second rank (the sum doubles the buffer) gives back
    /// the one-process gradients after averaging.
    func testBucketsStartDuringBackwardInOrder() {
        let w1 = Tensor([0.5, -1], shape: [2]).requiringGrad(), w2 = Tensor([2, 3], shape: [2]).requiringGrad()
        let w3 = Tensor([1, 1], shape: [2]).requiringGrad()
        let comm = RecordingCommunicator()
        let reducer = GradientReducer(parameters: [w1, w2, w3], communicator: comm, firstBucketBytes: 1, bucketBytes: 1)
        XCTAssertEqual(reducer.buckets.map(\.parameters), [[2], [1], [0]])
        reducer.prepare()
        let x = Tensor([1, 2], shape: [2])
        let loss = (((x * w1).tanh() * w2).tanh() * w3).sum()
        loss.backward { leaf in
            comm.events.append("ready \([w1, w2, w3].firstIndex { $0 === leaf }!)")
            reducer.gradientReady(leaf)
        }
        reducer.finish()
        XCTAssertEqual(Array(comm.events.prefix(6)), ["ready 2", "start bucket 0", "ready 1", "start bucket 1", "ready 0", "start bucket 2"])
        // The same gradients as a plain backward.
        let plain = [Tensor([0.5, -1], shape: [2]).requiringGrad(), Tensor([2, 3], shape: [2]).requiringGrad(), Tensor([1, 1], shape: [2]).requiringGrad()]
        (((x * plain[0]).tanh() * plain[1]).tanh() * plain[2]).sum().backward()
        for (a, b) in zip([w1, w2, w3], plain) { XCTAssertEqual(a.grad!.scalars, b.grad!.scalars) }
    }
}

/// A pretend 2-rank communicator: an all-reduce doubles the buffer (the other rank holds the
/// same values) and records its start.
final class RecordingCommunicator: Communicator, @unchecked Sendable {
    let rank = 0
    let size = 2
    var events: [String] = []
    func startAllReduceSum(_ buffer: ReduceBuffer, label: String) -> CollectiveHandle {
        if label.hasPrefix("gradient bucket") { events.append("start bucket \(label.split(separator: " ")[2])") }
        switch buffer {
        case .float32(let p, let n): for i in 0..<n { p[i] *= 2 }
        case .float64(let p, let n): for i in 0..<n { p[i] *= 2 }
        }
        return SingleProcessCommunicator().startBarrier(label: label)
    }
    /// The partner holds the same values: `send` twice.
    func startAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) -> CollectiveHandle {
        for r in 0..<2 { (receive.pointer + r * send.byteCount).copyMemory(from: UnsafeRawPointer(send.pointer), byteCount: send.byteCount) }
        return SingleProcessCommunicator().startBarrier(label: label)
    }
    func startBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, label: String) -> CollectiveHandle {
        SingleProcessCommunicator().startBarrier(label: label)
    }
    func startBarrier(label: String) -> CollectiveHandle { SingleProcessCommunicator().startBarrier(label: label) }
    func finish() {}
}
