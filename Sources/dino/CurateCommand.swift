import ArgumentParser
import DinoCuration
import DinoModels
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

/// `dino curate`: DINOv2's data curation — deduplication, hierarchical k-means, balanced and
/// retrieval-based sampling. The work is in DinoCuration; this file reads options, embeds
/// images when no embeddings file is given, prints tables and writes the step's outputs.
struct CurateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curate",
        abstract: "Curate a pool of images: deduplicate, cluster, sample a balanced subset, retrieve near a seed set.",
        discussion: """
            Every step writes to --out: kept.txt (paths, one per line, for `dino train --data`), \
            report.json and PNG pictures. Without a subcommand the whole pipeline runs: \
            `dino curate --pool DIR --out DIR [--seed DIR] --target N`.
            """,
        subcommands: [CuratePipelineCommand.self, CurateDedupCommand.self, CurateClusterCommand.self,
                      CurateSampleCommand.self, CurateRetrieveCommand.self, CurateRecallCommand.self],
        defaultSubcommand: CuratePipelineCommand.self
    )
}

// MARK: Shared options

/// `--threads N` for the commands whose other options have no place for it.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads \(threads): give at least 1") }
    }

    /// Sets the kernel threads when --threads was given.
    func apply() { if let threads { Threads.count = threads } }
}

/// How the k-NN graph is searched.
struct IndexOptions: ParsableArguments {
    @Option(help: "k-NN search: exact (BLAS), ivf (IVF-Flat scanned through BLAS, approximate), faiss-ivf or hnsw (faiss, approximate), or auto (exact up to --exact-up-to rows, then ivf).")
    var index: String = "auto"
    @Option(help: "auto: the largest pool searched exactly (10 s at 50 000 rows of 384-d on 2 cores, IVF 3 s; docs/benchmarks-curate.md).")
    var exactUpTo: Int = 50_000
    @Option(help: "hnsw: links per node (faiss M).")
    var hnswLinks: Int = 32
    @Option(help: "hnsw: candidates kept while searching (faiss efSearch; at least k).")
    var efSearch: Int = 128
    @Option(help: "ivf: number of lists (default 4·√N).")
    var ivfLists: Int?
    @Option(help: "ivf: lists probed per query.")
    var probes: Int = 16

    func validate() throws {
        guard ["auto", "exact", "hnsw", "ivf", "faiss-ivf"].contains(index) else {
            throw ValidationError("--index '\(index)': use auto, exact, ivf, faiss-ivf or hnsw")
        }
    }

    /// The faiss index for a pool of `n` rows, or nil for exact search.
    func choice(rows n: Int) -> ApproximateNearestNeighbors.Index? {
        switch index {
        case "exact": return nil
        case "ivf": return .ivf(lists: ivfLists ?? Swift.max(1, Int(4 * Double(n).squareRoot())), probes: probes)
        case "faiss-ivf": return .faissIVF(lists: ivfLists ?? Swift.max(1, Int(4 * Double(n).squareRoot())), probes: probes)
        case "hnsw": return .hnsw(links: hnswLinks, efSearch: efSearch)
        default: return n <= exactUpTo ? nil : .ivf(lists: ivfLists ?? Swift.max(1, Int(4 * Double(n).squareRoot())), probes: probes)
        }
    }

    func describe(_ i: ApproximateNearestNeighbors.Index?) -> String {
        switch i {
        case nil: return "exact"
        case .ivf(let l, let p)?: return "IVF-Flat (BLAS scan), \(l) lists, \(p) probed"
        case .faissIVF(let l, let p)?: return "faiss IVF-Flat, \(l) lists, \(p) probed"
        case .hnsw(let m, let ef)?: return "faiss HNSW-Flat, M \(m), efSearch \(ef)"
        }
    }
}

/// A progress callback drawing one bar per named phase.
final class PhaseProgress {
    var bar: ProgressBar?
    var phase = ""
    func callAsFunction(_ name: String, _ done: Int, _ total: Int) {
        if name != phase || bar == nil {
            fflush(stdout)                      // tables on stdout before the bar on stderr
            bar?.finish()
            bar = ProgressBar(total: total, label: name)
            phase = name
        }
        bar?.update(completed: done)
    }
    func finish() { bar?.finish(); bar = nil; phase = "" }
}

