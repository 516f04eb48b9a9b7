// k-means with k-means++ initialisation: a port of facebookresearch/ssl-data-curation
// `src/kmeans_gpu.py` (`kmeans_plusplus`, `assign_clusters`, `compute_centroids`, `_kmeans`,
// `kmeans`, `sort_cluster_by_distance`) with its `dist="l2"` and `high_precision=float64`.
//
// What it is: Lloyd's algorithm from a k-means++ start, exactly the reference's steps —
// squared distances as ‖c‖² − 2·c·x + ‖x‖² in Float32 (one BLAS product per chunk of
// points), ties to the lowest cluster index, means accumulated in Double, an empty cluster
// keeping its previous centroid, a fixed number of iterations (stopping early only when an
// assignment repeats, after which the reference's remaining iterations change nothing), and
// the best of `initializations` runs by potential.
// Randomness: every draw goes through a `CurationRandomSource` in the reference's order
// (numpy `randint`, `uniform(size=)`, `choice(replace=False)`), so a recorded stream replays
// the reference exactly (Tests/DinoCurationTests) and a seeded one makes runs reproducible.
// What it is not: faiss's k-means (no subsampling to `max_points_per_centroid`: every point
// counts in every iteration).

import DinoTensor
import Foundation

/// The random draws k-means and hierarchical sampling make, named after the numpy calls
/// of the reference.
public protocol CurationRandomSource: AnyObject {
    /// numpy `randint(n)`: uniform in `0..<n`.
    func integer(below n: Int) -> Int
    /// numpy `uniform(size=count)`: `count` values uniform in [0, 1).
    func uniforms(_ count: Int) -> [Double]
    /// numpy `choice(n, k, replace=False)`: k distinct positions in `0..<n`, in the order drawn.
    func choose(_ k: Int, from n: Int) -> [Int]
}

/// Draws from the project's counter-based generator (seeded by the caller).
public final class SeededRandomSource: CurationRandomSource {
    public let generator: RandomGenerator

    public init(seed: UInt64) { generator = RandomGenerator(seed: seed) }

    public func integer(below n: Int) -> Int { generator.nextInt(n) }
    public func uniforms(_ count: Int) -> [Double] { (0..<count).map { _ in generator.nextDouble() } }

    /// A partial Fisher–Yates shuffle: the first k of a uniformly random permutation.
    public func choose(_ k: Int, from n: Int) -> [Int] {
        precondition(k <= n, "choose: cannot draw \(k) of \(n) without replacement")
        var pool = Array(0..<n)
        for i in 0..<k { pool.swapAt(i, i + generator.nextInt(n - i)) }
        return Array(pool[0..<k])
    }
}

/// How the first centroids are chosen.
public enum KMeansInitialization: String, Codable, Sendable, CaseIterable {
    /// k-means++ with 2 + ⌊ln k⌋ local trials per centre (scikit-learn's greedy variant).
    case kmeansPlusPlus = "kmeans++"
    /// k distinct points drawn uniformly, in index order.
    case random
}

/// One clustering: centroids, the cluster of every point, and the members of every cluster.
public struct KMeansResult: Sendable {
    /// (K, D) Float32.
    public var centroids: Tensor
    /// Cluster of every point, (N).
    public var assignment: [Int32]
    /// Members of every cluster, ascending point index.
    public var clusters: [[Int]]
    /// Σ over clusters of squared distances to the cluster mean (the reference's `pot`).
    public var potential: Double
}

/// k-means as in ssl-data-curation's `kmeans_gpu.kmeans` with `dist="l2"`.
public struct KMeans: Sendable {
    /// K, clamped to the number of points (the reference's `min(X.shape[0], n_clusters)`).
    public var clusters: Int
    /// Lloyd iterations after the initial assignment (reference: `n_iters=50`).
    public var iterations: Int
    /// Independent runs, best potential kept (reference: `num_init=1` in hierarchical k-means).
    public var initializations: Int
    public var initialization: KMeansInitialization
    /// Points per BLAS product when assigning (memory, not results).
    public var chunkSize: Int

    public init(clusters: Int, iterations: Int = 50, initializations: Int = 1,
                initialization: KMeansInitialization = .kmeansPlusPlus, chunkSize: Int = 8192) {
        precondition(clusters >= 1 && iterations >= 0 && initializations >= 1 && chunkSize >= 1,
                     "KMeans: clusters and initializations must be positive, iterations non-negative")
        self.clusters = clusters
        self.iterations = iterations
        self.initializations = initializations
        self.initialization = initialization
        self.chunkSize = chunkSize
    }

