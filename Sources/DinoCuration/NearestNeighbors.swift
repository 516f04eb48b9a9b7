// Exact k-nearest-neighbour search by cosine similarity, through blocked matrix products.
//
// What it is: for every query row, the k bank rows of largest inner product (cosine
// similarity when both sides are L2-normalised), optionally only those above a floor. The
// similarity matrix is never formed whole: a block of query rows meets a block of bank rows
// in one BLAS product (`Tensor.matmul` on views — neither side is copied or transposed in
// memory), and each row's running top-k list is updated from that tile in parallel. Memory
// beyond the inputs: one tile (queryBlock × bankBlock floats, 32 MB by default) and the
// result (M × k indices and similarities).
// What it is not: an approximate index (IVF/HNSW); at the pool sizes this runs on, exact
// search costs M·N·D multiply-adds through BLAS.
//
// Reference: the k-NN graphs of DINOv2's curation (Oquab et al. 2023, appendix A: k = 64
// neighbours by cosine similarity), which were built with faiss; exact search gives the
// graph an exact index would.

import DinoTensor
import Foundation

/// The neighbours found for each query row, best first.
public struct NeighborLists: Sendable, Equatable {
    /// Capacity per row.
    public let k: Int
    /// (M, k) bank row indices, best first; -1 past `counts[row]`.
    public var indices: [Int32]
    /// (M, k) similarities matching `indices`.
    public var similarities: [Float]
    /// How many neighbours each row holds (≤ k; fewer with a similarity floor or a small bank).
    public var counts: [Int32]

    public var rows: Int { counts.count }

    /// The neighbours of query `row`, best first, as (bank index, similarity).
    public func neighbors(of row: Int) -> [(index: Int, similarity: Float)] {
        (0..<Int(counts[row])).map { (Int(indices[row * k + $0]), similarities[row * k + $0]) }
    }
}

/// Exact k-NN search by inner product (cosine similarity on normalised rows).
public struct ExactNearestNeighbors: Sendable {
    /// Neighbours kept per query (DINOv2's deduplication graph: 64).
    public var k: Int
    /// Neighbours below this similarity are not kept (−∞: keep the k best whatever they are).
    public var minimumSimilarity: Float
    /// Query rows per BLAS product.
    public var queryBlock: Int
    /// Bank rows per BLAS product.
    public var bankBlock: Int

    public init(k: Int, minimumSimilarity: Float = -.infinity, queryBlock: Int = 512, bankBlock: Int = 16_384) {
        precondition(k >= 1, "ExactNearestNeighbors: k must be positive, got \(k)")
        precondition(queryBlock >= 1 && bankBlock >= 1, "ExactNearestNeighbors: block sizes must be positive")
        self.k = k
        self.minimumSimilarity = minimumSimilarity
        self.queryBlock = queryBlock
        self.bankBlock = bankBlock
    }

    /// The k most similar bank rows of every query row.
    ///
    /// - Parameters:
    ///   - queries: (M, D) Float32.
    ///   - bank: (N, D) Float32 — may be the same tensor as `queries`.
    ///   - excludeSelf: skip bank row i for query row i (a self-search of one matrix).
    ///   - progress: called after each block of queries with (rows done, M).
    /// - Returns: M lists of at most k neighbours, best first; equal similarities keep the
    ///   lower bank index first.
    public func search(queries: Tensor, bank: Tensor, excludeSelf: Bool = false,
                       progress: ((Int, Int) -> Void)? = nil) -> NeighborLists {
        precondition(queries.rank == 2 && bank.rank == 2 && queries.shape[1] == bank.shape[1],
                     "ExactNearestNeighbors: queries \(queries.shape) and bank \(bank.shape) must be (rows, D) with one D")
        precondition(queries.dtype == .float32 && bank.dtype == .float32, "ExactNearestNeighbors: Float32 rows only")
        let m = queries.shape[0], n = bank.shape[0], k = self.k
        var indices = [Int32](repeating: -1, count: m * k)
        var sims = [Float](repeating: 0, count: m * k)
        var counts = [Int32](repeating: 0, count: m)
        let floor = minimumSimilarity
        indices.withUnsafeMutableBufferPointer { idx in
            sims.withUnsafeMutableBufferPointer { val in
                counts.withUnsafeMutableBufferPointer { cnt in
                    var qStart = 0
                    while qStart < m {
                        let qEnd = Swift.min(m, qStart + queryBlock)
                        let q = queries.slice(axis: 0, start: qStart, end: qEnd)               // (B, D)
                        var bStart = 0
                        while bStart < n {
                            let bEnd = Swift.min(n, bStart + bankBlock)
                            let tile = withNoGrad {
                                q.matmul(bank.slice(axis: 0, start: bStart, end: bEnd).transposed())  // (B, C)
                            }
                            let s = tile.pointer(Float.self)
                            let c = bEnd - bStart
                            let base = bStart, q0 = qStart
                            parallelFor(qEnd - qStart, grain: Swift.max(1, 65_536 / Swift.max(c, 1))) { r in
                                for row in r {
                                    let global = q0 + row
                                    ExactNearestNeighbors.insert(
                                        row: s + row * c, count: c, base: base, skip: excludeSelf ? global : -1,
                                        floor: floor, k: k, values: val.baseAddress! + global * k,
                                        indices: idx.baseAddress! + global * k, filled: &cnt[global])
                                }
                            }
                            bStart = bEnd
                        }
                        progress?(qEnd, m)
                        qStart = qEnd
                    }
                }
            }
        }
        return NeighborLists(k: k, indices: indices, similarities: sims, counts: counts)
    }

