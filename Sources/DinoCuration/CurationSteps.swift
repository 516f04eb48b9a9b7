// The steps of `dino curate` as library calls, each leaving in its output folder what a
// person and the next step need:
//
//     kept.txt      the paths kept, one per line — `dino train --data OUT/kept.txt` reads it
//     report.json   counts, thresholds, component and cluster sizes (snake_case keys)
//     duplicate_groups.json (dedup step) every group of more than one image, as paths
//     *.png         pictures: the largest duplicate groups; sample images per top-level cluster
//     clusters.json (cluster step) the hierarchy, read by the sample step
//
// What it is not: the embedding of images (the command does that with a backbone, or reads a
// `dino embed` file) and the command-line parsing.

import DinoTensor
import DinoVision
import Foundation

/// Sizes of a set of groups, summarised.
public struct SizeSummary: Codable, Sendable, Equatable {
    public var count: Int
    public var min: Int
    public var median: Int
    public var max: Int
    /// Groups with no member.
    public var empty: Int

    public init(_ sizes: [Int]) {
        let s = sizes.sorted()
        count = s.count
        min = s.first ?? 0
        median = s.isEmpty ? 0 : s[s.count / 2]
        max = s.last ?? 0
        empty = s.filter { $0 == 0 }.count
    }
}

/// What deduplication did.
public struct DeduplicationReport: Codable, Sendable {
    public var pool: Int
    public var kept: Int
    public var removedAsDuplicates: Int
    public var removedByRelative: Int
    public var evaluationImages: Int
    public var k: Int
    public var threshold: Float
    public var relativeThreshold: Float
    public var graphEdges: Int
    public var duplicateGroups: Int
    /// Number of duplicate groups of each size, keyed by size.
    public var groupSizes: [String: Int]
    /// The largest groups, as paths (at most 20).
    public var largestGroups: [[String]]

    enum CodingKeys: String, CodingKey {
        case pool, kept, removedAsDuplicates = "removed_as_duplicates", removedByRelative = "removed_by_relative",
             evaluationImages = "evaluation_images", k, threshold, relativeThreshold = "relative_threshold",
             graphEdges = "graph_edges", duplicateGroups = "duplicate_groups", groupSizes = "group_sizes",
             largestGroups = "largest_groups"
    }
}

/// What hierarchical k-means found.
public struct ClusteringReport: Codable, Sendable {
    public var points: Int
    public var config: HierarchicalKMeansConfig
    public var seed: UInt64
    /// Per level, finest first: cluster sizes in points of the data (flat sizes).
    public var levels: [SizeSummary]

    public init(points: Int, config: HierarchicalKMeansConfig, seed: UInt64, levels: [SizeSummary]) {
        self.points = points
        self.config = config
        self.seed = seed
        self.levels = levels
    }
}

/// What sampling drew.
public struct SamplingReport: Codable, Sendable {
    public var points: Int
    public var target: Int
    public var selected: Int
    public var strategy: ClusterSamplingStrategy
    public var multiplier: Int
    public var seed: UInt64
    /// Points drawn from each top-level cluster.
    public var perTopCluster: SizeSummary

    enum CodingKeys: String, CodingKey {
        case points, target, selected, strategy, multiplier, seed, perTopCluster = "per_top_cluster"
    }

    public init(points: Int, target: Int, selected: Int, strategy: ClusterSamplingStrategy, multiplier: Int, seed: UInt64,
                perTopCluster: SizeSummary) {
        self.points = points
        self.target = target
        self.selected = selected
        self.strategy = strategy
        self.multiplier = multiplier
        self.seed = seed
        self.perTopCluster = perTopCluster
    }
}

/// What retrieval took.
public struct RetrievalReport: Codable, Sendable {
    public var pool: Int
    public var seedImages: Int
    public var mode: String
    public var perImage: Int?
    public var poolClusters: Int?
    public var minimumSeeds: Int?
    public var perCluster: Int?
    public var clustersUsed: Int?
    public var selected: Int

    enum CodingKeys: String, CodingKey {
        case pool, seedImages = "seed_images", mode, perImage = "per_image", poolClusters = "pool_clusters",
             minimumSeeds = "minimum_seeds", perCluster = "per_cluster", clustersUsed = "clusters_used", selected
    }

    public init(pool: Int, seedImages: Int, mode: String, selected: Int) {
        self.pool = pool
        self.seedImages = seedImages
        self.mode = mode
        self.selected = selected
    }
}

