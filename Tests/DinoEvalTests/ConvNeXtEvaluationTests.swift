import DinoEval
import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// The frozen-feature evaluations on a DINOv3 ConvNeXt (`test_convnext`, random weights), whose
/// blocks are its four stages (dinov3/models/convnext.py `get_intermediate_layers`; the reference
/// numbers are in DinoModelsTests' ConvNeXtTests.intermediateLayersMatchTheReference).
@Suite struct ConvNeXtEvaluationTests {
    static func model(seed: UInt64 = 3) throws -> ConvNeXt { try ConvNeXt.load(preset: "test_convnext", weights: nil, seed: seed) }

    /// Each stage's pooled map and map (B, h, w, C), computed here by hand: stem or downsampling
    /// layer, then the stage's blocks.
    static func stages(_ model: ConvNeXt, _ x: Tensor) -> [(pooled: Tensor, map: Tensor)] {
        var out: [(pooled: Tensor, map: Tensor)] = []
        var h = x
        for i in 0..<4 {
            h = i == 0 ? (model.downsampleLayers[0] as! ConvNeXtStem)(h) : (model.downsampleLayers[i] as! ConvNeXtDownsample)(h)
            for block in model.stages[i] { h = block(h) }
            out.append((h.mean(axes: [1, 2]), h))
        }
        return out
    }

    /// The linear protocols' features of a ConvNeXt: its "last 4 blocks" are the four stages'
    /// pooled maps (8 + 16 + 24 + 32 wide), only the last through the final norm, and the patch mean
    /// is the mean of the normed final map; `dino eval linear --protocol dino` features agree.
    @Test func linearProtocolFeaturesAreTheFourStages() throws {
        let model = try Self.model()
        let x = Sample.normal([3, 3, 64, 96], seed: 5)
        let f = linearProtocolFeatures(model: model, images: x, blocks: 4, labels: [0, 1, 0])
        #expect(f.blockWidths == [8, 16, 24, 32])
        let s = withNoGrad { Self.stages(model, x) }
        let lastPooled = withNoGrad { model.norm(s[3].pooled) }                                   // (B, 32)
        let expected = Tensor.concat([s[0].pooled, s[1].pooled, s[2].pooled, lastPooled], axis: 1)  // (B, 80)
        let patchMean = withNoGrad { model.norm(s[3].map).mean(axes: [1, 2]) }                    // (B, 32)
        #expect(mismatch(f.classTokens, expected, rtol: 1e-5, atol: 1e-6) == nil)
        #expect(mismatch(f.patchMean, patchMean, rtol: 1e-5, atol: 1e-6) == nil)
        let four = f.input(blocks: 4, averagePool: true)
        #expect(four.shape == [3, 112])
        #expect(mismatch(four, Tensor.concat([expected, patchMean], axis: 1), rtol: 1e-5, atol: 1e-6) == nil)
        let one = f.input(blocks: 1, averagePool: true)                                          // DINOv3's protocol
        #expect(mismatch(one, Tensor.concat([lastPooled, patchMean], axis: 1), rtol: 1e-5, atol: 1e-6) == nil)
        #expect(f.input(blocks: 2, averagePool: false).shape == [3, 24 + 32])
        // DINOv2's grid on a ConvNeXt: 1 or 4 stages, with or without the patch mean.
        let grid = LinearProtocolOptions(.dinov2).settings(depth: f.blockWidths.count)
        #expect(Set(grid.map { f.inputWidth(blocks: $0.blocks, averagePool: $0.averagePool) }) == [32, 64, 80, 112])
        // A subset keeps the block layout.
        let sub = f.subset([2, 0])
        #expect(sub.blockWidths == f.blockWidths && sub.labels == [0, 0])
        #expect(mismatch(sub.classTokens, expected.indexSelect(axis: 0, indices: [2, 0]), rtol: 1e-6, atol: 1e-7) == nil)
        // `--protocol dino --features last4|cls+avgpool|cls`.
        let extractor = FeatureExtractor(model: model, transform: .forInput(size: 64))
        #expect(mismatch(extractor.features(x, kind: .lastFourCLS), expected, rtol: 1e-5, atol: 1e-6) == nil)
        #expect(mismatch(extractor.features(x, kind: .clsPatchMean), one, rtol: 1e-5, atol: 1e-6) == nil)
        #expect(mismatch(extractor.features(x, kind: .cls), lastPooled, rtol: 1e-5, atol: 1e-6) == nil)
        #expect(FeatureKind.lastFourCLS.dimensions(blockDimensions: model.blockDimensions) == 80)
    }