    /// Clusters the rows of `x` (N, D) Float32.
    public func fit(_ x: Tensor, random: CurationRandomSource) -> KMeansResult {
        let x = x.isContiguous ? x : x.contiguous()
        let k = Swift.min(x.shape[0], clusters)
        precondition(k >= 1, "KMeans: no points to cluster")
        var best: KMeansResult?
        for _ in 0..<initializations {
            let run = fitOnce(x, k: k, random: random)
            if run.potential < (best?.potential ?? .infinity) { best = run }
        }
        return best ?? fitOnce(x, k: k, random: random)
    }

    /// The reference's `_kmeans`.
    func fitOnce(_ x: Tensor, k: Int, random: CurationRandomSource) -> KMeansResult {
        let n = x.shape[0]
        let xNorms = KMeans.squaredNorms(x)
        var centroids: Tensor
        switch initialization {
        case .kmeansPlusPlus:
            centroids = KMeans.kmeansPlusPlus(x, clusters: k, squaredNorms: xNorms, random: random).centroids
        case .random:
            centroids = KMeans.rows(x, random.choose(k, from: n).sorted())
        }
        var assignment = KMeans.assign(x, to: centroids, squaredNorms: xNorms, chunkSize: chunkSize)
        for _ in 0..<iterations {
            centroids = KMeans.means(x, assignment: assignment, previous: centroids)
            let next = KMeans.assign(x, to: centroids, squaredNorms: xNorms, chunkSize: chunkSize)
            if next == assignment { break }        // a fixed point: later iterations repeat it
            assignment = next
        }
        let members = KMeans.members(assignment, clusters: k)
        return KMeansResult(centroids: centroids, assignment: assignment, clusters: members,
                            potential: KMeans.potential(x, clusters: members))
    }

    // MARK: The reference's pieces

