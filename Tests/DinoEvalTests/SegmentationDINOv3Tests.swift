import DinoEval
import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// DINOv3's ADE20K linear segmentation recipe against dinov3/eval/segmentation
/// (segmentation_dinov3.json, made by scripts/make_segmentation_fixtures.py), and end to end on
/// ADE20K-layout folders.
@Suite struct SegmentationDINOv3Tests {
    static func fixture() throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: "segmentation_dinov3", withExtension: "json", subdirectory: "Fixtures"))
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test func learningRatesFollowWarmupOneCycleAsTrainPyStepsIt() throws {
        let f = try #require(try Self.fixture()["lrs"] as? [String: Any])
        let want = (f["values"] as! [NSNumber]).map(\.doubleValue)
        let total = (f["total"] as! NSNumber).intValue, warmUp = (f["warmup"] as! NSNumber).intValue
        let got = (0..<total).map { dinov3SegmentationLearningRate(iteration: $0, total: total, warmUp: warmUp, warmupRatio: 1e-6, maxLR: 1e-3) }
        #expect(mismatch(doubles: got, want, rtol: 1e-9, atol: 1e-15) == nil)
    }

    @Test func reduceZeroLabelAndLossMatchTheReference() throws {
        let f = try Self.fixture()
        let r = f["reduce_zero_label"] as! [String: [Int]]
        #expect(r["in"]!.map { reduceZeroLabel($0) } == r["out"]!)
        let l = f["loss"] as! [String: Any]
        let shape = (l["shape"] as! [NSNumber]).map(\.intValue)                  // N, C, H, W
        let logits = Tensor((l["logits"] as! [NSNumber]).map(\.floatValue), shape: shape)
            .permute([0, 2, 3, 1]).contiguous().reshape([-1, shape[1]])          // (N·H·W, C)
        let loss = segmentationCrossEntropy(logits: logits, labels: l["labels"] as! [Int])
        #expect(abs(Double(loss.item()) - (l["value"] as! NSNumber).doubleValue) < 1e-5)
    }

    @Test func scoresMatchIntersectAndUnionWithReduceZeroLabel() throws {
        let f = try #require(try Self.fixture()["iou"] as? [String: Any])
        var confusion = ConfusionMatrix(classes: (f["classes"] as! NSNumber).intValue)
        for (p, l) in zip(f["predictions"] as! [[Int]], f["labels"] as! [[Int]]) {
            confusion.add(predictions: p, labels: l.map { reduceZeroLabel($0) }, ignoreIndex: 255)
        }
        let s = confusion.scores
        #expect(abs(s.miou - 100 * (f["miou"] as! NSNumber).doubleValue) < 1e-4, "\(s)")
        #expect(abs(s.pixelAccuracy - 100 * (f["aacc"] as! NSNumber).doubleValue) < 1e-4, "\(s)")
    }

    @Test func slidingWindowsMatchSlideInference() throws {
        let f = try #require(try Self.fixture()["slide"] as? [String: Any])
        let boxes = slidingWindows(height: (f["height"] as! NSNumber).intValue, width: (f["width"] as! NSNumber).intValue,
                                   crop: (f["crop"] as! NSNumber).intValue, stride: (f["stride"] as! NSNumber).intValue)
        #expect(boxes.map { [$0.top, $0.top + $0.height, $0.left, $0.left + $0.width] } == f["windows"] as! [[Int]])
        // A crop larger than both sides shrinks to the shorter one.
        #expect(slidingWindows(height: 20, width: 24, crop: 32, stride: 21).map(\.height) == [20, 20])
    }

    @Test func configDecodesStrictlyWithReferenceDefaults() throws {
        let c = try ConfigLoader.decode(DINOv3SegmentationConfig.self, from: JSONValue.parse(#"{"iterations": 800}"#))
        #expect(c.resolvedWarmupIterations == 30 && c.learningRate == 1e-3 && c.weightDecay == 1e-3 && c.dropout == 0.1)
        #expect(c.reduceZeroLabel && c.ratioRange == [0.5, 2] && c.batchSize == 16)
        #expect(DINOv3SegmentationConfig().resolvedWarmupIterations == 1500)
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(DINOv3SegmentationConfig.self, from: JSONValue.parse(#"{"crop": 3}"#)) }
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(DINOv3SegmentationConfig.self, from: JSONValue.parse(#"{"dropout": 1}"#)) }
    }

    /// ADE20K-style folders (images/training/x.png, annotations/training/x.png with 0 = "other")
    /// of coloured squares: label 1 ground, 2 red square, 3 blue square, a band of 0s on top.
    static func makeADE() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dino-ade-\(UUID().uuidString)")
        for (split, n) in [("training", 8), ("validation", 4)] {
            for folder in ["images", "annotations"] {
                try FileManager.default.createDirectory(at: root.appendingPathComponent("\(folder)/\(split)"), withIntermediateDirectories: true)
            }
            for i in 0..<n {
                let c = i % 2
                let (x0, y0) = (2 + (i * 5) % 14, 6 + (i * 7) % 12)
                var pixels: [UInt8] = [], labels: [UInt8] = []
                for y in 0..<40 {
                    for x in 0..<36 {
                        let inside = x >= x0 && x < x0 + 18 && y >= y0 && y < y0 + 18
                        pixels += inside ? (c == 0 ? [230, 40, 40] : [40, 40, 230]) : [20, 20, 20]
                        let l = UInt8(y < 3 ? 0 : inside ? c + 2 : 1)
                        labels += [l, l, l]
                    }
                }
                let name = "ADE_\(split)_\(i)"
                try RGBImage(width: 36, height: 40, pixels: pixels).writePNG(to: root.appendingPathComponent("images/\(split)/\(name).png"))
                try RGBImage(width: 36, height: 40, pixels: labels).writePNG(to: root.appendingPathComponent("annotations/\(split)/\(name).png"))
            }
        }
        return root
    }

    @Test func recipeSegmentsColouredSquaresInTheADE20KLayout() throws {
        let root = try Self.makeADE()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"), generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        let annotations = root.appendingPathComponent("annotations").path
        let train = try SegmentationMasks(images: ImageFileDataset.folder(root.appendingPathComponent("images/training").path), masksRoot: annotations)
        let val = try SegmentationMasks(images: ImageFileDataset.folder(root.appendingPathComponent("images/validation").path), masksRoot: annotations)
        var config = DINOv3SegmentationConfig()
        config.iterations = 60
        config.batchSize = 4
        config.learningRate = 3e-2
        config.imageSize = 32
        var steps = 0
        let (head, scores, picture) = try evaluateSegmentationDINOv3(model: model, train: train, val: val, config: config, pictureCount: 2) { _, _, _ in steps += 1 }
        // Two rows of image | truth | prediction at the masks' 36 × 40, 2-px gaps.
        #expect(picture?.width == 3 * 36 + 2 * 2 && picture?.height == 2 * 40 + 2)
        #expect(steps == 60)
        // reduce_zero_label: 0 ignored, 1…3 → 0…2, so three classes.
        #expect(head.classes == 3 && scores.classIoU.count == 3)
        #expect(scores.pixelAccuracy > 80, "\(scores)")
        #expect(scores.miou > 50, "\(scores)")
    }

    @Test func theADE20KFixtureIsReadWithItsOwnNames() throws {
        let root = try #require(Bundle.module.url(forResource: "ade20k", withExtension: nil, subdirectory: "Fixtures"))
        let val = try SegmentationMasks(images: ImageFileDataset.folder(root.appendingPathComponent("images/validation").path),
                                        masksRoot: root.appendingPathComponent("annotations").path)
        #expect(val.images.count == 4)
        let m = try val.nativeLabels(at: 0)
        #expect(m.width == 48 && m.height == 48 && val.path(at: 0).hasSuffix(".jpg"))
        // The top band (3 rows at 48 px) is 0 ("other"): ignored after reduce_zero_label; the rest is
        // background 1 → 0 or a letter.
        #expect(m.labels.prefix(48 * 3).allSatisfy { $0 == 0 } && m.labels.dropFirst(48 * 3).allSatisfy { $0 >= 1 })
        #expect(Set(m.labels.map { reduceZeroLabel($0) }).contains(255))
    }
}