    /// An ImageFolder of two classes, reddish and bluish noisy 64-px images.
    static func colourFolder(train: Int = 8, val: Int = 4) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dino-convnext-linear-\(UUID().uuidString)")
        let g = RandomGenerator(seed: 11)
        for (split, count) in [("train", train), ("val", val)] {
            for (c, name) in ["red", "blue"].enumerated() {
                let dir = root.appendingPathComponent("\(split)/\(name)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for i in 0..<count {
                    let noise = g.fork(UInt64(c * 100 + i + (split == "val" ? 1000 : 0))).uniform([64 * 64 * 3], low: 0, high: 90).scalars
                    let pixels = (0..<(64 * 64 * 3)).map { k -> UInt8 in
                        let base: Float = (k % 3 == (c == 0 ? 0 : 2)) ? 150 : 20
                        return UInt8(Swift.min(255, base + noise[k]))
                    }
                    try RGBImage(width: 64, height: 64, pixels: pixels).writePNG(to: dir.appendingPathComponent("\(i).png"))
                }
            }
        }
        return root
    }

    /// Both linear protocols, cached and augmented, learn two colours through a random ConvNeXt
    /// (chance: 50 %), with the DINOv2 grid on the four stages.
    @Test func linearProtocolsLearnThroughAConvNeXt() throws {
        let root = try Self.colourFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try Self.model()
        let train = try ImageFileDataset.imageFolder(root.appendingPathComponent("train").path)
        let val = try ImageFileDataset.imageFolder(root.appendingPathComponent("val").path)
        for (kind, cached) in [(LinearProtocolKind.dinov2, true), (.dinov3, false)] {
            var options = LinearProtocolOptions(kind)
            options.epochs = 10
            options.batchSize = 8
            options.learningRates = [0.1, 10]
            options.heldOutFraction = 0.25
            options.cached = cached
            let r = runLinearProtocol(model: model, train: train, val: val, imageSize: 64, options: options, protocolName: kind.rawValue,
                                      featureBatchSize: 4)
            #expect(r.rows.count == (kind == .dinov2 ? 8 : 2) && r.valImages == 8 && r.heldOutImages == 4)
            #expect(Set(r.rows.map(\.setting.blocks)) == (kind == .dinov2 ? [1, 4] : [1]))
            #expect(r.chosen.val.top1 > 75, "\(kind) cached \(cached): \(r.chosen)")
        }
    }

    /// IMAGES/{train,val}/{a,b}/i.png whose left half is red (class a) or blue (class b) and right
    /// half dark, and MASKS mirroring them (left half 1 or 2, right half 0): 64-px images on the
    /// ConvNeXt's 2 × 2 grid of stride 32.
    static func halvesTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dino-convnext-seg-\(UUID().uuidString)")
        for split in ["train", "val"] {
            for (c, name) in ["a", "b"].enumerated() {
                for i in 0..<(split == "train" ? 4 : 2) {
                    var pixels: [UInt8] = [], labels: [UInt8] = []
                    for y in 0..<64 {
                        for x in 0..<64 {
                            let left = x < 32
                            let jitter = UInt8((x * 7 + y * 13 + i * 5) % 30)
                            pixels += left ? (c == 0 ? [200 + jitter, 30, 30] : [30, 30, 200 + jitter]) : [20 + jitter, 20, 20]
                            let l = UInt8(left ? c + 1 : 0)
                            labels += [l, l, l]
                        }
                    }
                    for (folder, px) in [("data", pixels), ("masks", labels)] {
                        let dir = root.appendingPathComponent("\(folder)/\(split)/\(name)")
                        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                        try RGBImage(width: 64, height: 64, pixels: px).writePNG(to: dir.appendingPathComponent("\(i).png"))
                    }
                }
            }
        }
        return root
    }

    /// The dense probe reads the normed stride-32 final map as patch tokens, and learns the halves.
    @Test func segmentationProbeReadsTheFinalMap() throws {
        let root = try Self.halvesTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try Self.model()
        let masks = root.appendingPathComponent("masks").path
        let train = try SegmentationMasks(images: ImageFileDataset.imageFolder(root.appendingPathComponent("data/train").path), masksRoot: masks)
        let val = try SegmentationMasks(images: ImageFileDataset.imageFolder(root.appendingPathComponent("data/val").path), masksRoot: masks)
        let f = segmentationFeatures(model: model, masks: val, size: 64)
        #expect(f.features.shape == [4, 2, 2, 32] && f.labels.count == 4 * 64 * 64)
        let first = try #require(val.images.loadImage(at: 0, issues: DataIssueLog()))
        let tokens = withNoGrad { model.forwardFeatures(stackViews([first], normalization: .imageNet)).patchTokens }   // (1, 4, 32)
        #expect(mismatch(f.features.slice(axis: 0, start: 0, end: 1).contiguous().reshape([1, 4, 32]), tokens, rtol: 1e-5, atol: 1e-6) == nil)
        var options = SegmentationEvaluationOptions()
        options.probe.epochs = 40
        options.probe.batchSize = 4
        options.probe.learningRate = 5e-2
        let scores = evaluateSegmentation(model: model, train: train, val: val, options: options)
        #expect(scores.classIoU.count == 3)
        // Chance (all ground) is 50 %; the 2 × 2 grid is upsampled bilinearly, so the edge blurs.
        #expect(scores.pixelAccuracy > 70, "\(scores)")
    }

    /// The linear depth head reads blocks of one grid and width: of a ConvNeXt, its last stage
    /// (lin.1); lin.4 (its four stages, at four strides and widths) is refused with the reason.
    @Test func depthHeadReadsTheLastStageOnly() throws {
        let model = try Self.model()
        #expect(try depthHeadBlocks(model: model, head: .dinov2(layers: 1)) == [3])
        #expect(try depthHeadBlocks(model: model, head: .dinov3(layers: 1)) == [3])
        do {
            _ = try depthHeadBlocks(model: model, head: .dinov2(layers: 4))
            Issue.record("lin.4 on a ConvNeXt was accepted")
        } catch {
            #expect("\(error)".contains("strides [4, 8, 16, 32]") && "\(error)".contains("use 1 layer"), "\(error)")
        }
        var config = try ModelPresets.config(named: "test_dinov2")
        config.depth = 4
        #expect(try depthHeadBlocks(model: VisionTransformer(config), head: .dinov2(layers: 4)) == [0, 1, 2, 3])
    }
}