func table(_ rows: [(String, String)]) {
    let w = rows.map(\.0.count).max() ?? 0
    for (k, v) in rows { print(k.padding(toLength: w + 2, withPad: " ", startingAt: 0) + v) }
}

// MARK: dedup

struct CurateDedupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dedup",
        abstract: "Self-deduplication by k-NN graph and connected components; relative deduplication against evaluation sets.")

    @Option(help: "Pool of images: a folder (searched recursively) or a text file of paths.")
    var pool: String?
    @Option(help: "Embeddings of the pool from `dino embed` (instead of embedding here).")
    var embeddings: String?
    @OptionGroup var embedding: CurateEmbeddingOptions
    @Option(help: "Output folder.")
    var out: String
    @Option(help: "Edge when cosine similarity > T (DINOv2 with copy-detection descriptors: 0.6).")
    var threshold: Float = Deduplication.defaultThreshold
    @Option(help: "Neighbours per image in the graph (DINOv2: 64).")
    var k: Int = Deduplication.defaultK
    @Option(parsing: .upToNextOption, help: "Evaluation sets (folders or lists): pool images in their components are removed.")
    var against: [String] = []
    @Option(parsing: .upToNextOption, help: "Embeddings files of the evaluation sets, instead of --against folders.")
    var againstEmbeddings: [String] = []
    @Option(help: "Edge threshold of relative deduplication (DINOv2: 0.45).")
    var relativeThreshold: Float = Deduplication.defaultRelativeThreshold
    @OptionGroup var search: IndexOptions
    @OptionGroup var threadOptions: ThreadsOption

    func run() throws {
        threadOptions.apply()
        let outDir = URL(fileURLWithPath: out)
        try CurationOutput.prepare(outDir)
        var whitening: PCAWhitening?
        let poolTable = try embedding.table(file: embeddings, source: pool, cache: outDir.appendingPathComponent("pool_embeddings.safetensors"),
                                            whitening: &whitening)
        let evalTables = try againstEmbeddings.map { try embedding.table(file: $0, source: nil, cache: nil, whitening: &whitening) }
            + against.map { try embedding.table(file: nil, source: $0, cache: nil, whitening: &whitening) }
        _ = try runDedup(poolTable, against: evalTables, k: k, threshold: threshold, relativeThreshold: relativeThreshold,
                         search: search, out: outDir)
    }
}

/// Deduplicates `pool` and writes kept.txt, report.json and duplicate_groups.png to `out`.
func runDedup(_ pool: EmbeddingTable, against: [EmbeddingTable], k: Int, threshold: Float, relativeThreshold: Float,
              search: IndexOptions, out: URL) throws -> [Int] {
    let index = search.choice(rows: pool.count)
    let dedup = Deduplication(k: k, threshold: threshold, relativeThreshold: relativeThreshold, index: index)
    var evalTensor: Tensor?
    if !against.isEmpty {
        guard against.allSatisfy({ $0.dimensions == pool.dimensions }) else {
            throw ValidationError("evaluation embeddings have width \(against.map(\.dimensions)), the pool \(pool.dimensions)")
        }
        evalTensor = Tensor.concat(against.map(\.vectors), axis: 0)
    }
    let progress = PhaseProgress()
    let result = try dedup.run(pool: pool.vectors, against: evalTensor) { progress($0, $1, $2) }
    progress.finish()
    let report = dedup.report(result, paths: pool.paths, evaluationImages: evalTensor?.shape[0] ?? 0)
    try CurationOutput.writeList(result.kept.map { pool.paths[$0] }, to: out.appendingPathComponent("kept.txt"))
    try CurationOutput.writeJSON(report, to: out.appendingPathComponent("report.json"))
    try CurationOutput.writeJSON(result.duplicateGroups.map { $0.map { pool.paths[$0] } },
                                 to: out.appendingPathComponent("duplicate_groups.json"))
    if !report.largestGroups.isEmpty {
        try ImageGrid().write(Array(report.largestGroups.prefix(12)), to: out.appendingPathComponent("duplicate_groups.png"))
    }
    print("deduplication (k \(k), threshold \(threshold)\(against.isEmpty ? "" : ", relative \(relativeThreshold)"), \(search.describe(index)) search)")
    table([("pool", "\(report.pool)"), ("removed as duplicates", "\(report.removedAsDuplicates)"),
           ("removed near evaluation sets", "\(report.removedByRelative)"), ("duplicate groups", "\(report.duplicateGroups)"),
           ("largest group", "\(result.duplicateGroups.first?.count ?? 0)"), ("kept", "\(report.kept)"),
           ("written", out.appendingPathComponent("kept.txt").path)])
    let largest = result.duplicateGroups.first?.count ?? 0
    if largest > Swift.max(50, pool.count / 100) {
        // Copies of one image rarely make 1 % of a pool; a group this large means the
        // descriptor calls unrelated images alike at this threshold (class tokens of one model
        // share a large common direction: their cosines sit near 1).
        print("warning: one duplicate group holds \(largest) of \(pool.count) images (\(String(format: "%.1f", 100 * Double(largest) / Double(pool.count))) %): "
              + "at threshold \(threshold) this descriptor joins images that are not copies of each other. Look at duplicate_groups.png; "
              + "raise --threshold, or deduplicate with --descriptor copy-detection (whitened; `curate pipeline --dedup-descriptor copy-detection`).")
    }
    return result.kept
}