    /// ‖x_i‖² of every row, Float32.
    public static func squaredNorms(_ x: Tensor) -> [Float] {
        let n = x.shape[0], d = x.shape[1], p = x.pointer(Float.self)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            parallelFor(n, grain: Swift.max(1, 65_536 / Swift.max(d, 1))) { r in
                for i in r {
                    var s: Float = 0
                    for j in 0..<d { s += p[i * d + j] * p[i * d + j] }
                    o[i] = s
                }
            }
        }
        return out
    }

    /// The given rows of `x` as a new (count, D) tensor, copied in parallel when there are many.
    public static func rows(_ x: Tensor, _ indices: [Int]) -> Tensor {
        let d = x.shape[1], src = x.pointer(Float.self)
        let out = Tensor(zeros: [indices.count, d])
        let dst = out.pointer(Float.self)
        indices.withUnsafeBufferPointer { ix in
            parallelFor(ix.count, grain: Swift.max(1, 16_384 / Swift.max(d, 1))) { range in
                for r in range { (dst + r * d).update(from: src + ix[r] * d, count: d) }
            }
        }
        return out
    }

    /// Squared distances of the rows `y` (T, D) to every row of `x` (N, D), as the
    /// reference's `compute_distance(Y, X, ‖X‖², "l2")`: (‖y‖² − 2·y·x) + ‖x‖², Float32,
    /// returned in Double, row-major (T, N).
    static func distances(from y: Tensor, to x: Tensor, xNorms: [Float]) -> [Double] {
        let t = y.shape[0], n = x.shape[0]
        let yNorms = squaredNorms(y)
        // (N, T): x·yᵀ, tall and narrow. With few rows y (k-means++ candidates) oneDNN ran the
        // (T, N) product y·xᵀ at about 28 GFLOP/s on 2 Zen 4 cores, this one at about 52 — as fast
        // as streaming x from memory allows. The same dot products.
        let dots = withNoGrad { x.matmul(y.transposed()) }
        let p = dots.pointer(Float.self)
        var out = [Double](repeating: 0, count: t * n)
        let blocks = (n + sumBlock - 1) / sumBlock
        out.withUnsafeMutableBufferPointer { o in
            xNorms.withUnsafeBufferPointer { xn in
                parallelFor(t * blocks, grain: 1) { jobs in
                    for job in jobs {
                        let a = job / blocks, lo = (job % blocks) * sumBlock, hi = Swift.min(n, lo + sumBlock)
                        for i in lo..<hi { o[a * n + i] = Double((yNorms[a] - 2 * p[i * t + a]) + xn[i]) }
                    }
                }
            }
        }
        return out
    }

    /// Elements per block of the k-means++ sums (partial sums in parallel, added in order).
    static let sumBlock = 65_536

    /// `kmeans_plusplus`: the greedy k-means++ of scikit-learn, as ported by the reference.
    ///
    /// First centre `randint(N)`; then for each further centre, 2 + ⌊ln K⌋ candidates drawn
    /// with probability ∝ D(x)² (`searchsorted(cumsum(D²), u · Σ D²)`, clipped to N − 1), and
    /// the candidate leaving the smallest Σ min(D², d(candidate)²) is taken.
    public static func kmeansPlusPlus(_ x: Tensor, clusters k: Int, squaredNorms xNorms: [Float],
                                      random: CurationRandomSource) -> (centroids: Tensor, indices: [Int]) {
        let n = x.shape[0]
        let trials = 2 + Int(Foundation.log(Double(k)))
        var indices = [random.integer(below: n)]
        var closest = distances(from: rows(x, indices), to: x, xNorms: xNorms)          // (N)
        var pot = closest.reduce(0, +)
        var cumulative = [Double](repeating: 0, count: n)
        for _ in 1..<Swift.max(k, 1) {
            let targets = random.uniforms(trials).map { $0 * pot }
            var running = 0.0
            for i in 0..<n { running += closest[i]; cumulative[i] = running }
            let candidates = targets.map { v -> Int in
                var lo = 0, hi = n                               // first i with cumulative[i] ≥ v
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if cumulative[mid] < v { lo = mid + 1 } else { hi = mid }
                }
                return Swift.min(lo, n - 1)
            }
            var toCandidates = distances(from: rows(x, candidates), to: x, xNorms: xNorms)   // (T, N)
            // min(D², d(candidate)²) and its sum per trial, in parallel over fixed blocks whose
            // partial sums add up in order: the same result on any number of threads.
            let blocks = (n + KMeans.sumBlock - 1) / KMeans.sumBlock
            var partial = [Double](repeating: 0, count: trials * blocks)
            toCandidates.withUnsafeMutableBufferPointer { tc in
                closest.withUnsafeBufferPointer { cl in
                    partial.withUnsafeMutableBufferPointer { pp in
                        parallelFor(trials * blocks, grain: 1) { jobs in
                            for job in jobs {
                                let a = job / blocks, lo = (job % blocks) * KMeans.sumBlock, hi = Swift.min(n, lo + KMeans.sumBlock)
                                var s = 0.0
                                for i in lo..<hi {
                                    let v = Swift.min(cl[i], tc[a * n + i])
                                    tc[a * n + i] = v
                                    s += v
                                }
                                pp[job] = s
                            }
                        }
                    }
                }
            }
            var bestTrial = 0, bestPot = Double.infinity
            for a in 0..<trials {
                var s = 0.0
                for b in 0..<blocks { s += partial[a * blocks + b] }
                if s < bestPot { bestPot = s; bestTrial = a }
            }
            pot = bestPot
            closest = Array(toCandidates[(bestTrial * n)..<((bestTrial + 1) * n)])
            indices.append(candidates[bestTrial])
        }
        return (rows(x, indices), indices)
    }

    /// `assign_clusters`: the nearest centroid of every row, ties to the lowest index.
    public static func assign(_ x: Tensor, to centroids: Tensor, squaredNorms xNorms: [Float]? = nil,
                              chunkSize: Int = 8192) -> [Int32] {
        let n = x.shape[0], k = centroids.shape[0]
        let xn = xNorms ?? squaredNorms(x)
        let cn = squaredNorms(centroids)
        var out = [Int32](repeating: 0, count: n)
        let ct = centroids.transposed()                                        // (D, K) view
        out.withUnsafeMutableBufferPointer { o in
            var start = 0
            while start < n {
                let end = Swift.min(n, start + chunkSize)
                let dots = withNoGrad { x.slice(axis: 0, start: start, end: end).matmul(ct) }   // (B, K)
                let p = dots.pointer(Float.self)
                let s0 = start
                cn.withUnsafeBufferPointer { cnp in
                    parallelFor(end - start, grain: Swift.max(1, 16_384 / Swift.max(k, 1))) { r in
                        for row in r {
                            o[s0 + row] = Int32(KMeans.nearest(dots: p + row * k, centroidNorms: cnp.baseAddress!, k: k, rowNorm: xn[s0 + row]))
                        }
                    }
                }
                start = end
            }
        }
        return out
    }

    /// The index of the smallest (‖c‖² − 2·c·x) + ‖x‖² over the k centroids, ties to the lowest
    /// index: the same Float32 operations per centroid as a scalar scan, 16 centroids at a time.
    @inline(__always)
    static func nearest(dots: UnsafePointer<Float>, centroidNorms cn: UnsafePointer<Float>, k: Int, rowNorm xn: Float) -> Int {
        var best: Float = .infinity, arg = 0
        var c = 0
        if k >= 16 {
            var bestV = SIMD16<Float>(repeating: .infinity)
            var bestI = SIMD16<Int32>(repeating: 0)
            var lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            let xs = SIMD16<Float>(repeating: xn), two = SIMD16<Float>(repeating: 2)
            while c + 16 <= k {
                let dv = UnsafeRawPointer(dots + c).loadUnaligned(as: SIMD16<Float>.self)
                let nv = UnsafeRawPointer(cn + c).loadUnaligned(as: SIMD16<Float>.self)
                let d = (nv - two * dv) + xs
                let better = d .< bestV                       // strict: an earlier equal value stays
                bestV.replace(with: d, where: better)
                bestI.replace(with: lane, where: better)
                lane &+= 16
                c += 16
            }
            for l in 0..<16 where bestV[l] < best || (bestV[l] == best && Int(bestI[l]) < arg) {
                best = bestV[l]
                arg = Int(bestI[l])
            }
        }
        while c < k {
            let d = (cn[c] - 2 * dots[c]) + xn
            if d < best { best = d; arg = c }
            c += 1
        }
        return arg
    }

    /// `compute_centroids`: the mean of each cluster in Double, stored as Float32; an empty
    /// cluster keeps its previous centroid.
    public static func means(_ x: Tensor, assignment: [Int32], previous: Tensor) -> Tensor {
        let k = previous.shape[0], d = x.shape[1]
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        let p = x.pointer(Float.self)
        for c in assignment { counts[Int(c)] += 1 }
        // Each thread sums its own columns over every row in order: the reference's order.
        sums.withUnsafeMutableBufferPointer { sp in
            assignment.withUnsafeBufferPointer { a in
                parallelFor(d, grain: Swift.max(1, d / 8)) { columns in
                    for (i, c) in a.enumerated() {
                        let row = p + i * d, sum = sp.baseAddress! + Int(c) * d
                        for j in columns { sum[j] += Double(row[j]) }
                    }
                }
            }
        }
        let out = previous.contiguousCopy()
        let o = out.pointer(Float.self)
        for c in 0..<k where counts[c] > 0 {
            for j in 0..<d { o[c * d + j] = Float(sums[c * d + j] / Double(counts[c])) }
        }
        return out
    }

    /// `create_clusters_from_cluster_assignment`, with members in ascending order.
    public static func members(_ assignment: [Int32], clusters k: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: k)
        for (i, c) in assignment.enumerated() { out[Int(c)].append(i) }
        return out
    }

    /// Σ over clusters of Σ ‖x − mean‖² (the reference's `pot`, computed in Double).
    static func potential(_ x: Tensor, clusters: [[Int]]) -> Double {
        let d = x.shape[1], p = x.pointer(Float.self)
        var total = 0.0
        for members in clusters where !members.isEmpty {
            var mean = [Double](repeating: 0, count: d)
            for i in members { for j in 0..<d { mean[j] += Double(p[i * d + j]) } }
            for j in 0..<d { mean[j] /= Double(members.count) }
            for i in members { for j in 0..<d { let e = Double(p[i * d + j]) - mean[j]; total += e * e } }
        }
        return total
    }

    /// `sort_cluster_by_distance`: each cluster's members by increasing Euclidean distance to
    /// its centroid, in Float32 (equal distances by index).
    public static func sortedByDistance(_ x: Tensor, centroids: Tensor, clusters: [[Int]]) -> [[Int]] {
        let d = x.shape[1], p = x.pointer(Float.self), c = centroids.contiguous().pointer(Float.self)
        return clusters.enumerated().map { (ci, members) in
            // The distance itself (not its square) in Float32, like the reference's `torch.cdist`
            // on Float32 rows: the two members of a two-point cluster then tie exactly, as there,
            // and keep index order.
            let dist = members.map { i -> Float in
                var s: Float = 0
                for j in 0..<d { let e = p[i * d + j] - c[ci * d + j]; s += e * e }
                return s.squareRoot()
            }
            return members.indices.sorted { dist[$0] != dist[$1] ? dist[$0] < dist[$1] : members[$0] < members[$1] }
                .map { members[$0] }
        }
    }
}
