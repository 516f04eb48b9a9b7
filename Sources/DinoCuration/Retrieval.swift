// Retrieval of pool images close to a curated seed set: DINOv2's two retrieval modes.
//
// What it is (Oquab et al. 2023, "DINOv2", appendix A, "Retrieval"):
// - sample-based: the k nearest pool images of every seed image (cosine similarity on
//   normalised embeddings), pooled without repeats;
// - cluster-based: the pool is clustered with k-means, every seed image goes to its nearest
//   pool centroid, and from every cluster that receives more than `minimumSeeds` seed images,
//   up to `perCluster` pool images are taken (closest to the centroid first).
// DINOv2 used k = 4 or 32 for sample-based retrieval and 100 000 clusters, more than 3 seeds,
// 10 000 images per cluster for cluster-based retrieval on a 1.2 B pool; the defaults of the
// command scale these to the pool at hand.

import DinoTensor
import Foundation

/// What retrieval selected.
public struct RetrievalResult: Sendable, Equatable {
    /// Pool indices selected, ascending, each once.
    public var selected: [Int]
    /// Cluster-based only: the pool clusters used, with how many seed images each received.
    public var clusters: [(cluster: Int, seeds: Int, taken: Int)]

    public static func == (a: RetrievalResult, b: RetrievalResult) -> Bool {
        a.selected == b.selected && a.clusters.map { [$0.cluster, $0.seeds, $0.taken] } == b.clusters.map { [$0.cluster, $0.seeds, $0.taken] }
    }
}

/// Sample-based retrieval: the k nearest pool images of each seed image.
public struct SampleRetrieval: Sendable {
    /// Neighbours per seed image.
    public var perImage: Int

    public init(perImage: Int) {
        precondition(perImage >= 1, "SampleRetrieval: perImage must be positive, got \(perImage)")
        self.perImage = perImage
    }

    /// Pool rows (N, D) nearest to the seed rows (M, D); both L2-normalised.
    public func run(seeds: Tensor, pool: Tensor, progress: ((Int, Int) -> Void)? = nil) -> RetrievalResult {
        let lists = ExactNearestNeighbors(k: Swift.min(perImage, pool.shape[0]))
            .search(queries: seeds, bank: pool, progress: progress)
        var taken = [Bool](repeating: false, count: pool.shape[0])
        for row in 0..<lists.rows { for (i, _) in lists.neighbors(of: row) { taken[i] = true } }
        return RetrievalResult(selected: taken.indices.filter { taken[$0] }, clusters: [])
    }

    /// Retrieval with the smallest number of neighbours per seed image, from `minimum` up to
    /// `maximum`, whose union holds at least `target` pool images (`maximum` when none does):
    /// what a curation asked for `target` images needs, where DINOv2's fixed 4 can fall short
    /// once the pool is deduplicated and the seed images share neighbours. One search of
    /// `maximum` neighbours serves every k; the result is `SampleRetrieval(perImage: k).run`'s.
    public static func reaching(_ target: Int, seeds: Tensor, pool: Tensor, minimum: Int = 4, maximum: Int = 64,
                                progress: ((Int, Int) -> Void)? = nil) -> (perImage: Int, result: RetrievalResult) {
        precondition(minimum >= 1 && maximum >= minimum, "SampleRetrieval.reaching: need 1 ≤ minimum ≤ maximum")
        let n = pool.shape[0], top = Swift.min(maximum, n)
        guard top >= 1 else { return (minimum, RetrievalResult(selected: [], clusters: [])) }
        let lists = ExactNearestNeighbors(k: top).search(queries: seeds, bank: pool, progress: progress)
        var taken = [Bool](repeating: false, count: n)
        var count = 0, k = 0
        repeat {
            k += 1
            for row in 0..<lists.rows where Int(lists.counts[row]) >= k {
                let i = Int(lists.indices[row * lists.k + k - 1])
                if !taken[i] { taken[i] = true; count += 1 }
            }
        } while k < top && (k < minimum || count < target)
        return (k, RetrievalResult(selected: taken.indices.filter { taken[$0] }, clusters: []))
    }
}

/// Cluster-based retrieval: pool clusters that hold enough seed images.
public struct ClusterRetrieval: Sendable {
    /// k-means clusters of the pool.
    public var clusters: Int
    /// A cluster is used when it receives more than this many seed images (DINOv2: 3).
    public var minimumSeeds: Int
    /// Pool images taken per used cluster, closest to the centroid first (DINOv2: 10 000).
    public var perCluster: Int
    public var iterations: Int

    public init(clusters: Int, minimumSeeds: Int = 3, perCluster: Int, iterations: Int = 50) {
        precondition(clusters >= 1 && minimumSeeds >= 0 && perCluster >= 1, "ClusterRetrieval: bad settings")
        self.clusters = clusters
        self.minimumSeeds = minimumSeeds
        self.perCluster = perCluster
        self.iterations = iterations
    }

    /// Clusters `pool` (N, D) and takes from the clusters `seeds` (M, D) fall into.
    public func run(seeds: Tensor, pool: Tensor, random: CurationRandomSource) -> RetrievalResult {
        let fit = KMeans(clusters: clusters, iterations: iterations).fit(pool, random: random)
        return select(seeds: seeds, pool: pool, clustering: fit)
    }

    /// The selection step on a clustering already made.
    public func select(seeds: Tensor, pool: Tensor, clustering fit: KMeansResult) -> RetrievalResult {
        let seedClusters = KMeans.assign(seeds.isContiguous ? seeds : seeds.contiguous(), to: fit.centroids)
        var counts = [Int](repeating: 0, count: fit.clusters.count)
        for c in seedClusters { counts[Int(c)] += 1 }
        let sorted = KMeans.sortedByDistance(pool.isContiguous ? pool : pool.contiguous(), centroids: fit.centroids,
                                             clusters: fit.clusters)
        var selected: [Int] = []
        var used: [(Int, Int, Int)] = []
        for c in counts.indices where counts[c] > minimumSeeds {
            let take = sorted[c].prefix(perCluster)
            selected += take
            used.append((c, counts[c], take.count))
        }
        return RetrievalResult(selected: selected.sorted(), clusters: used.map { (cluster: $0.0, seeds: $0.1, taken: $0.2) })
    }
}
