// Embedding-based deduplication: DINOv2's self-deduplication and relative deduplication.
//
// What it is (Oquab et al. 2023, "DINOv2", appendix A, "Deduplication"):
// - self-deduplication: the k = 64 nearest neighbours of every pool image by cosine
//   similarity, an edge wherever the similarity exceeds a threshold, the connected components
//   of that graph (a disjoint-set forest), and one image kept per component;
// - relative deduplication: every pool image whose component (edges above a lower threshold,
//   0.45 in DINOv2) reaches an image of an evaluation set is removed, so no copy of a test
//   image is trained on.
// The components are built over the pool and the evaluation sets together: pool–pool edges from
// the pool's own k-NN lists, pool–evaluation edges from both directions (each pool image's k
// nearest evaluation images and each evaluation image's k nearest pool images).
// Choices where the paper says nothing: the image kept for a component is its first in pool
// order; an edge needs similarity strictly above the threshold; the self-deduplication
// threshold defaults to 0.6 (DINOv2's appendix, as we read it), which copy-detection
// descriptors justify — with plain class tokens it should be chosen on held-out copies.
// What it is not: the copy-detection descriptor itself (SSCD in DINOv2); rows come from
// whatever embedding the caller gives.

import DinoTensor
import Foundation

/// A disjoint-set forest over `0..<count`: union by size, path halving.
public struct UnionFind: Sendable {
    var parent: [Int32]
    var size: [Int32]

    public init(count: Int) {
        parent = (0..<count).map { Int32($0) }
        size = [Int32](repeating: 1, count: count)
    }

    /// The representative of `x`'s set.
    public mutating func find(_ x: Int) -> Int {
        var x = x
        while Int(parent[x]) != x {
            parent[x] = parent[Int(parent[x])]
            x = Int(parent[x])
        }
        return x
    }

    /// Merges the sets of `a` and `b`.
    public mutating func union(_ a: Int, _ b: Int) {
        var ra = find(a), rb = find(b)
        if ra == rb { return }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = Int32(ra)
        size[ra] += size[rb]
    }

    /// Component label of every element, numbered 0, 1, … in order of each component's first element.
    public mutating func labels() -> [Int] {
        var label = [Int](repeating: -1, count: parent.count)
        var rootLabel = [Int: Int]()
        for i in 0..<parent.count {
            let r = find(i)
            if let l = rootLabel[r] { label[i] = l } else {
                let l = rootLabel.count
                rootLabel[r] = l
                label[i] = l
            }
        }
        return label
    }
}

/// The outcome of deduplicating a pool.
public struct DeduplicationResult: Sendable, Equatable {
    /// Pool indices kept, ascending.
    public var kept: [Int]
    /// Component label of every pool image (self-deduplication graph; -1 for images removed
    /// by relative deduplication before it).
    public var component: [Int]
    /// Components with more than one image, largest first (ties by first member); members ascending.
    public var duplicateGroups: [[Int]]
    /// Pool images removed because their component reaches an evaluation image, ascending.
    public var removedByRelative: [Int]
    /// Edges of the self-deduplication graph (pairs above the threshold, each counted once).
    public var edges: Int
}

/// DINOv2's deduplication by k-NN graph and connected components.
public struct Deduplication: Sendable {
    /// Neighbours per image in the graph (DINOv2: 64).
    public var k: Int
    /// Self-deduplication: an edge when cosine similarity > threshold (default 0.6).
    public var threshold: Float
    /// Relative deduplication against evaluation sets: edge threshold (DINOv2: 0.45).
    public var relativeThreshold: Float

    /// The neighbour search: nil for exact search (blocked BLAS products), or an approximate index.
    public var index: ApproximateNearestNeighbors.Index?

    public static let defaultK = 64
    public static let defaultThreshold: Float = 0.6
    public static let defaultRelativeThreshold: Float = 0.45

    public init(k: Int = Deduplication.defaultK, threshold: Float = Deduplication.defaultThreshold,
                relativeThreshold: Float = Deduplication.defaultRelativeThreshold, index: ApproximateNearestNeighbors.Index? = nil) {
        precondition(k >= 1, "Deduplication: k must be positive, got \(k)")
        self.k = k
        self.index = index
        self.threshold = threshold
        self.relativeThreshold = relativeThreshold
    }

