// All-reduce bandwidth of the gradient buckets' sizes, with a check of every result.
//
// What it is: for each buffer size, `repeats` timed in-place sums (Float32) after one untimed
// one, each checked exactly: rank r's element i holds (r + 1) + (i mod 7), so the sum is
// W(W+1)/2 + W·(i mod 7), exact in Float32 for the world sizes used. Also all-gathers (Float32
// and Float64), a broadcast from the last rank and a barrier, checked. Bandwidth as nccl-tests reports it: algorithm bandwidth
// bytes / t, bus bandwidth 2(W−1)/W · bytes / t (the bytes each rank sends in a ring).
// What it is not: a tuner; Open MPI picks the algorithm (its `coll_tuned` decision rules).
// Reference: NVIDIA nccl-tests doc/PERFORMANCE.md (algbw, busbw).

import Foundation

/// The all-reduce micro-benchmark behind `dino bench allreduce`.
public enum AllReduceBenchmark {
    /// One size's timings.
    public struct Result: Sendable, Equatable {
        public var bytes: Int
        public var ranks: Int
        /// Median seconds of one all-reduce.
        public var seconds: Double
        public var algorithmBandwidth: Double { Double(bytes) / seconds }
        public var busBandwidth: Double { algorithmBandwidth * 2 * Double(ranks - 1) / Double(ranks) }
    }

    /// Why a collective gave a wrong result.
    public struct Mismatch: Error, CustomStringConvertible {
        public let description: String
    }

    /// Checks an all-reduce, an all-gather, a broadcast and a barrier on `communicator` with `count` values.
    ///
    /// - Throws: `Mismatch` naming the first wrong element.
    public static func check(_ communicator: any Communicator, count: Int) throws {
        let w = communicator.size, r = communicator.rank
        var a = (0..<count).map { Float(r + 1) + Float($0 % 7) }
        var b = (0..<count).map { Double(r + 1) * 0.5 + Double($0 % 5) }
        // Two all-reduces in flight at once, waited for in order (the reducer's pattern).
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in
                let ha = communicator.startAllReduceSum(.float32(pa.baseAddress!, count: count), label: "check Float32")
                let hb = communicator.startAllReduceSum(.float64(pb.baseAddress!, count: count), label: "check Float64")
                ha.wait()
                hb.wait()
            }
        }
        for i in 0..<count {
            let ea = Float(w * (w + 1) / 2) + Float(w) * Float(i % 7)
            let eb = Double(w * (w + 1)) / 4 + Double(w) * Double(i % 5)
            guard a[i] == ea && b[i] == eb else {
                throw Mismatch(description: "rank \(r): all-reduce element \(i) is \(a[i]), \(b[i]); expected \(ea), \(eb)")
            }
        }
        // All-gathers: rank r sends n values (r + 1)·1000 + i (Float32 with n = 5, Float64 with
        // n = 3, both in flight at once); every rank receives them all in rank order.
        var ga = (0..<5).map { Float((r + 1) * 1000 + $0) }, gb = (0..<3).map { Double((r + 1) * 1000 + $0) + 0.25 }
        var ra = [Float](repeating: -1, count: 5 * w), rb = [Double](repeating: -1, count: 3 * w)
        ga.withUnsafeMutableBufferPointer { pa in
            gb.withUnsafeMutableBufferPointer { pb in
                ra.withUnsafeMutableBufferPointer { qa in
                    rb.withUnsafeMutableBufferPointer { qb in
                        let ha = communicator.startAllGather(.float32(pa.baseAddress!, count: 5), into: .float32(qa.baseAddress!, count: qa.count), label: "check Float32")
                        let hb = communicator.startAllGather(.float64(pb.baseAddress!, count: 3), into: .float64(qb.baseAddress!, count: qb.count), label: "check Float64")
                        ha.wait()
                        hb.wait()
                    }
                }
            }
        }
        let ea = (0..<w).flatMap { q in (0..<5).map { Float((q + 1) * 1000 + $0) } }
        let eb = (0..<w).flatMap { q in (0..<3).map { Double((q + 1) * 1000 + $0) + 0.25 } }
        guard ra == ea && rb == eb else { throw Mismatch(description: "rank \(r): all-gather gave \(ra), \(rb); expected \(ea), \(eb)") }
        var c = [UInt8](repeating: UInt8(r), count: 64)
        c.withUnsafeMutableBytes { communicator.broadcast($0, root: w - 1, label: "check broadcast") }
        guard c.allSatisfy({ $0 == UInt8(w - 1) }) else { throw Mismatch(description: "rank \(r): broadcast gave \(c.prefix(4))") }
        communicator.barrier(label: "check barrier")
    }

    /// Times in-place Float32 all-reduces of each size (bytes), checking each result.
    public static func run(_ communicator: any Communicator, sizes: [Int], repeats: Int) throws -> [Result] {
        try sizes.map { bytes in
            let count = max(1, bytes / 4), w = communicator.size, r = communicator.rank
            var buffer = [Float](repeating: 0, count: count)
            var times: [Double] = []
            for k in 0...repeats {
                for i in 0..<count { buffer[i] = Float(r + 1) + Float(i % 7) }
                communicator.barrier(label: "before timing")
                let start = DispatchTime.now().uptimeNanoseconds
                buffer.withUnsafeMutableBufferPointer { communicator.allReduceSum(.float32($0.baseAddress!, count: count), label: "benchmark \(bytes) bytes") }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if k > 0 { times.append(seconds) }
                for i in Swift.stride(from: 0, to: count, by: max(1, count / 1000)) {
                    let e = Float(w * (w + 1) / 2) + Float(w) * Float(i % 7)
                    guard buffer[i] == e else { throw Mismatch(description: "rank \(r): element \(i) of \(bytes) bytes is \(buffer[i]), expected \(e)") }
                }
            }
            // Every rank reports rank 0's median, the one the table prints.
            var median = [times.sorted()[times.count / 2]]
            median.withUnsafeMutableBytes { communicator.broadcast($0, root: 0, label: "median") }
            return Result(bytes: count * 4, ranks: w, seconds: median[0])
        }
    }
}
