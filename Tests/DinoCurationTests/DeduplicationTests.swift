@testable import DinoCuration
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// `count` random unit rows of width `d`, plus for the listed rows near-copies (row + small
/// noise, renormalised) appended after them.
func plantedPool(count: Int, d: Int, copies: [(of: Int, noise: Float)], seed: UInt64) -> Tensor {
    let base = Sample.normal([count, d], seed: seed).scalars
    var rows = base
    let noise = Sample.normal([max(copies.count, 1), d], seed: seed + 1).scalars
    for (c, copy) in copies.enumerated() {
        for j in 0..<d { rows.append(base[copy.of * d + j] + copy.noise * noise[c * d + j]) }
    }
    let t = Tensor(rows, shape: [count + copies.count, d])
    try! EmbeddingTable(paths: (0..<t.shape[0]).map { "\($0)" }, vectors: t).normalizeRows()
    return t
}

@Suite struct NearestNeighborTests {
    @Test func tiledSearchEqualsBruteForce() {
        let x = plantedPool(count: 97, d: 8, copies: [], seed: 3)
        let q = plantedPool(count: 13, d: 8, copies: [], seed: 9)
        let p = x.scalars, qs = q.scalars
        for (excludeSelf, queries, floor) in [(true, x, -Float.infinity), (false, q, Float(0.3))] {
            let found = ExactNearestNeighbors(k: 5, minimumSimilarity: floor, queryBlock: 7, bankBlock: 11)
                .search(queries: queries, bank: x, excludeSelf: excludeSelf)
            let qv = excludeSelf ? p : qs
            for row in 0..<queries.shape[0] {
                var sims: [(Int, Float)] = []
                for i in 0..<97 where !(excludeSelf && i == row) {
                    var s: Float = 0
                    for j in 0..<8 { s += qv[row * 8 + j] * p[i * 8 + j] }
                    if s >= floor { sims.append((i, s)) }
                }
                sims.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
                let got = found.neighbors(of: row)
                #expect(got.map(\.index) == sims.prefix(5).map(\.0), "row \(row)")
                #expect(zip(got.map(\.similarity), sims.prefix(5).map(\.1)).allSatisfy { abs($0 - $1) < 1e-5 })
            }
        }
    }
}

extension NearestNeighborTests {
    @Test func symmetricSelfSearchEqualsTheFullSearch() {
        // Rows repeated so that equal similarities occur and the tie order is checked too.
        let base = plantedPool(count: 40, d: 6, copies: [], seed: 4).scalars
        let x = Tensor(base + Array(base[0..<(10 * 6)]), shape: [50, 6])
        for (k, floor) in [(7, -Float.infinity), (3, Float(0.2))] {
            let search = ExactNearestNeighbors(k: k, minimumSimilarity: floor, queryBlock: 8, bankBlock: 13)
            #expect(search.selfSearch(x) == search.search(queries: x, bank: x, excludeSelf: true))
        }
    }
}

@Suite struct DeduplicationTests {
    @Test func unionFindLabelsComponentsInOrderOfFirstMember() {
        var sets = UnionFind(count: 6)
        sets.union(4, 1)
        sets.union(5, 3)
        sets.union(3, 1)
        #expect(sets.labels() == [0, 1, 2, 1, 1, 1])
    }

    @Test func plantedCopiesFormOneGroupEachAndOneImageIsKept() throws {
        // 40 random images in 32-D; image 3 has three near-copies, image 10 one, image 20 two.
        let copies: [(of: Int, noise: Float)] = [(3, 0.05), (3, 0.08), (3, 0.05), (10, 0.1), (20, 0.05), (20, 0.07)]
        let pool = plantedPool(count: 40, d: 32, copies: copies, seed: 11)
        let result = try Deduplication(k: 4, threshold: 0.9).run(pool: pool)
        #expect(result.duplicateGroups == [[3, 40, 41, 42], [20, 44, 45], [10, 43]])
        #expect(result.kept == Array(0..<40))
        #expect(result.removedByRelative.isEmpty)
        #expect(result.component[41] == result.component[3] && result.component[43] != result.component[3])
        // Edges counted once each: within {3, 40, 41, 42} all 6 pairs (k = 4 reaches all), {20, 44, 45} 3, {10, 43} 1.
        #expect(result.edges == 10)
        // The same groups through a faiss HNSW graph.
        let approximate = try Deduplication(k: 4, threshold: 0.9, index: .hnsw(links: 16, efSearch: 32)).run(pool: pool)
        #expect(approximate.duplicateGroups == result.duplicateGroups && approximate.kept == result.kept)
    }

    @Test func chainsMergeThroughTransitiveEdges() throws {
        // a — b — c with sim(a, c) below the threshold: one component.
        let rows: [Float] = [1, 0, 0.8, 0.6, 0.28, 0.96]
        let t = Tensor(rows, shape: [3, 2])
        let r = try Deduplication(k: 1, threshold: 0.75).run(pool: t)
        #expect(r.kept == [0] && r.duplicateGroups == [[0, 1, 2]])
    }

    @Test func relativeDeduplicationRemovesTheWholeComponentOfACopiedEvaluationImage() throws {
        // Pool image 5 has a copy at 30; the evaluation set holds a noisy copy of image 5 and
        // an unrelated image.
        let pool = plantedPool(count: 30, d: 32, copies: [(5, 0.05)], seed: 21)
        let p = pool.scalars
        let noise = Sample.normal([2, 32], seed: 99).scalars
        var evalRows = (0..<32).map { p[5 * 32 + $0] + 0.3 * noise[$0] }
        evalRows += (0..<32).map { noise[32 + $0] }
        let against = Tensor(evalRows, shape: [2, 32])
        try! EmbeddingTable(paths: ["e0", "e1"], vectors: against).normalizeRows()
        let r = try Deduplication(k: 8, threshold: 0.9, relativeThreshold: 0.45).run(pool: pool, against: against)
        #expect(r.removedByRelative == [5, 30])
        #expect(r.kept == (0..<30).filter { $0 != 5 })
        #expect(r.component[5] == -1 && r.component[30] == -1)
        // Without the evaluation set both stay in one group.
        #expect(try Deduplication(k: 8, threshold: 0.9).run(pool: pool).duplicateGroups == [[5, 30]])
    }
}