    /// Deduplicates `pool` (N, D), L2-normalised rows, optionally against evaluation rows
    /// `against` (M, D), also normalised.
    ///
    /// One self-search of the pool gives both graphs: neighbours are kept down to
    /// min(threshold, relativeThreshold) and each graph takes the edges above its own threshold.
    public func run(pool: Tensor, against: Tensor? = nil, progress: ((String, Int, Int) -> Void)? = nil) throws -> DeduplicationResult {
        let n = pool.shape[0]
        let relative = against.map { $0.shape[0] > 0 } ?? false
        // A strict "above": keep neighbours ≥ the next float above the lower threshold.
        let floor = (relative ? Swift.min(threshold, relativeThreshold) : threshold).nextUp
        let graph: NeighborLists
        if n <= 1 {
            graph = NeighborLists(k: 1, indices: [Int32](repeating: -1, count: n), similarities: [Float](repeating: 0, count: n),
                                  counts: [Int32](repeating: 0, count: n))
        } else if let index {
            progress?("pool k-NN graph (approximate)", 0, 1)
            graph = try ApproximateNearestNeighbors(index: index, k: Swift.min(k, n - 1), minimumSimilarity: floor)
                .search(queries: pool, bank: pool, excludeSelf: true)
            progress?("pool k-NN graph (approximate)", 1, 1)
        } else {
            graph = ExactNearestNeighbors(k: Swift.min(k, n - 1), minimumSimilarity: floor, queryBlock: 2048)
                .selfSearch(pool) { progress?("pool k-NN graph", $0, $1) }
        }

        // Relative deduplication: components over pool ∪ evaluation images, edges > relativeThreshold.
        var removed = [Bool](repeating: false, count: n)
        if relative, let against {
            let m = against.shape[0]
            var sets = UnionFind(count: n + m)
            addEdges(graph, above: relativeThreshold, offsetTarget: 0, into: &sets)
            let floorRelative = relativeThreshold.nextUp
            let toEval = ExactNearestNeighbors(k: Swift.min(k, m), minimumSimilarity: floorRelative)
                .search(queries: pool, bank: against) { progress?("pool → evaluation k-NN", $0, $1) }
            for i in 0..<n { for (j, _) in toEval.neighbors(of: i) { sets.union(i, n + j) } }
            let toPool = ExactNearestNeighbors(k: Swift.min(k, n), minimumSimilarity: floorRelative)
                .search(queries: against, bank: pool) { progress?("evaluation → pool k-NN", $0, $1) }
            for j in 0..<m { for (i, _) in toPool.neighbors(of: j) { sets.union(i, n + j) } }
            var touched = Set<Int>()
            for j in 0..<m { touched.insert(sets.find(n + j)) }
            for i in 0..<n where touched.contains(sets.find(i)) { removed[i] = true }
        }

        // Self-deduplication on what is left.
        var sets = UnionFind(count: n)
        var edges = 0
        for i in 0..<n where !removed[i] {
            for (j, s) in graph.neighbors(of: i) where s > threshold && !removed[j] {
                if j > i || !graphHas(graph, from: j, to: i, above: threshold) { edges += 1 }
                sets.union(i, j)
            }
        }
        let labels = sets.labels()
        var component = [Int](repeating: -1, count: n)
        var members: [Int: [Int]] = [:]
        var kept: [Int] = []
        var relabel: [Int: Int] = [:]
        for i in 0..<n where !removed[i] {
            let l: Int
            if let existing = relabel[labels[i]] { l = existing } else {
                l = relabel.count
                relabel[labels[i]] = l
                kept.append(i)                                    // first member of a new component
            }
            component[i] = l
            members[l, default: []].append(i)
        }
        let groups = members.values.filter { $0.count > 1 }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0[0] < $1[0] }
        return DeduplicationResult(kept: kept, component: component, duplicateGroups: groups,
                                   removedByRelative: (0..<n).filter { removed[$0] }, edges: edges)
    }

    private func addEdges(_ graph: NeighborLists, above t: Float, offsetTarget: Int, into sets: inout UnionFind) {
        for i in 0..<graph.rows { for (j, s) in graph.neighbors(of: i) where s > t { sets.union(i, offsetTarget + j) } }
    }

    private func graphHas(_ graph: NeighborLists, from i: Int, to j: Int, above t: Float) -> Bool {
        graph.neighbors(of: i).contains { $0.index == j && $0.similarity > t }
    }
}
