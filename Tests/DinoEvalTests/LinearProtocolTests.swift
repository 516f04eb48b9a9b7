import DinoEval
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