// MARK: cluster

/// The hierarchical k-means options.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Clusters per level, finest first (comma-separated).")
    var clusters: String?
    @Option(help: "Resampling k-means runs per level (reference: 10 each).")
    var resamplingSteps: String?
    @Option(help: "Points per cluster in resampling, about half the mean cluster size (default: half of N/K, at least 2).")
    var sampleSizes: String?
    @Option(help: "Lloyd iterations per k-means run (reference: 50).")
    var iterations: Int = 50
    @Option(name: .customLong("random-seed"), help: "Seed of the k-means++ draws and of sampling.")
    var seed: UInt64 = 0

    static func ints(_ s: String, _ name: String) throws -> [Int] {
        let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 != nil }) else { throw ValidationError("--\(name) '\(s)': give comma-separated integers") }
        return v.map { $0! }
    }

    /// The config for `points` points: the lists given, `HierarchicalKMeansConfig.defaults` for the rest.
    func config(points: Int) throws -> HierarchicalKMeansConfig {
        do {
            return try HierarchicalKMeansConfig.defaults(
                points: points, clusters: try clusters.map { try ClusterOptions.ints($0, "clusters") },
                sampleSizes: try sampleSizes.map { try ClusterOptions.ints($0, "sample-sizes") },
                resamplingSteps: try resamplingSteps.map { try ClusterOptions.ints($0, "resampling-steps") }, iterations: iterations)
        } catch let e as CurationError { throw ValidationError(e.message) }
    }
}

struct CurateClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Hierarchical k-means with resampling (ssl-data-curation); writes clusters.json for `curate sample`.")

    @Option(help: "Embeddings from `dino embed` (or the pool_embeddings.safetensors a dedup step cached).")
    var embeddings: String
    @Option(help: "Only these images (a kept.txt of an earlier step).")
    var keep: String?
    @OptionGroup var options: ClusterOptions
    @Option(help: "Output folder.")
    var out: String
    @OptionGroup var threadOptions: ThreadsOption

    func run() throws {
        threadOptions.apply()
        let outDir = URL(fileURLWithPath: out)
        try CurationOutput.prepare(outDir)
        // Clustered as given, like the reference (`dino embed` rows are already unit length).
        var t = try EmbeddingTable.read(URL(fileURLWithPath: embeddings))
        if let keep { t = try restrict(t, toList: keep) }
        _ = try runCluster(t, config: try options.config(points: t.count), seed: options.seed, out: outDir)
    }
}

/// The rows of `table` whose paths are listed in `list`.
func restrict(_ table: EmbeddingTable, toList list: String) throws -> EmbeddingTable {
    let text = try String(contentsOfFile: list, encoding: .utf8)
    let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd.appendingPathComponent(p).standardized.path }
    let wanted = Set(text.split(whereSeparator: \.isNewline).map { absolute(String($0)) })
    let rows = table.paths.indices.filter { wanted.contains(absolute(table.paths[$0])) }
    guard !rows.isEmpty else { throw ValidationError("\(list): none of its paths are in the embeddings") }
    var kept = table
    try kept.keepRows(rows)                    // in place: the caller drops `table`
    return kept
}

