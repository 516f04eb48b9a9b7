// The cached-features file of `dino bench probes` (ProbeBenchmark.swift): its shapes become the
// probes' inputs, each probe runs on them, and a file that does not fit is refused naming the
// file and the tensor or key. No timings.

@testable import DinoEval
import DinoTensor
import Foundation
import XCTest

final class ProbeBenchmarkTests: XCTestCase {
    /// A tiny file in the layout of scripts/bench_probes_reference.py --write: scenes 4 / 3 images
    /// on a 2×2 grid of width 4 with 8×8 labels (3 classes) and depths, 2 clips × 4 frames on a
    /// 4×4 grid of 16-px frames, glyphs 12 / 5 images with 4 blocks of class tokens.
    func tensors() -> [String: Tensor] {
        let g = RandomGenerator(seed: 7)
        func labels(_ shape: [Int], below k: Int) -> Tensor {
            Tensor(doubles: (0..<shape.reduce(1, *)).map { _ in Double(g.nextInt(k)) }, shape: shape)
        }
        var t: [String: Tensor] = [:]
        for (split, n) in [("train", 4), ("val", 3)] {
            t["scenes.\(split).features"] = g.normal([n, 2, 2, 4])
            t["scenes.\(split).class_token"] = g.normal([n, 4])
            t["scenes.\(split).labels"] = labels([n, 8, 8], below: 3)
            t["scenes.\(split).depth"] = g.uniform([n, 8, 8], low: 0.5, high: 9)
        }
        t["videos.features"] = g.normal([2, 4, 4, 4, 4])
        var masks = [Double](repeating: 0, count: 2 * 4 * 16 * 16)
        for s in 0..<2 { for f in 0..<4 { for y in 4..<10 { for x in (2 + f)..<(9 + f) { masks[((s * 4 + f) * 16 + y) * 16 + x] = 1 } } } }
        t["videos.masks"] = Tensor(doubles: masks, shape: [2, 4, 16, 16])
        for (split, n) in [("train", 12), ("val", 5)] {
            t["glyphs.\(split).class_tokens"] = g.normal([n, 4, 4])
            t["glyphs.\(split).patch_mean"] = g.normal([n, 4])
            t["glyphs.\(split).labels"] = labels([n], below: 3)
        }
        return t.mapValues { $0.to(.float32) }
    }

    let metadata = ["format": ProbeBenchFeatures.format, "scenes_classes": "3", "glyphs_classes": "3", "max_depth": "10"]

    func write(_ tensors: [String: Tensor], metadata: [String: String]? = nil) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("probes-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(tensors, metadata: metadata ?? self.metadata, to: url)
        return url
    }

    func testFileShapesBecomeTheProbesInputsAndEveryProbeRuns() throws {
        let data = try ProbeBenchFeatures.load(write(tensors()))
        XCTAssertEqual(data.segmentationTrain?.features.shape, [4, 2, 2, 4])
        XCTAssertEqual(data.segmentationVal?.count, 3)
        XCTAssertEqual(data.segmentationTrain?.height, 8)
        XCTAssertEqual(data.sceneClasses, 3)
        XCTAssertEqual(data.depthTrain?.classTokens.first?.shape, [4, 4])
        XCTAssertEqual(data.depthVal?.depths.count, 3 * 8 * 8)
        XCTAssertEqual(data.maxDepth, 10)
        XCTAssertEqual(data.videoFeatures.count, 2)
        XCTAssertEqual(data.videoFeatures[0].count, 4)
        XCTAssertEqual(data.videoFeatures[0][0].shape, [16, 4])
        XCTAssertEqual(data.videoPatchSize, 4)
        XCTAssertEqual(data.videoGrid.height, 4)
        XCTAssertEqual(data.videoMasks[1][2].count, 256)
        XCTAssertEqual(data.linearTrain?.classTokens.shape, [12, 16])
        XCTAssertEqual(data.linearTrain?.blockWidths, [4, 4, 4, 4])
        XCTAssertEqual(data.glyphClasses, 3)

        var settings = ProbeBenchSettings()
        settings.linearEpochs = 1
        for kind in ProbeBenchKind.allCases {
            let outcome = data.run(kind, settings: settings)
            XCTAssertTrue(outcome.score.isFinite, "\(kind): \(outcome.scoreName) \(outcome.score)")
        }
        // 11 of the 12 glyph images fit after holding out 1: one iteration of the 48 classifiers.
        XCTAssertTrue(data.run(.linear, settings: settings).work.hasPrefix("48 classifiers, 1 iterations"))
    }

    func testOnlyTheAskedProbesTensorsAreNeeded() throws {
        let linearOnly = tensors().filter { $0.key.hasPrefix("glyphs.") }
        let data = try ProbeBenchFeatures.load(write(linearOnly), probes: [.linear])
        XCTAssertNil(data.segmentationTrain)
        XCTAssertEqual(data.linearVal?.count, 5)
        XCTAssertThrowsError(try ProbeBenchFeatures.load(write(linearOnly), probes: [.depth])) { error in
            XCTAssertEqual((error as? ProbeBenchError).map { if case .missingTensor(_, let t) = $0 { t } else { "" } }, "scenes.train.class_token")
        }
    }

    func testMalformedFilesAreRefusedNamingTheTensorOrKey() throws {
        func refusal(_ tensors: [String: Tensor], metadata: [String: String]? = nil, probes: [ProbeBenchKind] = ProbeBenchKind.allCases) throws -> String {
            let url = try write(tensors, metadata: metadata)
            do {
                _ = try ProbeBenchFeatures.load(url, probes: probes)
            } catch let e as ProbeBenchError {
                XCTAssertTrue(e.description.hasPrefix(url.path), e.description)
                return e.description
            }
            XCTFail("accepted a malformed file")
            return ""
        }
        let good = tensors()
        XCTAssertTrue(try refusal(good, metadata: [:]).contains("not a probe-bench features file"))
        var t = good
        t["scenes.val.labels"] = Tensor.zeros([2, 8, 8])
        XCTAssertTrue(try refusal(t).contains("'scenes.val.labels' has shape [2, 8, 8], expected (3, H, W)"))
        t = good
        t["scenes.train.labels"] = Tensor(doubles: [Double](repeating: 7, count: 4 * 64), shape: [4, 8, 8])
        XCTAssertTrue(try refusal(t).contains("'scenes.train.labels': value 7 outside 0..<3 (or 255, ignored)"))
        t = good
        t["videos.masks"] = Tensor.zeros([2, 4, 18, 18])
        XCTAssertTrue(try refusal(t, probes: [.video]).contains("'videos.masks' has shape [2, 4, 18, 18]"))
        t = good
        t["scenes.train.depth"] = Tensor(doubles: [Double](repeating: -1, count: 4 * 64), shape: [4, 8, 8])
        XCTAssertTrue(try refusal(t, probes: [.depth]).contains("'scenes.train.depth': depth -1.0 is negative"))
        var m = metadata
        m["max_depth"] = "deep"
        XCTAssertTrue(try refusal(good, metadata: m, probes: [.depth]).contains("metadata 'max_depth' is 'deep', expected a positive number"))
        t = good
        t["glyphs.val.class_tokens"] = Tensor.zeros([5, 2, 4])
        XCTAssertTrue(try refusal(t, probes: [.linear]).contains("'glyphs.val.class_tokens'"))
    }
}
