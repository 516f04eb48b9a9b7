// Balanced top-down sampling from a hierarchy of clusters: a port of
// facebookresearch/ssl-data-curation `src/hierarchical_sampling.py` (`hierarchical_sampling`,
// `recursive_hierarchical_sampling`, `find_subcluster_target_size`, `_find_best_cut_left`)
// and the flattening of `src/clusters.py` (`HierarchicalCluster.process_clusters`).
//
// What it is: the target is split over the top-level clusters as evenly as their sizes
// allow — every cluster gets min(c, size) with the largest c that keeps the sum ≤ target,
// and the remainder goes one point each to randomly chosen clusters that still have room —
// then each cluster's share is split the same way over its sub-clusters, down to level 1,
// where points are taken at random ("r") or closest to the centroid first ("c"). Small
// clusters are taken whole; large ones are cut. With `multiplier` m > 1 a cluster may be
// taken up to m times over (points repeated).

import Foundation

/// Sampling strategy at the lowest level.
public enum ClusterSamplingStrategy: String, Codable, Sendable, CaseIterable {
    /// Random points of the cluster (reference default).
    case r
    /// The points closest to the centroid (clusters sorted by distance, as `cluster` writes them).
    case c
}

/// Hierarchical sampling of `target` points.
public struct HierarchicalSampling: Sendable {
    /// Points to draw in total.
    public var target: Int
    /// How many times a point may be repeated (reference default 1).
    public var multiplier: Int
    public var strategy: ClusterSamplingStrategy

    public init(target: Int, multiplier: Int = 1, strategy: ClusterSamplingStrategy = .r) {
        precondition(target >= 0 && multiplier >= 1, "HierarchicalSampling: target ≥ 0 and multiplier ≥ 1")
        self.target = target
        self.multiplier = multiplier
        self.strategy = strategy
    }

    /// Data indices drawn from `levels` (level 1 first; at level 1 members are data indices,
    /// above it indices of clusters of the level below), in the reference's order: top-level
    /// clusters in index order, depth first.
    public func sample(_ levels: [[[Int]]], random: CurationRandomSource) throws -> [Int] {
        guard !levels.isEmpty else { throw CurationError("hierarchical sampling: no cluster levels") }
        for l in 1..<levels.count {
            let below = levels[l - 1].count
            if let bad = levels[l].joined().first(where: { $0 < 0 || $0 >= below }) {
                throw CurationError("level \(l + 1) refers to cluster \(bad) of level \(l), which has \(below) clusters")
            }
        }
        let sizes = HierarchicalSampling.flatSizes(levels)
        let top = levels.count - 1
        let shares = try HierarchicalSampling.subclusterTargetSizes(sizes[top], target: target, multiplier: multiplier, random: random)
        var out: [Int] = []
        for cluster in levels[top].indices {
            sample(levels, sizes: sizes, level: top, cluster: cluster, target: shares[cluster], random: random, into: &out)
        }
        return out
    }

    func sample(_ levels: [[[Int]]], sizes: [[Int]], level: Int, cluster: Int, target: Int,
                random: CurationRandomSource, into out: inout [Int]) {
        let members = levels[level][cluster]
        if level == 0 {
            let size = members.count
            if size * multiplier <= target {
                for _ in 0..<multiplier { out += members }
                return
            }
            let copies = target / size
            for _ in 0..<copies { out += members }
            let remaining = target - copies * size
            switch strategy {
            case .r: out += random.choose(remaining, from: size).map { members[$0] }
            case .c: out += members.prefix(remaining)
            }
            return
        }
        let subSizes = members.map { sizes[level - 1][$0] }
        // The split cannot fail here: `target` never exceeds Σ subSizes · multiplier.
        let shares = (try? HierarchicalSampling.subclusterTargetSizes(subSizes, target: target, multiplier: multiplier,
                                                                       random: random)) ?? subSizes
        for (i, sub) in members.enumerated() {
            sample(levels, sizes: sizes, level: level - 1, cluster: sub, target: shares[i], random: random, into: &out)
        }
    }

    /// Number of data points under every cluster of every level (`flat_clusters_size`).
    public static func flatSizes(_ levels: [[[Int]]]) -> [[Int]] {
        var sizes = [levels[0].map(\.count)]
        for l in 1..<Swift.max(levels.count, 1) {
            sizes.append(levels[l].map { $0.reduce(0) { $0 + sizes[l - 1][$1] } })
        }
        return sizes
    }

    /// `_find_best_cut_left`: the x for which Σ min(x, a_i) best approximates `target` from
    /// below (max(a) when Σ a ≤ target).
    public static func bestCutLeft(_ a: [Int], target: Int) -> Int {
        let maxA = a.max() ?? 0
        if a.reduce(0, +) <= target { return maxA }
        func total(_ x: Int) -> Int { a.reduce(0) { $0 + Swift.min(x, $1) } }
        var left = 0, right = maxA
        while right - left > 1 {
            let mid = (left + right) / 2
            let s = total(mid)
            if s > target { right = mid } else if s < target { left = mid } else { return mid }
        }
        return total(right) <= target ? right : left
    }

    /// `find_subcluster_target_size`: how many points each sub-cluster of sizes `sizes`
    /// contributes to `target`: min(cut, m·size), plus one for `target − Σ` randomly chosen
    /// sub-clusters above the cut (numpy `choice(candidates, remainder, replace=False)`).
    public static func subclusterTargetSizes(_ sizes: [Int], target: Int, multiplier: Int,
                                             random: CurationRandomSource) throws -> [Int] {
        guard target >= 0 else { throw CurationError("hierarchical sampling: target \(target) must be non-negative") }
        let a = sizes.map { $0 * multiplier }
        let cut = bestCutLeft(a, target: target)
        if cut == (a.max() ?? 0) { return a }
        var shares = a.map { Swift.min(cut, $0) }
        let remainder = target - shares.reduce(0, +)
        let candidates = a.indices.filter { a[$0] > cut }
        for p in random.choose(remainder, from: candidates.count) { shares[candidates[p]] = cut + 1 }
        return shares
    }
}