func runCluster(_ t: EmbeddingTable, config: HierarchicalKMeansConfig, seed: UInt64, out: URL) throws -> ClusterHierarchyFile {
    let bar = PhaseProgress()
    let levels = try HierarchicalKMeans(config).fit(t.vectors, random: SeededRandomSource(seed: seed)) { level, done, total in
        bar("k-means level \(level)", done, total)
    }
    bar.finish()
    let hierarchy = ClusterHierarchyFile(paths: t.paths, levels: levels.map(\.clusters), config: config)
    try CurationOutput.writeJSON(hierarchy, to: out.appendingPathComponent("clusters.json"))
    let flat = HierarchicalSampling.flatSizes(hierarchy.levels)
    try CurationOutput.writeJSON(ClusteringReport(points: t.count, config: config, seed: seed, levels: flat.map(SizeSummary.init)),
                                 to: out.appendingPathComponent("cluster_report.json"))
    let rows = HierarchicalSampling.exemplars(hierarchy.levels, rows: 16, perRow: 12).map { $0.map { t.paths[$0] } }
    try ImageGrid().write(rows, to: out.appendingPathComponent("clusters.png"))
    print("hierarchical k-means of \(t.count) points")
    table(flat.enumerated().map { ("level \($0.offset + 1)", "\(config.clusters[$0.offset]) clusters, sizes \(SizeSummary($0.element).min)…\(SizeSummary($0.element).max) (median \(SizeSummary($0.element).median))") })
    return hierarchy
}

// MARK: sample

struct CurateSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample", abstract: "Balanced top-down sampling from a cluster hierarchy (ssl-data-curation).")

    @Option(help: "clusters.json written by `dino curate cluster`.")
    var clusters: String
    @Option(help: "Number of images to draw.")
    var target: Int
    @Option(help: "Lowest-level choice: r (random) or c (closest to the centroid).")
    var strategy: String = "r"
    @Option(help: "How many times an image may repeat (reference: 1).")
    var multiplier: Int = 1
    @Option(name: .customLong("random-seed"), help: "Seed of the random draws.")
    var seed: UInt64 = 0
    @Option(help: "Output folder.")
    var out: String

    func run() throws {
        guard let s = ClusterSamplingStrategy(rawValue: strategy) else { throw ValidationError("--strategy '\(strategy)': use r or c") }
        let outDir = URL(fileURLWithPath: out)
        try CurationOutput.prepare(outDir)
        let file = try ClusterHierarchyFile.read(URL(fileURLWithPath: clusters))
        _ = try runSample(file, target: target, strategy: s, multiplier: multiplier, seed: seed, out: outDir)
    }
}

func runSample(_ file: ClusterHierarchyFile, target: Int, strategy: ClusterSamplingStrategy, multiplier: Int, seed: UInt64,
               out: URL) throws -> [String] {
    guard target >= 1, multiplier >= 1 else { throw ValidationError("--target and --multiplier must be positive") }
    let samples = try HierarchicalSampling(target: target, multiplier: multiplier, strategy: strategy)
        .sample(file.levels, random: SeededRandomSource(seed: seed ^ 0x5A4D_504C))
    let paths = samples.map { file.paths[$0] }
    let perTop = HierarchicalSampling.perTopCluster(samples, levels: file.levels)
    try CurationOutput.writeList(paths, to: out.appendingPathComponent("kept.txt"))
    try CurationOutput.writeJSON(SamplingReport(points: file.paths.count, target: target, selected: samples.count, strategy: strategy,
                                                multiplier: multiplier, seed: seed, perTopCluster: SizeSummary(perTop)),
                                 to: out.appendingPathComponent("report.json"))
    print("hierarchical sampling (\(strategy.rawValue))")
    table([("points", "\(file.paths.count)"), ("target", "\(target)"), ("selected", "\(samples.count)"),
           ("per top cluster", "\(SizeSummary(perTop).min)…\(SizeSummary(perTop).max)"),
           ("written", out.appendingPathComponent("kept.txt").path)])
    return paths
}

// MARK: retrieve

