@testable import DinoCuration
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

@Suite struct RetrievalTests {
    @Test func sampleBasedRetrievalTakesTheNearestPoolImagesOfEachSeed() {
        // Pool: 30 random images; seeds: noisy copies of pool images 4 and 17.
        let pool = plantedPool(count: 30, d: 16, copies: [], seed: 5)
        let p = pool.scalars
        let seeds = Tensor((0..<16).map { p[4 * 16 + $0] * 1.01 } + (0..<16).map { p[17 * 16 + $0] }, shape: [2, 16])
        let one = SampleRetrieval(perImage: 1).run(seeds: seeds, pool: pool)
        #expect(one.selected == [4, 17])
        let three = SampleRetrieval(perImage: 3).run(seeds: seeds, pool: pool)
        #expect(three.selected.count <= 6 && three.selected.contains(4) && three.selected.contains(17))
        #expect(three.selected == three.selected.sorted())
    }

    /// The fewest neighbours per seed whose union reaches the target: seeds that share their
    /// neighbours need more of them than the target divided by the seeds.
    @Test func perImageIsTheFewestNeighboursThatReachTheTarget() {
        let pool = Sample.normal([200, 8], seed: 21)
        try! EmbeddingTable(paths: (0..<200).map { "\($0)" }, vectors: pool).normalizeRows()
        let seeds = KMeans.rows(pool, [3, 50, 120, 121])
        for target in [4, 10, 30, 60] {
            let (k, result) = SampleRetrieval.reaching(target, seeds: seeds, pool: pool, minimum: 1, maximum: 64)
            #expect(result == SampleRetrieval(perImage: k).run(seeds: seeds, pool: pool))
            #expect(result.selected.count >= target)
            if k > 1 { #expect(SampleRetrieval(perImage: k - 1).run(seeds: seeds, pool: pool).selected.count < target) }
        }
        // Never below the minimum; the maximum when the target is out of reach.
        #expect(SampleRetrieval.reaching(1, seeds: seeds, pool: pool).perImage == 4)
        #expect(SampleRetrieval.reaching(500, seeds: seeds, pool: pool, maximum: 20).perImage == 20)
    }

    @Test func clusterBasedRetrievalTakesClustersThatHoldEnoughSeeds() {
        // Two well-separated blobs in 2-D; four seeds fall in blob B, one in blob A.
        var rows: [Float] = []
        for i in 0..<20 { rows += [10 + Float(i % 5) * 0.01, Float(i / 5) * 0.01] }      // blob A: 0..<20
        for i in 0..<15 { rows += [-10 + Float(i % 5) * 0.01, Float(i / 5) * 0.01] }     // blob B: 20..<35
        let pool = Tensor(rows, shape: [35, 2])
        let seeds = Tensor([10, 0, -10, 0, -10.01, 0.01, -9.99, 0, -10, 0.02], shape: [5, 2])
        let r = ClusterRetrieval(clusters: 2, minimumSeeds: 3, perCluster: 100).run(seeds: seeds, pool: pool, random: SeededRandomSource(seed: 1))
        #expect(r.selected == Array(20..<35))
        #expect(r.clusters.count == 1 && r.clusters[0].seeds == 4 && r.clusters[0].taken == 15)
        let capped = ClusterRetrieval(clusters: 2, minimumSeeds: 3, perCluster: 5).run(seeds: seeds, pool: pool, random: SeededRandomSource(seed: 1))
        #expect(capped.selected.count == 5 && capped.selected.allSatisfy { (20..<35).contains($0) })
        #expect(ClusterRetrieval(clusters: 2, minimumSeeds: 4, perCluster: 5).run(seeds: seeds, pool: pool, random: SeededRandomSource(seed: 1)).selected.isEmpty)
    }
}

@Suite struct CurationStepsTests {
    @Test func perTopClusterCountsFollowTheHierarchy() {
        // Level 1: clusters {0,1}, {2}, {3,4,5}; level 2: {c0, c2}, {c1}.
        let levels = [[[0, 1], [2], [3, 4, 5]], [[0, 2], [1]]]
        #expect(HierarchicalSampling.perTopCluster([0, 3, 2, 5, 5], levels: levels) == [4, 1])
        #expect(HierarchicalSampling.flatSizes(levels) == [[2, 1, 3], [5, 1]])
        // Rows largest first, alternating between sub-clusters closest-first.
        #expect(HierarchicalSampling.exemplars(levels, rows: 2, perRow: 4) == [[0, 3, 1, 4], [2]])
    }

