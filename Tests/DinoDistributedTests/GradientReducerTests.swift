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
}