struct CurateRetrieveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve", abstract: "Pool images near a curated seed set (DINOv2's sample- or cluster-based retrieval).")

    @Option(name: .customLong("seed"), help: "Seed images: a folder or a list.")
    var seedImages: String?
    @Option(help: "Embeddings of the seed images, instead of --seed.")
    var seedEmbeddings: String?
    @Option(help: "Pool of images: a folder or a list.")
    var pool: String?
    @Option(help: "Embeddings of the pool, instead of --pool.")
    var embeddings: String?
    @OptionGroup var embedding: CurateEmbeddingOptions
    @Option(help: "Sample-based: pool images kept per seed image (DINOv2: 4 or 32).")
    var perImage: Int?
    @Flag(help: "Cluster-based: take pool clusters that hold seed images.")
    var clusterBased = false
    @Option(help: "Cluster-based: k-means clusters of the pool (default N/50).")
    var poolClusters: Int?
    @Option(help: "Cluster-based: a cluster is used with more than this many seed images (DINOv2: 3).")
    var minSeeds: Int = 3
    @Option(help: "Cluster-based: pool images per used cluster (default: all).")
    var perCluster: Int?
    @Option(name: .customLong("random-seed"), help: "Seed of the k-means++ draws.")
    var randomSeed: UInt64 = 0
    @Option(help: "Output folder.")
    var out: String
    @OptionGroup var threadOptions: ThreadsOption

    func validate() throws {
        if (perImage == nil) == !clusterBased { throw ValidationError("give --per-image K or --cluster-based (one of them)") }
        if let perImage, perImage < 1 { throw ValidationError("--per-image \(perImage): give at least 1") }
    }

    func run() throws {
        threadOptions.apply()
        let outDir = URL(fileURLWithPath: out)
        try CurationOutput.prepare(outDir)
        var whitening: PCAWhitening?
        let poolTable = try embedding.table(file: embeddings, source: pool, cache: outDir.appendingPathComponent("pool_embeddings.safetensors"),
                                            whitening: &whitening)
        let seeds = try embedding.table(file: seedEmbeddings, source: seedImages, cache: nil, whitening: &whitening)
        _ = try runRetrieve(pool: poolTable, seeds: seeds, perImage: perImage, poolClusters: poolClusters, minSeeds: minSeeds,
                            perCluster: perCluster, seed: randomSeed, out: outDir)
    }
}

/// Retrieval near `seeds`: sample-based with `perImage` neighbours per seed image — raised to
/// the fewest that reach `target` when one is given — or cluster-based when `perImage` is nil.
func runRetrieve(pool: EmbeddingTable, seeds: EmbeddingTable, perImage: Int?, reaching target: Int? = nil, poolClusters: Int?,
                 minSeeds: Int, perCluster: Int?, seed: UInt64, out: URL) throws -> [Int] {
    guard pool.dimensions == seeds.dimensions else {
        throw ValidationError("seed embeddings have width \(seeds.dimensions), the pool \(pool.dimensions)")
    }
    let result: RetrievalResult
    var report = RetrievalReport(pool: pool.count, seedImages: seeds.count, mode: perImage != nil ? "sample" : "cluster", selected: 0)
    if let perImage {
        let bar = PhaseProgress()
        var k = perImage
        if let target {
            (k, result) = SampleRetrieval.reaching(target, seeds: seeds.vectors, pool: pool.vectors, minimum: perImage) { bar("retrieve", $0, $1) }
        } else {
            result = SampleRetrieval(perImage: perImage).run(seeds: seeds.vectors, pool: pool.vectors) { bar("retrieve", $0, $1) }
        }
        bar.finish()
        if k > perImage { print("\(k) neighbours per seed image: the fewest from \(perImage) that reach the target \(target ?? 0) (--per-image fixes it)") }
        report.perImage = k
    } else {
        let k = poolClusters ?? Swift.max(1, pool.count / 50)
        let retrieval = ClusterRetrieval(clusters: k, minimumSeeds: minSeeds, perCluster: perCluster ?? pool.count)
        result = retrieval.run(seeds: seeds.vectors, pool: pool.vectors, random: SeededRandomSource(seed: seed))
        report.poolClusters = k
        report.minimumSeeds = minSeeds
        report.perCluster = perCluster
        report.clustersUsed = result.clusters.count
    }
    report.selected = result.selected.count
    try CurationOutput.writeList(result.selected.map { pool.paths[$0] }, to: out.appendingPathComponent("kept.txt"))
    try CurationOutput.writeJSON(report, to: out.appendingPathComponent("report.json"))
    print("\(report.mode)-based retrieval")
    table([("pool", "\(pool.count)"), ("seed images", "\(seeds.count)"), ("selected", "\(result.selected.count)"),
           ("written", out.appendingPathComponent("kept.txt").path)])
    return result.selected
}

