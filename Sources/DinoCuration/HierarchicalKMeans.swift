// Hierarchical k-means with resampling: a port of facebookresearch/ssl-data-curation
// `src/hierarchical_kmeans_gpu.py` (`hierarchical_kmeans_with_resampling`, sampling
// strategy "closest").
//
// What it is (Vo et al. 2024, "Automatic Data Curation for Self-Supervised Learning", §3):
//
//     level 1 clusters the data, level l > 1 clusters the centroids of level l − 1;
//     at each level: k-means on all points of the level, then — when sample_size > 1 —
//     `resampling_steps` times: take the `sample_size` points closest to each centroid
//     (or a random `sample_size` of each cluster), run k-means on those points only, and
//     assign every point of the level to the new centroids.
//
// Resampling moves centroids from the dense modes towards a uniform cover of the support,
// which is what makes sampling from the clusters balanced.
// At the end every level's clusters are sorted by distance to their centroid (the
// `sorted_clusters.npy` of the reference's launcher, which the "c" sampling strategy reads).
//
// Counting steps: this follows `hierarchical_kmeans_with_resampling`, where `n_resamples`
// counts the k-means runs after the first. The launcher (`hierarchical_kmeans_launcher.py`,
// configs/*.yaml) passes `n_resampling_steps` as its total number of runs, first included: the
// configs' 10 are 9 resampling steps here.

import DinoNN
import DinoTensor
import Foundation

/// Settings of hierarchical k-means; snake_case keys on disk, unknown keys rejected.
public struct HierarchicalKMeansConfig: Configuration, Sendable, Equatable {
    /// Clusters per level, finest first (README toy: [1000, 300]; configs/2levels: [5000, 1000]).
    public var clusters: [Int]
    /// Resampling k-means runs per level after the first run (reference default: 10).
    public var resamplingSteps: [Int]
    /// Points taken from each cluster in a resampling step, "roughly half the average cluster
    /// size" (README toy: [15, 2]; configs/2levels: [10, 3]); 1 or less turns resampling off.
    public var sampleSizes: [Int]
    /// Lloyd iterations per k-means run (reference: 50).
    public var iterations: Int
    /// k-means runs per clustering, best kept (reference: 1).
    public var initializations: Int
    public var initialization: KMeansInitialization
    /// Which points a resampling step takes from a cluster: "closest" to the centroid
    /// (reference default) or "random".
    public var resamplingStrategy: ResamplingStrategy

    public enum ResamplingStrategy: String, Codable, Sendable { case closest, random }

    enum CodingKeys: String, CodingKey {
        case clusters, resamplingSteps = "resampling_steps", sampleSizes = "sample_sizes", iterations,
             initializations, initialization, resamplingStrategy = "resampling_strategy"
    }

    public init(clusters: [Int], resamplingSteps: [Int]? = nil, sampleSizes: [Int], iterations: Int = 50,
                initializations: Int = 1, initialization: KMeansInitialization = .kmeansPlusPlus,
                resamplingStrategy: ResamplingStrategy = .closest) {
        self.clusters = clusters
        self.resamplingSteps = resamplingSteps ?? clusters.map { _ in 10 }
        self.sampleSizes = sampleSizes
        self.iterations = iterations
        self.initializations = initializations
        self.initialization = initialization
        self.resamplingStrategy = resamplingStrategy
    }

    /// No levels: `clusters` and `sample_sizes` must be given (`validate` says so).
    public init() {
        self.init(clusters: [], resamplingSteps: [], sampleSizes: [])
    }

    /// The defaults laid under a config tree: `resampling_steps` is 10 per level of the tree's
    /// `clusters` (the reference's `n_resamples` default) unless the tree gives it.
    public static func defaults(under tree: JSONValue) throws -> JSONValue {
        var d = try JSONValue(encoding: HierarchicalKMeansConfig())
        if case .object(let o) = tree, case .array(let levels)? = o["clusters"], o["resampling_steps"] == nil,
           case .object(var defaults) = d {
            defaults["resampling_steps"] = .array(levels.map { _ in .integer(10) })
            d = .object(defaults)
        }
        return d
    }