    @Test func keepRowsCompactsInPlace() throws {
        var t = try EmbeddingTable(paths: ["a", "b", "c", "d"], vectors: Tensor([0, 1, 2, 3, 4, 5, 6, 7], shape: [4, 2]))
        let storage = t.vectors.pointer(Float.self)
        try t.keepRows([1, 3])
        #expect(t.paths == ["b", "d"] && t.vectors.shape == [2, 2] && t.vectors.scalars == [2, 3, 6, 7])
        #expect(t.vectors.pointer(Float.self) == storage)
        #expect(throws: CurationError.self) { try t.keepRows([1, 0]) }
    }

    @Test func sizeSummary() {
        let s = SizeSummary([5, 0, 2, 9])
        #expect(s.count == 4 && s.min == 0 && s.median == 5 && s.max == 9 && s.empty == 1)
    }

    @Test func embeddingFilesAreReadAndBadOnesNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("curate-\(UInt64.random(in: 0..<UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("e.safetensors")
        try SafeTensors.write(["embeddings": Tensor([3, 4, 0, 2], shape: [2, 2]), "patch_tokens": Tensor(zeros: [2, 4, 2])],
                              metadata: ["paths": #"["a.png","b.png"]"#], to: good)
        #expect(try SafeTensors.read(from: good, only: ["embeddings"]).tensors.keys.sorted() == ["embeddings"])
        let t = try EmbeddingTable.read(good)
        t.normalizeRows()
        #expect(t.paths == ["a.png", "b.png"] && t.vectors.scalars == [0.6, 0.8, 0, 1])
        let bad = dir.appendingPathComponent("bad.safetensors")
        try SafeTensors.write(["features": Tensor([1, 2], shape: [1, 2])], metadata: [:], to: bad)
        #expect(throws: CurationError.self) { try EmbeddingTable.read(bad) }
        do { _ = try EmbeddingTable.read(bad) } catch let e as CurationError { #expect(e.message.contains("bad.safetensors") && e.message.contains("'embeddings'") && e.message.contains("features")) }
        let short = dir.appendingPathComponent("short.safetensors")
        try SafeTensors.write(["embeddings": Tensor([1, 2], shape: [1, 2])], metadata: ["paths": #"["a","b"]"#], to: short)
        #expect(throws: CurationError.self) { try EmbeddingTable.read(short) }
        // A clusters.json that points past its paths.
        let clusters = dir.appendingPathComponent("clusters.json")
        try CurationOutput.writeJSON(ClusterHierarchyFile(paths: ["a"], levels: [[[0, 3]]],
                                                          config: HierarchicalKMeansConfig(clusters: [1], sampleSizes: [2])), to: clusters)
        #expect(throws: CurationError.self) { try ClusterHierarchyFile.read(clusters) }
    }

    @Test func gridsDrawOneRowPerGroupAndMarkUnreadableImages() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grid-\(UInt64.random(in: 0..<UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let white = dir.appendingPathComponent("w.png")
        try RGBImage(width: 8, height: 8, red: 255, green: 255, blue: 255).pngData().write(to: white)
        let grid = ImageGrid(cell: 8, columns: 2, gap: 2).render([[white.path, white.path, white.path], [dir.appendingPathComponent("missing.png").path]])
        #expect(grid.width == 2 + 2 * 10 && grid.height == 2 + 2 * 10)
        #expect(grid[2, 2] == (255, 255, 255) && grid[12, 2] == (255, 255, 255))
        #expect(grid[2, 12] == (160, 30, 30))
    }
}
