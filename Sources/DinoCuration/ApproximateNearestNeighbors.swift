// Approximate k-nearest-neighbour search by inner product: the engine's IVF-Flat scanned
// through BLAS products (InvertedFileSearch.swift), or faiss (CFaiss shim) IVF-Flat or
// HNSW-Flat (a navigable small-world graph).
//
// What it is: the same `NeighborLists` as `ExactNearestNeighbors`, from an index built on the
// bank, for pools where N²·D multiply-adds are too many. Results are approximate: check them
// with `recall(of:against:)` on a subset against exact search before trusting a setting.
// What it is not: a persistent index (built per call), or faiss's k-means for clustering —
// hierarchical k-means here is the ssl-data-curation port (KMeans.swift). Note that faiss's
// IVF training k-means subsamples to 256 points per list; that only shapes the lists.

import CFaiss
import DinoTensor
import Foundation

/// Approximate k-NN by inner product with a faiss index.
public struct ApproximateNearestNeighbors: Sendable {
    public enum Index: Sendable, Equatable {
        /// IVF-Flat with `lists` k-means lists, `probes` of them searched per query, scanned
        /// list by list through BLAS products (`InvertedFileSearch`).
        case ivf(lists: Int, probes: Int)
        /// faiss's IVF-Flat with the same meaning.
        case faissIVF(lists: Int, probes: Int)
        /// HNSW-Flat with `links` (faiss's M) per node and `efSearch` candidates kept while searching.
        case hnsw(links: Int, efSearch: Int)
    }

    public var index: Index
    public var k: Int
    /// Neighbours below this similarity are dropped after the search.
    public var minimumSimilarity: Float

    public init(index: Index, k: Int, minimumSimilarity: Float = -.infinity) {
        precondition(k >= 1, "ApproximateNearestNeighbors: k must be positive, got \(k)")
        self.index = index
        self.k = k
        self.minimumSimilarity = minimumSimilarity
    }

    /// The (approximately) k most similar bank rows of every query row; with `excludeSelf`
    /// (queries and bank the same rows) a row is not its own neighbour.
    public func search(queries: Tensor, bank: Tensor, excludeSelf: Bool = false) throws -> NeighborLists {
        precondition(queries.rank == 2 && bank.rank == 2 && queries.shape[1] == bank.shape[1],
                     "ApproximateNearestNeighbors: queries \(queries.shape) and bank \(bank.shape) must be (rows, D) with one D")
        if case .ivf(let lists, let probes) = index {
            return InvertedFileSearch(lists: lists, probes: probes, k: k, minimumSimilarity: minimumSimilarity)
                .search(queries: queries, bank: bank, excludeSelf: excludeSelf)
        }
        let q = queries.contiguous(), b = bank.contiguous()
        let m = q.shape[0], n = b.shape[0], d = q.shape[1]
        let asked = Swift.min(n, k + (excludeSelf ? 1 : 0))
        var labels = [Int](repeating: -1, count: m * asked)
        var sims = [Float](repeating: 0, count: m * asked)
        var error = [CChar](repeating: 0, count: 512)
        let (kind, p1, p2): (Int32, Int32, Int32)
        switch index {
        case .ivf(let lists, let probes), .faissIVF(let lists, let probes):
            (kind, p1, p2) = (Int32(FAISS_SHIM_IVF_FLAT), Int32(Swift.min(lists, n)), Int32(probes))
        case .hnsw(let links, let ef): (kind, p1, p2) = (Int32(FAISS_SHIM_HNSW_FLAT), Int32(links), Int32(Swift.max(ef, asked)))
        }
        let status = faiss_shim_search(kind, b.pointer(Float.self), n, Int32(d), q.pointer(Float.self), m, Int32(asked),
                                       p1, p2, &labels, &sims, &error, Int32(error.count))
        guard status == 0 else {
            throw CurationError("faiss: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        var outIndices = [Int32](repeating: -1, count: m * k)
        var outSims = [Float](repeating: 0, count: m * k)
        var counts = [Int32](repeating: 0, count: m)
        for row in 0..<m {
            var c = 0
            for j in 0..<asked where c < k {
                let label = labels[row * asked + j], s = sims[row * asked + j]
                if label < 0 || (excludeSelf && label == row) || !(s >= minimumSimilarity) { continue }
                outIndices[row * k + c] = Int32(label)
                outSims[row * k + c] = s
                c += 1
            }
            counts[row] = Int32(c)
        }
        return NeighborLists(k: k, indices: outIndices, similarities: outSims, counts: counts)
    }

    /// Recall@k of `found` against exact lists: the share of exact neighbours that were found.
    public static func recall(of found: NeighborLists, against exact: NeighborLists) -> Double {
        precondition(found.rows == exact.rows, "recall: \(found.rows) rows against \(exact.rows)")
        var hit = 0, total = 0
        for row in 0..<exact.rows {
            let got = Set(found.neighbors(of: row).map(\.index))
            for (i, _) in exact.neighbors(of: row) {
                total += 1
                if got.contains(i) { hit += 1 }
            }
        }
        return total == 0 ? 1 : Double(hit) / Double(total)
    }
}