// MARK: the whole pipeline

struct CuratePipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Deduplicate, retrieve near --seed (if given), cluster and sample --target images (the default subcommand).")

    @Option(help: "Pool of images: a folder or a list.")
    var pool: String?
    @Option(help: "Embeddings of the pool from `dino embed`, instead of embedding here.")
    var embeddings: String?
    @Option(name: .customLong("seed"), help: "Seed images (a curated set): keep only pool images near them.")
    var seedImages: String?
    @Option(help: "Embeddings of the seed images, instead of --seed.")
    var seedEmbeddings: String?
    @Option(help: "Number of images to end with.")
    var target: Int
    @Option(help: "Output folder (one sub-folder per step; the final list is OUT/kept.txt).")
    var out: String
    @OptionGroup var embedding: CurateEmbeddingOptions
    @Option(help: "Deduplication threshold.")
    var threshold: Float = Deduplication.defaultThreshold
    @Option(parsing: .upToNextOption, help: "Evaluation sets to deduplicate against.")
    var against: [String] = []
    @Option(help: "Sample-based retrieval: pool images per seed image (default: DINOv2's 4, raised to the fewest that reach --target, at most 64).")
    var perImage: Int?
    @Option(help: "Descriptor of the deduplication step alone (default: --descriptor). DINOv2 deduplicated with a copy-detection model and retrieved and clustered with class tokens: --dedup-descriptor copy-detection.")
    var dedupDescriptor: String?
    @Option(help: "Input side for --dedup-descriptor (default: that descriptor's own default).")
    var dedupImageSize: Int?
    @OptionGroup var clusterOptions: ClusterOptions
    @OptionGroup var search: IndexOptions
    @OptionGroup var threadOptions: ThreadsOption

    func validate() throws {
        if let dedupDescriptor, !["cls", "copy-detection", "pixels"].contains(dedupDescriptor) {
            throw ValidationError("--dedup-descriptor '\(dedupDescriptor)': use cls, copy-detection or pixels")
        }
        if dedupImageSize != nil && dedupDescriptor == nil { throw ValidationError("--dedup-image-size goes with --dedup-descriptor") }
        if let perImage, perImage < 1 { throw ValidationError("--per-image \(perImage): give at least 1") }
    }

    func run() throws {
        threadOptions.apply()
        let outDir = URL(fileURLWithPath: out)
        try CurationOutput.prepare(outDir)
        func step(_ name: String) throws -> URL {
            let u = outDir.appendingPathComponent(name)
            try CurationOutput.prepare(u)
            return u
        }
        var whitening: PCAWhitening?
        var t = try embedding.table(file: embeddings, source: pool, cache: outDir.appendingPathComponent("pool_embeddings.safetensors"),
                                    whitening: &whitening)
        print("== 1. deduplication")
        if let dedupDescriptor, dedupDescriptor != embedding.descriptor || dedupImageSize != nil {
            // A second descriptor of the same images for this step only (DINOv2: SSCD for copies,
            // ViT-H class tokens for the rest); the pool's rows are then kept by path.
            var options = embedding
            options.descriptor = dedupDescriptor
            options.imageSize = dedupImageSize
            let list = outDir.appendingPathComponent("pool_paths.txt")
            try CurationOutput.writeList(t.paths, to: list)
            var dedupWhitening: PCAWhitening?
            let d = try options.table(file: nil, source: list.path, cache: outDir.appendingPathComponent("dedup_embeddings.safetensors"),
                                      whitening: &dedupWhitening)
            let evalTables = try against.map { try options.table(file: nil, source: $0, cache: nil, whitening: &dedupWhitening) }
            let kept = Set(try runDedup(d, against: evalTables, k: Deduplication.defaultK, threshold: threshold,
                                        relativeThreshold: Deduplication.defaultRelativeThreshold, search: search,
                                        out: try step("1-dedup")).map { d.paths[$0] })
            try t.keepRows(t.paths.indices.filter { kept.contains(t.paths[$0]) })
        } else {
            let evalTables = try against.map { try embedding.table(file: nil, source: $0, cache: nil, whitening: &whitening) }
            let kept = try runDedup(t, against: evalTables, k: Deduplication.defaultK, threshold: threshold,
                                    relativeThreshold: Deduplication.defaultRelativeThreshold, search: search, out: try step("1-dedup"))
            try t.keepRows(kept)
        }
        if seedImages != nil || seedEmbeddings != nil {
            print("== 2. retrieval near the seed set")
            let seeds = try embedding.table(file: seedEmbeddings, source: seedImages, cache: nil, whitening: &whitening)
            // DINOv2's 4 neighbours per seed image, raised to reach --target unless --per-image fixes them.
            let selected = try runRetrieve(pool: t, seeds: seeds, perImage: perImage ?? 4, reaching: perImage == nil ? target : nil,
                                           poolClusters: nil, minSeeds: 3, perCluster: nil,
                                           seed: clusterOptions.seed, out: try step("2-retrieve"))
            try t.keepRows(selected)
        }
        let final: [String]
        if t.count <= target {
            print("== \(t.count) images left, not more than the target \(target): all kept, no clustering")
            final = t.paths
        } else {
            print("== 3. hierarchical k-means")
            let hierarchy = try runCluster(t, config: try clusterOptions.config(points: t.count), seed: clusterOptions.seed,
                                           out: try step("3-cluster"))
            print("== 4. balanced sampling")
            final = try runSample(hierarchy, target: target, strategy: .r, multiplier: 1, seed: clusterOptions.seed,
                                  out: try step("4-sample"))
        }
        try CurationOutput.writeList(final, to: outDir.appendingPathComponent("kept.txt"))
        print("curated \(final.count) images: \(outDir.appendingPathComponent("kept.txt").path) (train with --data on it)")
    }
}

