// Approximate k-nearest-neighbour search by inner product with an inverted file (IVF-Flat)
// whose scan runs list by list through BLAS products.
//
// What it is: faiss's IVF-Flat idea — bank rows filed under the nearest of L coarse
// centroids, each query compared only with the rows of its P nearest lists — with the work
// reordered for a CPU with a fast sgemm. faiss scans query by query (P lists of vector dot
// products each); here every list meets all the queries that probe it in one product
// (queries-of-list × members-of-list), so the N·P·N/L·D multiply-adds run at sgemm speed.
// The coarse centroids are k-means (random start, 10 Lloyd iterations, faiss's IVF
// default) on a seeded subsample of `trainingPointsPerList` rows per list, then L2-normalised;
// rows are filed and probed by inner product with them, as faiss's `IndexIVFFlat` with
// `METRIC_INNER_PRODUCT` does. With `probes == lists` the result is exact search's.
// Memory beyond the inputs: the N × P probe table (Int32), the inverted lists, one gathered
// block of queries and one product per list, and the result.
// What it is not: a persistent index (built per call), or faiss (ApproximateNearestNeighbors
// keeps faiss's IVF and HNSW as options).

import DinoTensor
import Foundation

/// IVF-Flat k-NN by inner product, scanned list-major through BLAS products.
public struct InvertedFileSearch: Sendable {
    /// Coarse lists (L); clamped to the bank size.
    public var lists: Int
    /// Lists probed per query (P); clamped to `lists`.
    public var probes: Int
    public var k: Int
    /// Neighbours below this similarity are not kept.
    public var minimumSimilarity: Float
    /// Rows per list the coarse k-means trains on (faiss warns under 39; its default cap is 256).
    public var trainingPointsPerList: Int
    /// Lloyd iterations of the coarse k-means (faiss's IVF training: 10).
    public var trainingIterations: Int
    /// Seed of the training subsample and the k-means start.
    public var seed: UInt64

    public init(lists: Int, probes: Int, k: Int, minimumSimilarity: Float = -.infinity,
                trainingPointsPerList: Int = 64, trainingIterations: Int = 10, seed: UInt64 = 0) {
        precondition(lists >= 1 && probes >= 1 && k >= 1 && trainingPointsPerList >= 1 && trainingIterations >= 0,
                     "InvertedFileSearch: lists, probes, k and training points must be positive")
        self.lists = lists
        self.probes = probes
        self.k = k
        self.minimumSimilarity = minimumSimilarity
        self.trainingPointsPerList = trainingPointsPerList
        self.trainingIterations = trainingIterations
        self.seed = seed
    }

    /// The coarse centroids for `bank` (L, D), unit rows.
    public func train(_ bank: Tensor) -> Tensor {
        let n = bank.shape[0], l = Swift.min(lists, n)
        let random = SeededRandomSource(seed: seed)
        let sampleSize = Swift.min(n, l * trainingPointsPerList)
        let sample = sampleSize == n ? bank : KMeans.rows(bank, random.choose(sampleSize, from: n).sorted())
        let centroids = KMeans(clusters: l, iterations: trainingIterations, initialization: .random)
            .fit(sample, random: random).centroids       // an empty list's centroid stays a data row
        return withNoGrad { centroids.l2Normalized() }
    }