    /// A configuration for `points` points where the caller gave only some lists:
    /// clusters default to up to three levels of about N/30, N/120, N/480 (the README toy has
    /// ~30 points per level-1 cluster; each higher level merges ~4 clusters, stopping below 12);
    /// sample sizes to half the mean cluster size of each level, at least 2 ("roughly half the
    /// average cluster size", configs/*.yaml); resampling steps to 10 per level.
    public static func defaults(points: Int, clusters: [Int]? = nil, sampleSizes: [Int]? = nil,
                                resamplingSteps: [Int]? = nil, iterations: Int = 50) throws -> HierarchicalKMeansConfig {
        let k = clusters ?? {
            var levels = [Swift.max(2, points / 30)]
            while levels.count < 3 && levels.last! >= 12 { levels.append(Swift.max(2, levels.last! / 4)) }
            return levels
        }()
        let sizes = sampleSizes ?? {
            var n = points, out: [Int] = []
            for c in k { out.append(Swift.max(2, n / Swift.max(c, 1) / 2)); n = c }
            return out
        }()
        let config = HierarchicalKMeansConfig(clusters: k, resamplingSteps: resamplingSteps, sampleSizes: sizes, iterations: iterations)
        try config.validate()
        return config
    }

    /// Throws when the per-level lists disagree in length or hold non-positive sizes.
    public func validate() throws {
        guard !clusters.isEmpty, clusters.allSatisfy({ $0 >= 1 }) else {
            throw CurationError("clusters \(clusters): give at least one level, each with a positive number of clusters")
        }
        guard sampleSizes.count == clusters.count else {
            throw CurationError("sample_sizes \(sampleSizes) must have one entry per level (\(clusters.count) levels)")
        }
        guard resamplingSteps.count == clusters.count, resamplingSteps.allSatisfy({ $0 >= 0 }) else {
            throw CurationError("resampling_steps \(resamplingSteps) must have one non-negative entry per level (\(clusters.count) levels)")
        }
        guard iterations >= 0, initializations >= 1 else {
            throw CurationError("iterations must be ≥ 0 and initializations ≥ 1, got \(iterations) and \(initializations)")
        }
    }
}

/// One level of the hierarchy.
public struct ClusterLevel: Sendable {
    /// (K, D) centroids of this level.
    public var centroids: Tensor
    /// Members of every cluster — data indices at level 1, indices of the clusters of the level
    /// below otherwise — sorted by distance to the centroid.
    public var clusters: [[Int]]
}

/// Hierarchical k-means with resampling.
public struct HierarchicalKMeans: Sendable {
    public var config: HierarchicalKMeansConfig

    public init(_ config: HierarchicalKMeansConfig) throws {
        try config.validate()
        self.config = config
    }

    /// Clusters the rows of `data` (N, D), level by level.
    ///
    /// - Parameter progress: called with (level, k-means runs done at this level, runs planned).
    public func fit(_ data: Tensor, random: CurationRandomSource,
                    progress: ((Int, Int, Int) -> Void)? = nil) -> [ClusterLevel] {
        var levels: [ClusterLevel] = []
        var x = data.isContiguous ? data : data.contiguous()
        for level in 0..<config.clusters.count {
            let k = config.clusters[level]
            let kmeans = KMeans(clusters: k, iterations: config.iterations, initializations: config.initializations,
                                initialization: config.initialization)
            let sampleSize = config.sampleSizes[level]
            let steps = sampleSize > 1 ? config.resamplingSteps[level] : 0
            progress?(level + 1, 0, steps + 1)
            let first = kmeans.fit(x, random: random)
            var centroids = first.centroids
            var clusters = first.clusters
            let xNorms = KMeans.squaredNorms(x)
            for step in 0..<steps {
                let picked: [Int]
                switch config.resamplingStrategy {
                case .closest:
                    picked = KMeans.sortedByDistance(x, centroids: centroids, clusters: clusters)
                        .flatMap { $0.prefix(sampleSize) }
                case .random:
                    picked = clusters.flatMap { members in
                        random.choose(Swift.min(members.count, sampleSize), from: members.count).map { members[$0] }
                    }
                }
                centroids = kmeans.fit(KMeans.rows(x, picked), random: random).centroids
                let assignment = KMeans.assign(x, to: centroids, squaredNorms: xNorms)
                // The reference builds the lists for `n_clusters` of the config, even when the
                // sample held fewer points than that.
                clusters = KMeans.members(assignment, clusters: Swift.max(k, centroids.shape[0]))
                progress?(level + 1, step + 2, steps + 1)
            }
            let sorted = KMeans.sortedByDistance(x, centroids: centroids, clusters: Array(clusters.prefix(centroids.shape[0])))
            levels.append(ClusterLevel(centroids: centroids, clusters: sorted + clusters.dropFirst(centroids.shape[0]).map { _ in [] }))
            x = centroids
        }
        return levels
    }
}
