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

    @Test func ivfProbingEveryListIsExactAndHNSWRecallsAtLeast95Percent() throws {
        let x = ApproximateNearestNeighborsTests.clustered(seed: 3)
        let exact = ExactNearestNeighbors(k: 10).selfSearch(x)
        let all = try ApproximateNearestNeighbors(index: .ivf(lists: 16, probes: 16), k: 10).search(queries: x, bank: x, excludeSelf: true)
        #expect(ApproximateNearestNeighbors.recall(of: all, against: exact) > 0.999)
        let ivf = try ApproximateNearestNeighbors(index: .ivf(lists: 16, probes: 4), k: 10).search(queries: x, bank: x, excludeSelf: true)
        let hnsw = try ApproximateNearestNeighbors(index: .hnsw(links: 16, efSearch: 64), k: 10).search(queries: x, bank: x, excludeSelf: true)
        #expect(ApproximateNearestNeighbors.recall(of: ivf, against: exact) >= 0.95)
        #expect(ApproximateNearestNeighbors.recall(of: hnsw, against: exact) >= 0.95)
        #expect((0..<2000).allSatisfy { row in hnsw.neighbors(of: row).allSatisfy { $0.index != row } })
        // Similarities are inner products, best first.
        let first = hnsw.neighbors(of: 0)
        #expect(zip(first, first.dropFirst()).allSatisfy { $0.similarity >= $1.similarity })
    }
}