    /// The k most similar other rows of every row of `x` (N, D): `search(queries: x, bank: x,
    /// excludeSelf: true)` at half the multiply-adds, since sim(i, j) = sim(j, i): each pair of
    /// blocks (I, J ≥ I) meets in one product, whose rows update block I and whose columns
    /// update block J. Candidates still reach every row in ascending index order, so the lists
    /// (ties included) are those of `search`.
    ///
    /// - Parameter progress: called after each block of rows with (rows done, N).
    public func selfSearch(_ x: Tensor, progress: ((Int, Int) -> Void)? = nil) -> NeighborLists {
        precondition(x.rank == 2 && x.dtype == .float32, "ExactNearestNeighbors: selfSearch needs (N, D) Float32 rows, got \(x.shape)")
        let n = x.shape[0], k = self.k, block = queryBlock
        var indices = [Int32](repeating: -1, count: n * k)
        var sims = [Float](repeating: 0, count: n * k)
        var counts = [Int32](repeating: 0, count: n)
        let floor = minimumSimilarity
        indices.withUnsafeMutableBufferPointer { idx in
            sims.withUnsafeMutableBufferPointer { val in
                counts.withUnsafeMutableBufferPointer { cnt in
                    for iStart in stride(from: 0, to: n, by: block) {
                        let iEnd = Swift.min(n, iStart + block)
                        let xi = x.slice(axis: 0, start: iStart, end: iEnd)                          // (B, D)
                        for jStart in stride(from: iStart, to: n, by: block) {
                            let jEnd = Swift.min(n, jStart + block)
                            let tile = withNoGrad { xi.matmul(x.slice(axis: 0, start: jStart, end: jEnd).transposed()) }  // (B, C)
                            let s = tile.pointer(Float.self)
                            let b = iEnd - iStart, c = jEnd - jStart
                            // Rows of block I take columns J.
                            parallelFor(b, grain: Swift.max(1, 65_536 / Swift.max(c, 1))) { r in
                                for row in r {
                                    let g = iStart + row
                                    ExactNearestNeighbors.insert(row: s + row * c, count: c, base: jStart, skip: g, floor: floor, k: k,
                                                                 values: val.baseAddress! + g * k, indices: idx.baseAddress! + g * k,
                                                                 filled: &cnt[g])
                                }
                            }
                            guard jStart != iStart else { continue }
                            // Rows of block J take columns I (a column of the tile, copied contiguous).
                            parallelFor(c, grain: Swift.max(1, 65_536 / Swift.max(b, 1))) { r in
                                var column = [Float](repeating: 0, count: b)
                                column.withUnsafeMutableBufferPointer { col in
                                    for jr in r {
                                        for ir in 0..<b { col[ir] = s[ir * c + jr] }
                                        let g = jStart + jr
                                        ExactNearestNeighbors.insert(row: col.baseAddress!, count: b, base: iStart, skip: g, floor: floor, k: k,
                                                                     values: val.baseAddress! + g * k, indices: idx.baseAddress! + g * k,
                                                                     filled: &cnt[g])
                                    }
                                }
                            }
                        }
                        progress?(iEnd, n)
                    }
                }
            }
        }
        return NeighborLists(k: k, indices: indices, similarities: sims, counts: counts)
    }

    /// Merges one tile row `x[0..<count]` (bank indices `base…`) into a top-k list kept sorted
    /// descending; a value equal to the current k-th is not taken (the earlier index stays).
    @inline(__always)
    static func insert(row x: UnsafePointer<Float>, count: Int, base: Int, skip: Int, floor: Float, k: Int,
                       values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>, filled: inout Int32) {
        var f = Int(filled)
        var threshold = f == k ? values[k - 1] : floor
        for j in 0..<count {
            let v = x[j]
            if f == k ? !(v > threshold) : !(v >= floor) { continue }
            if base + j == skip { continue }
            place(v, id: Int32(base + j), k: k, values: values, indices: indices, filled: &f)
            if f == k { threshold = values[k - 1] }
        }
        filled = Int32(f)
    }

    /// Puts a candidate that belongs in the list into its place: the list is kept sorted by
    /// similarity descending, then bank index ascending, and a full list drops its last entry.
    /// Candidates arriving in ascending index order (exact search) land after equal values,
    /// so the earlier index stays first; `InvertedFileSearch`, whose candidates arrive list by
    /// list, gets the same order.
    @inline(__always)
    static func place(_ v: Float, id: Int32, k: Int, values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>,
                      filled f: inout Int) {
        if f == k { f -= 1 }
        var lo = 0, hi = f
        while lo < hi {
            let mid = (lo + hi) >> 1
            if values[mid] > v || (values[mid] == v && indices[mid] < id) { lo = mid + 1 } else { hi = mid }
        }
        var t = f
        while t > lo {
            values[t] = values[t - 1]
            indices[t] = indices[t - 1]
            t -= 1
        }
        values[lo] = v
        indices[lo] = id
        f += 1
    }
}