// MARK: recall of an approximate index

struct CurateRecallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recall",
        abstract: "Recall@k of an approximate index (ivf, faiss-ivf, hnsw) against exact search, on a sample of query rows, before trusting it for dedup.")

    @Option(help: "Embeddings from `dino embed`.")
    var embeddings: String
    @Option(help: "Neighbours compared.")
    var k: Int = Deduplication.defaultK
    @Option(help: "Query rows sampled (every row of the pool is searched over).")
    var sample: Int = 2000
    @OptionGroup var search: IndexOptions
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false
    @OptionGroup var threadOptions: ThreadsOption

    func run() throws {
        threadOptions.apply()
        let t = try EmbeddingTable.read(URL(fileURLWithPath: embeddings))
        t.normalizeRows()
        guard let index = search.choice(rows: t.count) else { throw ValidationError("give --index ivf, faiss-ivf or hnsw (exact search has recall 1)") }
        let rows = Array(SeededRandomSource(seed: 0).choose(Swift.min(sample, t.count), from: t.count).sorted())
        let queries = KMeans.rows(t.vectors, rows)
        let k = Swift.min(self.k, t.count - 1)
        var start = monotonicSeconds()
        let exactLists = ExactNearestNeighbors(k: k + 1).search(queries: queries, bank: t.vectors)
        let exactSeconds = monotonicSeconds() - start
        start = monotonicSeconds()
        let found = try ApproximateNearestNeighbors(index: index, k: k + 1).search(queries: queries, bank: t.vectors)
        let approximateSeconds = monotonicSeconds() - start
        let recall = ApproximateNearestNeighbors.recall(of: found, against: exactLists)
        if json {
            print("{\"rows\": \(t.count), \"queries\": \(rows.count), \"k\": \(k), \"index\": \"\(search.describe(index))\", \"recall\": \(recall), \"exact_seconds\": \(exactSeconds), \"approximate_seconds\": \(approximateSeconds)}")
        } else {
            table([("rows", "\(t.count)"), ("queries", "\(rows.count)"), ("index", search.describe(index)),
                   ("recall@\(k + 1)", String(format: "%.4f", recall)),
                   ("exact search of the queries", String(format: "%.2f s", exactSeconds)),
                   ("index build + search", String(format: "%.2f s", approximateSeconds))])
        }
    }
}
