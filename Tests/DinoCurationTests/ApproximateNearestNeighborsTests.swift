@testable import DinoCuration
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

@Suite struct ApproximateNearestNeighborsTests {
    /// Clustered unit rows (so that IVF lists mean something): 40 centres, 50 points each.
    static func clustered(seed: UInt64) -> Tensor {
        let centres = Sample.normal([40, 32], seed: seed).scalars
        let noise = Sample.normal([2000, 32], seed: seed + 1).scalars
        var rows = [Float](repeating: 0, count: 2000 * 32)
        for i in 0..<2000 {
            for j in 0..<32 {
                let c: Float = centres[(i % 40) * 32 + j]
                rows[i * 32 + j] = c + 0.4 * noise[i * 32 + j]
            }
        }
        let t = Tensor(rows, shape: [2000, 32])
        try! EmbeddingTable(paths: (0..<2000).map { "\($0)" }, vectors: t).normalizeRows()
        return t
    }

    @Test func faissIVFProbingEveryListIsExactAndHNSWRecallsAtLeast95Percent() throws {
        let x = ApproximateNearestNeighborsTests.clustered(seed: 3)
        let exact = ExactNearestNeighbors(k: 10).selfSearch(x)
        let all = try ApproximateNearestNeighbors(index: .faissIVF(lists: 16, probes: 16), k: 10).search(queries: x, bank: x, excludeSelf: true)
        #expect(ApproximateNearestNeighbors.recall(of: all, against: exact) > 0.999)
        let ivf = try ApproximateNearestNeighbors(index: .faissIVF(lists: 16, probes: 4), k: 10).search(queries: x, bank: x, excludeSelf: true)
        let hnsw = try ApproximateNearestNeighbors(index: .hnsw(links: 16, efSearch: 64), k: 10).search(queries: x, bank: x, excludeSelf: true)
        #expect(ApproximateNearestNeighbors.recall(of: ivf, against: exact) >= 0.95)
        #expect(ApproximateNearestNeighbors.recall(of: hnsw, against: exact) >= 0.95)
        #expect((0..<2000).allSatisfy { row in hnsw.neighbors(of: row).allSatisfy { $0.index != row } })
        // Similarities are inner products, best first.
        let first = hnsw.neighbors(of: 0)
        #expect(zip(first, first.dropFirst()).allSatisfy { $0.similarity >= $1.similarity })
    }

    /// The engine's IVF: probing every list is exact search, lists and ties included; a
    /// quarter of the lists still finds the clustered neighbours; a similarity floor and
    /// queries other than the bank work as in exact search.
    @Test func blasIVFProbingEveryListEqualsExactSearchAndFewProbesRecall() {
        let x = ApproximateNearestNeighborsTests.clustered(seed: 5)
        let exact = ExactNearestNeighbors(k: 10).selfSearch(x)
        let all = InvertedFileSearch(lists: 16, probes: 16, k: 10).search(queries: x, bank: x, excludeSelf: true)
        #expect(same(all, exact))
        let few = InvertedFileSearch(lists: 16, probes: 4, k: 10).search(queries: x, bank: x, excludeSelf: true)
        #expect(ApproximateNearestNeighbors.recall(of: few, against: exact) >= 0.95)
        #expect((0..<2000).allSatisfy { row in few.neighbors(of: row).allSatisfy { $0.index != row } })
        // One list probed of 40: fewer neighbours than exact search finds, so the probes matter.
        let one = InvertedFileSearch(lists: 40, probes: 1, k: 60).search(queries: x, bank: x, excludeSelf: true)
        let exact60 = ExactNearestNeighbors(k: 60).selfSearch(x)
        #expect(ApproximateNearestNeighbors.recall(of: one, against: exact60) < 0.99)

        // Other queries, a floor: the same lists as exact search.
        let queries = KMeans.rows(x, Array(stride(from: 0, to: 2000, by: 7)))
        let bank = KMeans.rows(x, Array(stride(from: 3, to: 2000, by: 2)))
        let floored = InvertedFileSearch(lists: 12, probes: 12, k: 20, minimumSimilarity: 0.5).search(queries: queries, bank: bank)
        #expect(same(floored, ExactNearestNeighbors(k: 20, minimumSimilarity: 0.5).search(queries: queries, bank: bank)))
        #expect(floored.similarities.enumerated().allSatisfy { i, s in Int32(i % 20) >= floored.counts[i / 20] || s >= 0.5 })
    }

    /// Equal similarities resolve to the lower bank index whatever order lists are scanned in.
    @Test func blasIVFTiesKeepTheLowerIndex() {
        // Eight copies of one row among distinct rows: every copy's 7 nearest are the other
        // copies at similarity 1, and a k of 3 must take the three lowest of them.
        var rows = Sample.normal([64, 8], seed: 9).scalars
        for c in 1..<8 { for j in 0..<8 { rows[c * 8 * 8 + j] = rows[j] } }   // rows 0, 8, …, 56 equal
        let x = Tensor(rows, shape: [64, 8])
        try! EmbeddingTable(paths: (0..<64).map { "\($0)" }, vectors: x).normalizeRows()
        let exact = ExactNearestNeighbors(k: 3).selfSearch(x)
        let ivf = InvertedFileSearch(lists: 8, probes: 8, k: 3).search(queries: x, bank: x, excludeSelf: true)
        #expect(same(ivf, exact))
        #expect(ivf.neighbors(of: 56).map(\.index) == [0, 8, 16])
    }

    /// The same neighbours in the same order, similarities equal up to rounding (the two
    /// searches multiply in differently shaped BLAS products).
    func same(_ a: NeighborLists, _ b: NeighborLists) -> Bool {
        a.k == b.k && a.counts == b.counts && a.indices == b.indices
            && zip(a.similarities, b.similarities).allSatisfy { abs($0 - $1) <= 1e-5 }
    }
}
