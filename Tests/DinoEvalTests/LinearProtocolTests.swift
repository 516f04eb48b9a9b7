import DinoEval
import DinoVision
import DinoNN
import DinoModels
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// DINOv2's linear protocol: the grid and the feature concatenations against dinov2/eval/linear.py
/// (linear_protocol.json), and the classifiers trained at once.
@Suite struct LinearProtocolTests {
    static func fixture() throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: "linear_protocol", withExtension: "json", subdirectory: "Fixtures"))
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test func gridMatchesSetupLinearClassifiers() throws {
        let f = try Self.fixture()
        var options = LinearProtocolOptions()
        options.batchSize = 128
        let grid = options.settings(depth: 12)
        #expect(grid.map(\.name) == f["names"] as! [String])
        #expect(grid.count == 48 && dinov2LinearLearningRates.count == 13)
        // The reference keeps 52 optimiser groups, of which the dict evaluates 48: the rates of the
        // dict's classifiers are the groups' rates without the overwritten ones.
        let groupRates = (f["lrs"] as! [NSNumber]).map(\.doubleValue)
        #expect(groupRates.count == 52)
        // Per feature set the first rate (5e-6) is overwritten in place by the second (1e-5).
        let kept = groupRates.enumerated().filter { $0.offset % 13 != 0 }.map(\.element)
        #expect(mismatch(doubles: grid.map(\.learningRate), kept, rtol: 1e-12, atol: 0) == nil)
        #expect(grid[0].baseLearningRate == 2e-5)
        let widths = (f["in_dims"] as! [NSNumber]).map(\.intValue)
        let shape = (f["shape"] as! [NSNumber]).map(\.intValue)
        #expect(grid.map { $0.blocks * shape[2] + ($0.averagePool ? shape[2] : 0) } == widths)
    }

    @Test func inputsMatchCreateLinearInput() throws {
        let f = try Self.fixture()
        let shape = (f["shape"] as! [NSNumber]).map(\.intValue)   // N, P, D
        let (n, p, d) = (shape[0], shape[1], shape[2])
        let patches = (f["patch_tokens"] as! [[NSNumber]]).map { Tensor($0.map(\.floatValue), shape: [n, p, d]) }
        let classes = (f["class_tokens"] as! [[NSNumber]]).map { Tensor($0.map(\.floatValue), shape: [n, d]) }
        let features = LinearProtocolFeatures(classTokens: Tensor.stack(classes, axis: 1), patchMean: patches.last!.mean(axes: [1]),
                                              labels: [Int](repeating: 0, count: n))
        let expected = f["inputs"] as! [String: [NSNumber]]
        for blocks in [1, 4] {
            for pool in [false, true] {
                let x = features.input(blocks: blocks, averagePool: pool)
                let want = expected["\(blocks)_\(pool ? "True" : "False")"]!.map(\.floatValue)
                #expect(x.shape == [n, want.count / n])
                #expect(mismatch(x, Tensor(want, shape: x.shape), rtol: 1e-5, atol: 1e-6) == nil, "\(blocks) blocks, avgpool \(pool)")
            }
        }
    }

    @Test func configsDecodeStrictly() throws {
        let o = try ConfigLoader.decode(LinearProtocolOptions.self, from: JSONValue.parse(#"{"epochs": 3, "held_out_fraction": 0.2}"#))
        #expect(o.epochs == 3 && o.heldOutFraction == 0.2 && o.learningRates == dinov2LinearLearningRates && o.batchSize == 128)
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(LinearProtocolOptions.self, from: JSONValue.parse(#"{"lr": 1}"#)) }
        let p = try ConfigLoader.decode(LabelPropagationConfig.self, from: JSONValue.parse(#"{"n_last_frames": 3, "size_mask_neighborhood": 4}"#))
        #expect(p.queueLength == 3 && p.neighborhood == 4 && p.topK == 5 && p.temperature == 0.1)
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(LabelPropagationConfig.self, from: JSONValue.parse(#"{"top_k": 3}"#)) }
        let d = try ConfigLoader.decode(DepthProbeConfig.self, from: JSONValue.parse(#"{"gradient_loss_weight": 0.5}"#))
        #expect(d.gradientLossWeight == 0.5 && d.learningRate == 3e-4 && d.sigLossWarmUpIterations == 100)
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(DepthProbeConfig.self, from: JSONValue.parse(#"{"lr": 1}"#)) }
    }

    @Test func trainsTheGridAtOnceAndChoosesOnHeldOutTrain() {
        // Two classes told apart by the patch mean alone: the pooled classifiers must win.
        func set(_ count: Int, seed: UInt64) -> LinearProtocolFeatures {
            let labels = (0..<count).map { $0 % 2 }
            let cls = RandomGenerator(seed: seed).normal([count, 4, 6])
            var mean = RandomGenerator(seed: seed + 1).normal([count, 6]).scalars
            for i in 0..<count { mean[i * 6] += labels[i] == 0 ? 3 : -3 }
            return LinearProtocolFeatures(classTokens: cls, patchMean: Tensor(mean, shape: [count, 6]), labels: labels)
        }
        var options = LinearProtocolOptions()
        options.epochs = 5
        options.batchSize = 32
        options.learningRates = [1e-3, 1]
        let r = runLinearProtocol(train: set(200, seed: 10), val: set(100, seed: 20), classes: 2, options: options)
        #expect(r.rows.count == 8)
        #expect(r.chosen.setting.averagePool, "\(r.chosen.setting)")
        #expect(r.chosen.val.top1 > 90, "\(r.chosen.val)")
        #expect(r.rows.filter { !$0.setting.averagePool }.allSatisfy { $0.val.top1 < 75 })
    }
}

/// DINOv3's grid and feature layout against dinov3/eval/linear.py (linear_dinov3.json, made by
/// scripts/make_linear_fixtures.py), and the augmented training of both protocols.
@Suite struct LinearProtocolDINOv3Tests {
    static func fixture() throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: "linear_dinov3", withExtension: "json", subdirectory: "Fixtures"))
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test func gridMatchesSetupLinearClassifiers() throws {
        let f = try Self.fixture()
        let grid = LinearProtocolOptions(.dinov3).settings(depth: 2)
        #expect(grid.map(\.name) == f["names"] as! [String])
        #expect(grid.count == 12 && grid.allSatisfy { $0.blocks == 1 && $0.averagePool })
        // 13 optimiser groups; the first (5e-6, printed 0_00001) is replaced in place by 1e-5.
        let groupRates = (f["lrs"] as! [NSNumber]).map(\.doubleValue)
        #expect(groupRates.count == 13)
        #expect(mismatch(doubles: grid.map(\.learningRate), Array(groupRates.dropFirst()), rtol: 1e-12, atol: 0) == nil)
        #expect((f["in_dims"] as! [NSNumber]).map(\.intValue) == [Int](repeating: 32, count: 12))
    }

    /// get_intermediate_layers(n=1, return_class_token=True) + create_linear_input(1, avgpool) of a
    /// DINOv3 ViT with 2 storage tokens and untied class/patch norms: [cls_norm(class), mean(norm(patches))].
    @Test func featureLayoutMatchesTheReference() throws {
        let f = try Self.fixture()
        let configText = String(decoding: try JSONSerialization.data(withJSONObject: f["config"]!), as: UTF8.self)
        let config = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(configText))
        #expect(config.untieClsAndPatchNorms && config.numRegisterTokens == 2)
        let model = VisionTransformer(config)
        try model.loadWeights(from: try #require(Bundle.module.url(forResource: "linear_dinov3", withExtension: "safetensors", subdirectory: "Fixtures")))
        model.eval()
        let shape = (f["images_shape"] as! [NSNumber]).map(\.intValue)
        let images = Tensor((f["images"] as! [NSNumber]).map(\.floatValue), shape: shape)
        let features = linearProtocolFeatures(model: model, images: images, blocks: 1, labels: [0, 0, 0])
        let x = features.input(blocks: 1, averagePool: true)
        let wantShape = (f["linear_input_shape"] as! [NSNumber]).map(\.intValue)
        #expect(x.shape == wantShape)
        let want = Tensor((f["linear_input"] as! [NSNumber]).map(\.floatValue), shape: wantShape)
        #expect(mismatch(x, want, rtol: 1e-4, atol: 1e-5) == nil)
    }

    @Test func dinov3OptionsDecodeAndValidate() throws {
        #expect(LinearProtocolOptions(.dinov3).blocks == [1] && LinearProtocolOptions(.dinov3).averagePool == [true])
        #expect(LinearProtocolOptions(.dinov2) == LinearProtocolOptions())
        let o = try ConfigLoader.decode(LinearProtocolOptions.self, from: JSONValue.parse(#"{"avgpool": [true], "cached": true}"#))
        #expect(o.averagePool == [true] && o.cached && o.settings(depth: 12).count == 24)
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(LinearProtocolOptions.self, from: JSONValue.parse(#"{"crop_scale": [0.5]}"#)) }
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(LinearProtocolOptions.self, from: JSONValue.parse(#"{"held_out_fraction": 1}"#)) }
    }

    @Test func trainViewsAreRandomResizedCropsAndFlips() {
        var pixels: [UInt8] = []
        for y in 0..<40 { for x in 0..<48 { pixels += [UInt8(x * 5), UInt8(y * 6), 7] } }
        let image = RGBImage(width: 48, height: 40, pixels: pixels)
        let t = LinearProtocolTrainTransform(size: 16)
        let views = (0..<8).map { t.view(image, RandomGenerator(seed: UInt64($0))) }
        #expect(views.allSatisfy { $0.width == 16 && $0.height == 16 })
        #expect(Set(views.map(\.pixels)).count == 8)
        // The same generator state gives the same view.
        #expect(t.view(image, RandomGenerator(seed: 3)).pixels == views[3].pixels)
        // Flip only (whole-image crop): either the image resized or its mirror.
        let flipOnly = LinearProtocolTrainTransform(size: 16, scale: [1, 1], flipProbability: 1)
        let v = flipOnly.view(image, RandomGenerator(seed: 0))
        #expect(v.pixels[0] > v.pixels[(16 - 1) * 3], "red grows with x; the flipped view's first column must be the reddest")
    }

    @Test(arguments: [LinearProtocolKind.dinov2, .dinov3])
    func augmentedProtocolLearnsColouredSquares(kind: LinearProtocolKind) throws {
        let root = try SegmentationEvaluationTests.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"), generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        let train = try ImageFileDataset.imageFolder(root.appendingPathComponent("data/train").path)
        let val = try ImageFileDataset.imageFolder(root.appendingPathComponent("data/val").path)
        var options = LinearProtocolOptions(kind)
        options.batchSize = 4
        options.epochs = 8
        options.heldOutFraction = 0.25
        options.learningRates = [10, 100]
        options.cropScale = [0.5, 1]
        var epochs = 0
        let r = runLinearProtocol(model: model, train: train, val: val, imageSize: 32, options: options, protocolName: kind.rawValue) { _, _, _ in epochs += 1 }
        #expect(r.training == "augmented" && r.protocolName == kind.rawValue && epochs == 8 && r.cropScale == [0.5, 1])
        #expect(r.fitImages == 9 && r.heldOutImages == 3 && r.valImages == 6)
        #expect(r.iterations == 2 * 8, "drop_last: 9 images in batches of 4")
        #expect(r.rows.count == (kind == .dinov2 ? 8 : 2))
        #expect(r.chosen.val.top1 >= 80, "\(r.chosen)")
        options.cached = true
        let c = runLinearProtocol(model: model, train: train, val: val, imageSize: 32, options: options, protocolName: kind.rawValue)
        #expect(c.training == "cached" && c.iterations == 3 * 8 && c.cropScale == nil)
    }
}
