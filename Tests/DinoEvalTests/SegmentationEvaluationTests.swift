import DinoEval
import DinoModels
import DinoTensor
import DinoVision
import Foundation
import Testing

/// `evaluateSegmentation` end to end on a tiny folder of images with mirrored masks.
@Suite struct SegmentationEvaluationTests {
    /// DATA/{train,val}/{a,b}/i.png with a bright square on dark ground, and MASKS/{train,val}/…
    /// labelling the square 1 (class a) or 2 (class b), the ground 0; the square's corner moves.
    static func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dino-seg-\(UUID().uuidString)")
        for split in ["train", "val"] {
            for (c, name) in ["a", "b"].enumerated() {
                for i in 0..<(split == "train" ? 6 : 3) {
                    let (x0, y0) = (2 + (i * 5) % 12, 3 + (i * 7) % 12)
                    var pixels: [UInt8] = [], labels: [UInt8] = []
                    for y in 0..<32 {
                        for x in 0..<32 {
                            let inside = x >= x0 && x < x0 + 16 && y >= y0 && y < y0 + 16
                            let v: [UInt8] = inside ? (c == 0 ? [230, 40, 40] : [40, 40, 230]) : [20, 20, 20]
                            pixels += v
                            let l = UInt8(inside ? c + 1 : 0)
                            labels += [l, l, l]
                        }
                    }
                    for (folder, px) in [("data", pixels), ("masks", labels)] {
                        let dir = root.appendingPathComponent("\(folder)/\(split)/\(name)")
                        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                        try RGBImage(width: 32, height: 32, pixels: px).writePNG(to: dir.appendingPathComponent("\(i).png"))
                    }
                }
            }
        }
        return root
    }

    @Test func linearProbeSegmentsColouredSquares() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"), generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        let masks = root.appendingPathComponent("masks").path
        let train = try SegmentationMasks(images: ImageFileDataset.imageFolder(root.appendingPathComponent("data/train").path), masksRoot: masks)
        let val = try SegmentationMasks(images: ImageFileDataset.imageFolder(root.appendingPathComponent("data/val").path), masksRoot: masks)
        let f = segmentationFeatures(model: model, masks: val, size: 32)
        #expect(f.features.shape == [6, 8, 8, 32] && f.labels.count == 6 * 32 * 32)
        var options = SegmentationEvaluationOptions()
        options.probe.epochs = 30
        options.probe.batchSize = 4
        options.probe.learningRate = 2e-2
        let scores = evaluateSegmentation(model: model, train: train, val: val, options: options)
        #expect(scores.classIoU.count == 3)
        // Colour separates the classes even through a random backbone; edges are coarse (4-px
        // patches upsampled), so the score is high but not perfect.
        #expect(scores.pixelAccuracy > 80, "\(scores)")
        #expect(scores.miou > 50, "\(scores)")
    }
}
