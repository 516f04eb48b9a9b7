// forEachRow, the walk under every strided element-wise kernel: each element visited exactly
// once whatever the thread count, and a single long row (a contiguous tensor) cut into pieces
// that run in parallel.

@testable import DinoTensor
import Foundation
import Testing

@Suite struct ForEachRowTests {
    /// Visit counts per element offset of operand 0, and the number of pieces.
    static func visits(shape: [Int], strides: [Int], size: Int, threads: Int) -> (counts: [Int], pieces: Int) {
        var counts = [Int](repeating: 0, count: size), pieces = 0
        let lock = NSLock()
        Threads.with(threads) {
            forEachRow(shape: shape, strides: [strides, strides]) { off, n, inner in
                #expect(off[0] == off[1] && inner[0] == inner[1])
                lock.lock()
                pieces += 1
                for i in 0..<n { counts[off[0] + i * inner[0]] += 1 }
                lock.unlock()
            }
        }
        return (counts, pieces)
    }

    @Test(arguments: [1, 2, 3, 4, 7])
    func everyElementOnce(threads: Int) {
        // Contiguous (one row after coalescing), a few rows, many rows, a transposed view.
        let cases: [(shape: [Int], strides: [Int], size: Int)] = [
            ([1_000_003], [1], 1_000_003),
            ([3, 70_001], [80_000, 1], 240_000),          // rows with gaps: not merged
            ([4097, 33], [33, 1], 4097 * 33),
            ([600, 700], [1, 600], 420_000),
            ([5], [1], 5),
        ]
        for c in cases {
            var expected = [Int](repeating: 0, count: c.size)
            for i in 0..<c.shape[0] {
                for j in 0..<(c.shape.count > 1 ? c.shape[1] : 1) {
                    expected[i * c.strides[0] + (c.shape.count > 1 ? j * c.strides[1] : 0)] += 1
                }
            }
            let (counts, _) = Self.visits(shape: c.shape, strides: c.strides, size: c.size, threads: threads)
            #expect(counts == expected, "\(c.shape) with \(threads) threads: \(Swift.zip(counts, expected).filter { $0 != $1 }.count) offsets wrong")
        }
    }

    /// A contiguous tensor is one row: with 2 or more threads it is cut into pieces (the
    /// kernels on it would otherwise run on one thread); short rows are not cut.
    @Test func aSingleLongRowIsCutForTheThreads() {
        #expect(Self.visits(shape: [1_000_003], strides: [1], size: 1_000_003, threads: 1).pieces == 1)
        #expect(Self.visits(shape: [1_000_003], strides: [1], size: 1_000_003, threads: 2).pieces == 2)
        #expect(Self.visits(shape: [1_000_003], strides: [1], size: 1_000_003, threads: 4).pieces == 4)
        #expect(Self.visits(shape: [20_000], strides: [1], size: 20_000, threads: 4).pieces == 1)
        #expect(Self.visits(shape: [3, 70_001], strides: [80_000, 1], size: 240_000, threads: 4).pieces == 6)
        #expect(Self.visits(shape: [3, 70_001], strides: [80_000, 1], size: 240_000, threads: 2).pieces == 3)
        // addInPlace on a contiguous tensor gives the serial result with any thread count.
        let a = RandomGenerator(seed: 4).normal([1 << 18]), b = RandomGenerator(seed: 5).normal([1 << 18])
        let serial = Tensor(a.scalars, shape: a.shape), parallel = Tensor(a.scalars, shape: a.shape)
        Threads.with(1) { serial.addInPlace(b, alpha: 0.5) }
        Threads.with(4) { parallel.addInPlace(b, alpha: 0.5) }
        #expect(serial.scalars == parallel.scalars && serial.scalars != a.scalars)
    }
}