    /// The (approximately) k most similar bank rows of every query row; with `excludeSelf`
    /// (queries and bank the same rows) a row is not its own neighbour.
    ///
    /// - Parameter progress: called with (lists scanned, L).
    /// - Returns: lists best first; equal similarities keep the lower bank index first.
    public func search(queries: Tensor, bank: Tensor, excludeSelf: Bool = false,
                       progress: ((Int, Int) -> Void)? = nil) -> NeighborLists {
        precondition(queries.rank == 2 && bank.rank == 2 && queries.shape[1] == bank.shape[1],
                     "InvertedFileSearch: queries \(queries.shape) and bank \(bank.shape) must be (rows, D) with one D")
        precondition(queries.dtype == .float32 && bank.dtype == .float32, "InvertedFileSearch: Float32 rows only")
        let q = queries.contiguous(), b = bank.contiguous()
        let m = q.shape[0], n = b.shape[0], k = self.k
        var indices = [Int32](repeating: -1, count: m * k)
        var sims = [Float](repeating: 0, count: m * k)
        var counts = [Int32](repeating: 0, count: m)
        guard m > 0, n > 0 else { return NeighborLists(k: k, indices: indices, similarities: sims, counts: counts) }

        let centroids = train(b)
        let l = centroids.shape[0], p = Swift.min(probes, l)
        // Coarse search: the P nearest lists of every query; the bank's rows go to their nearest.
        let sameRows = q.pointer(Float.self) == b.pointer(Float.self) && m == n
        let probeTable = ExactNearestNeighbors(k: p).search(queries: q, bank: centroids)
        let bankLists = sameRows ? probeTable : ExactNearestNeighbors(k: 1).search(queries: b, bank: centroids)
        var members = [[Int32]](repeating: [], count: l)
        for i in 0..<n { members[Int(bankLists.indices[i * bankLists.k])].append(Int32(i)) }
        var probers = [[Int32]](repeating: [], count: l)
        for i in 0..<m { for j in 0..<Int(probeTable.counts[i]) { probers[Int(probeTable.indices[i * p + j])].append(Int32(i)) } }

        let floor = minimumSimilarity
        indices.withUnsafeMutableBufferPointer { idx in
            sims.withUnsafeMutableBufferPointer { val in
                counts.withUnsafeMutableBufferPointer { cnt in
                    for list in 0..<l {
                        defer { progress?(list + 1, l) }
                        let own = members[list], askers = probers[list]
                        guard !own.isEmpty, !askers.isEmpty else { continue }
                        let bankRows = KMeans.rows(b, own.map(Int.init))
                        // Queries in blocks, so that one product stays near 32 MB.
                        let block = Swift.max(1, Swift.min(askers.count, (8 << 20) / Swift.max(own.count, 1)))
                        for start in stride(from: 0, to: askers.count, by: block) {
                            let rows = Array(askers[start..<Swift.min(askers.count, start + block)])
                            let queryRows = KMeans.rows(q, rows.map(Int.init))
                            let tile = withNoGrad { queryRows.matmul(bankRows.transposed()) }        // (B, C)
                            let s = tile.pointer(Float.self), c = own.count
                            own.withUnsafeBufferPointer { ids in
                                parallelFor(rows.count, grain: Swift.max(1, 65_536 / c)) { r in
                                    for row in r {
                                        let g = Int(rows[row])
                                        InvertedFileSearch.insert(row: s + row * c, ids: ids.baseAddress!, count: c,
                                                                  skip: excludeSelf ? g : -1, floor: floor, k: k,
                                                                  values: val.baseAddress! + g * k, indices: idx.baseAddress! + g * k,
                                                                  filled: &cnt[g])
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return NeighborLists(k: k, indices: indices, similarities: sims, counts: counts)
    }

    /// Merges candidates `x[j]` (bank row `ids[j]`) into a top-k list kept sorted by
    /// similarity descending, then bank index ascending — an order that does not depend on the
    /// order lists are scanned in, so ties resolve as in exact search.
    @inline(__always)
    static func insert(row x: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, skip: Int, floor: Float, k: Int,
                       values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>, filled: inout Int32) {
        var f = Int(filled)
        for j in 0..<count {
            let v = x[j], id = ids[j]
            if !(v >= floor) || Int(id) == skip { continue }
            if f == k && (v < values[k - 1] || (v == values[k - 1] && id > indices[k - 1])) { continue }
            ExactNearestNeighbors.place(v, id: id, k: k, values: values, indices: indices, filled: &f)
        }
        filled = Int32(f)
    }
}