/// The hierarchy `cluster` writes and `sample` reads (clusters.json).
public struct ClusterHierarchyFile: Codable, Sendable {
    /// The image of every data index.
    public var paths: [String]
    /// Level 1 first; members sorted by distance to their centroid.
    public var levels: [[[Int]]]
    public var config: HierarchicalKMeansConfig

    public init(paths: [String], levels: [[[Int]]], config: HierarchicalKMeansConfig) {
        self.paths = paths
        self.levels = levels
        self.config = config
    }

    public static func read(_ url: URL) throws -> ClusterHierarchyFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CurationError("\(url.path): cannot read (\(error.localizedDescription))") }
        let file: ClusterHierarchyFile
        do { file = try JSONDecoder().decode(ClusterHierarchyFile.self, from: data) } catch {
            throw CurationError("\(url.path): not a clusters.json written by `dino curate cluster` (\(error))")
        }
        let n = file.paths.count
        if let bad = file.levels.first?.joined().first(where: { $0 < 0 || $0 >= n }) {
            throw CurationError("\(url.path): level 1 refers to point \(bad), but \(n) paths are listed")
        }
        return file
    }
}

/// Writing what a step leaves behind.
public enum CurationOutput {
    /// Creates `dir` (and parents) if needed.
    public static func prepare(_ dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// One path per line (the list `dino train --data` reads). Relative paths are made
    /// absolute against the current directory, since a list's relative paths are read relative
    /// to the list's own folder.
    public static func writeList(_ paths: [String], to url: URL) throws {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let lines = paths.map { $0.hasPrefix("/") ? $0 : cwd.appendingPathComponent($0).standardized.path }
        try (lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).write(to: url, atomically: true, encoding: .utf8)
    }

    /// Pretty JSON with sorted keys.
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try e.encode(value).write(to: url)
    }
}

extension Deduplication {
    /// The report of `result` on a pool whose images are `paths`.
    public func report(_ result: DeduplicationResult, paths: [String], evaluationImages: Int) -> DeduplicationReport {
        var histogram: [String: Int] = [:]
        for g in result.duplicateGroups { histogram["\(g.count)", default: 0] += 1 }
        return DeduplicationReport(
            pool: paths.count, kept: result.kept.count,
            removedAsDuplicates: paths.count - result.removedByRelative.count - result.kept.count,
            removedByRelative: result.removedByRelative.count, evaluationImages: evaluationImages, k: k,
            threshold: threshold, relativeThreshold: relativeThreshold, graphEdges: result.edges,
            duplicateGroups: result.duplicateGroups.count, groupSizes: histogram,
            largestGroups: result.duplicateGroups.prefix(20).map { $0.map { paths[$0] } })
    }
}

extension HierarchicalSampling {
    /// Points drawn per top-level cluster, for the report.
    public static func perTopCluster(_ samples: [Int], levels: [[[Int]]]) -> [Int] {
        guard let top = levels.last else { return [] }
        // Map every data point to its top-level cluster by walking down the hierarchy.
        var owner = Array(0..<top.count)
        for l in stride(from: levels.count - 1, to: 0, by: -1) {
            var below = [Int](repeating: -1, count: levels[l - 1].count)
            for (c, members) in levels[l].enumerated() { for m in members { below[m] = owner[c] } }
            owner = below
        }
        var pointOwner = [Int: Int]()
        for (c, members) in levels[0].enumerated() { for i in members { pointOwner[i] = owner[c] } }
        var counts = [Int](repeating: 0, count: top.count)
        for s in samples { if let o = pointOwner[s], o >= 0 { counts[o] += 1 } }
        return counts
    }

    /// For each top-level cluster (largest first, at most `rows`), up to `perRow` of its points
    /// closest to the centroids along the hierarchy — rows for a picture.
    public static func exemplars(_ levels: [[[Int]]], rows: Int, perRow: Int) -> [[Int]] {
        let sizes = flatSizes(levels)
        let top = levels.count - 1
        let order = levels[top].indices.sorted { sizes[top][$0] > sizes[top][$1] }
        func points(level: Int, cluster: Int, limit: Int) -> [Int] {
            if level == 0 { return Array(levels[0][cluster].prefix(limit)) }
            var out: [Int] = []
            // One from each sub-cluster in turn (closest first), so a row shows the cluster's spread.
            let subs = levels[level][cluster].map { points(level: level - 1, cluster: $0, limit: limit) }
            var i = 0
            while out.count < limit && subs.contains(where: { $0.count > i }) {
                for s in subs where s.count > i && out.count < limit { out.append(s[i]) }
                i += 1
            }
            return out
        }
        return order.prefix(rows).map { points(level: top, cluster: $0, limit: perRow) }.filter { !$0.isEmpty }
    }
}
