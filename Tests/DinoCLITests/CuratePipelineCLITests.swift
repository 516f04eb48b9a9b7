// `dino curate pipeline --dedup-descriptor`: the deduplication step with a descriptor of its
// own (DINOv2: a copy-detection model for copies, class tokens for retrieval and clustering),
// and `--threads` on the curate commands and `dino embed`.

@testable import dino
import DinoCuration
import DinoTensor
import DinoVision
import Foundation
import Testing

@Suite struct CuratePipelineCLITests {
    @Test func dedupDescriptorAndThreadsAreParsedAndBadValuesRefused() throws {
        let base = ["--pool", "P", "--target", "5", "--out", "O", "--model", "vit_nano_patch4", "--random-init"]
        let p = try CuratePipelineCommand.parse(base + ["--dedup-descriptor", "pixels", "--dedup-image-size", "16", "--threads", "1"])
        #expect(p.dedupDescriptor == "pixels" && p.dedupImageSize == 16 && p.threadOptions.threads == 1)
        #expect(try CuratePipelineCommand.parse(base).dedupDescriptor == nil)
        #expect(throws: (any Error).self) { try CuratePipelineCommand.parse(base + ["--dedup-descriptor", "sscd"]) }
        #expect(throws: (any Error).self) { try CuratePipelineCommand.parse(base + ["--dedup-image-size", "16"]) }
        #expect(throws: (any Error).self) { try CuratePipelineCommand.parse(base + ["--threads", "0"]) }
        #expect(try CurateDedupCommand.parse(["--pool", "P", "--out", "O", "--descriptor", "pixels", "--threads", "2"]).threadOptions.threads == 2)
        #expect(try EmbedCommand.parse(["--model", "vit_tiny", "--random-init", "--data", "D", "--out", "o.safetensors", "--threads", "1"])
            .threadOptions.threads == 1)
    }

    /// Four different noise images, each written three times: class tokens of a randomly
    /// initialised ViT call every image alike (cosine near 1), so deduplicating on them keeps one
    /// image of twelve; with `--dedup-descriptor pixels` only the copies merge and one file of
    /// each image is kept.
    @Test func aSecondDescriptorDeduplicatesWhileClassTokensWouldMergeEverything() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("curate-pipeline-\(UInt64.random(in: 0..<UInt64.max))")
        let pool = dir.appendingPathComponent("pool")
        try FileManager.default.createDirectory(at: pool, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let random = RandomGenerator(seed: 7)
        for image in 0..<4 {
            let pixels = (0..<(32 * 32 * 3)).map { _ in UInt8(random.nextInt(256)) }
            let png = try RGBImage(width: 32, height: 32, pixels: pixels).pngData()
            for copy in 0..<3 { try png.write(to: pool.appendingPathComponent("i\(image)-c\(copy).png")) }
        }
        func curate(_ extra: [String]) throws -> [String] {
            let out = dir.appendingPathComponent("out-\(extra.count)")
            try CuratePipelineCommand.parse(["--pool", pool.path, "--target", "12", "--out", out.path, "--model", "vit_nano_patch4",
                                             "--random-init", "--image-size", "32"] + extra).run()
            // No --threads here: it sets the process-wide thread count, which other tests
            // running beside this one (bit-exact resume fixtures) depend on.
            return try String(contentsOf: out.appendingPathComponent("kept.txt"), encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let byClassTokens = try curate([])
        #expect(byClassTokens.count == 1)
        let byPixels = try curate(["--dedup-descriptor", "pixels"])
        #expect(byPixels.count == 4)
        let originals = Set(byPixels.map { URL(fileURLWithPath: $0).lastPathComponent.prefix(2) })
        #expect(originals == ["i0", "i1", "i2", "i3"])
    }

    /// `--index`: `ivf` is the engine's inverted file and `faiss-ivf` faiss's, with the same
    /// 4·√N lists by default; `auto` searches exactly up to `--exact-up-to` rows.
    @Test func indexChoicesNameTheEnginesIVFAndFaiss() throws {
        func choice(_ extra: [String], rows: Int) throws -> ApproximateNearestNeighbors.Index? {
            try CurateDedupCommand.parse(["--pool", "P", "--out", "O"] + extra).search.choice(rows: rows)
        }
        #expect(try choice(["--index", "ivf"], rows: 10_000) == .ivf(lists: 400, probes: 16))
        #expect(try choice(["--index", "faiss-ivf", "--ivf-lists", "64", "--probes", "8"], rows: 10_000) == .faissIVF(lists: 64, probes: 8))
        #expect(try choice([], rows: 50_000) == nil)
        #expect(try choice([], rows: 50_001) == .ivf(lists: 894, probes: 16))
        #expect(try choice(["--index", "exact"], rows: 1_000_000) == nil)
        #expect(throws: (any Error).self) { try CurateDedupCommand.parse(["--pool", "P", "--out", "O", "--index", "annoy"]) }
    }
}
