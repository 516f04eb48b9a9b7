import DinoEval
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// The linear depth heads, SigLoss, the gradient loss, the metrics and the schedule against the
/// reference modules (scripts/make_eval_fixtures.py, depth.json).
@Suite struct DepthHeadTests {
    let fixture: [String: Any]

    init() throws {
        let url = try #require(Bundle.module.url(forResource: "depth", withExtension: "json", subdirectory: "Fixtures"))
        fixture = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func section(_ name: String) -> [String: Any] { fixture[name] as! [String: Any] }
    func floats(_ s: [String: Any], _ key: String) -> [Float] { (s[key] as! [NSNumber]).map { $0.floatValue } }
    func ints(_ s: [String: Any], _ key: String) -> [Int] { (s[key] as! [NSNumber]).map { $0.intValue } }

    @Test(arguments: [1, 4]) func dinov2LinearHeadMatchesBNHead(layers: Int) throws {
        let s = section("dinov2_lin\(layers)")
        let shape = ints(s, "shape")   // N, h, w, D
        let head = LinearDepthHead(embedDimensions: shape[3], config: .dinov2(layers: layers), generator: RandomGenerator(seed: 0))
        head.weight.copyIn(Tensor(floats(s, "weight"), shape: head.weight.shape))
        head.bias.copyIn(Tensor(floats(s, "bias"), shape: head.bias.shape))
        let patches = (s["patch_tokens"] as! [[NSNumber]]).map { Tensor($0.map(\.floatValue), shape: shape) }
        let classes = (s["class_tokens"] as! [[NSNumber]]).map { Tensor($0.map(\.floatValue), shape: [shape[0], shape[3]]) }
        let y = head(head.input(patchTokens: patches, classTokens: classes), training: true)
        #expect(y.shape == ints(s, "depth_shape"))
        #expect(mismatch(y, Tensor(floats(s, "depth"), shape: y.shape), rtol: 1e-4, atol: 1e-4) == nil)
    }

    @Test func dinov3BatchNormHeadMatchesLinearHeadInBothModes() throws {
        let s = section("dinov3_bn")
        let shape = ints(s, "shape")
        let head = LinearDepthHead(embedDimensions: shape[3], config: .dinov3(), generator: RandomGenerator(seed: 0))
        head.weight.copyIn(Tensor(floats(s, "weight"), shape: head.weight.shape))
        head.bias.copyIn(Tensor(floats(s, "bias"), shape: head.bias.shape))
        let bn = try #require(head.batchNorm)
        bn.weight.copyIn(Tensor(floats(s, "bn_weight"), shape: [shape[3]]))
        bn.bias.copyIn(Tensor(floats(s, "bn_bias"), shape: [shape[3]]))
        let x = head.input(patchTokens: [Tensor(((s["patch_tokens"] as! [[NSNumber]])[0].map(\.floatValue)), shape: shape)], classTokens: [])
        let train = head(x, training: true)
        #expect(train.shape == ints(s, "depth_shape"))
        #expect(mismatch(train, Tensor(floats(s, "depth_train"), shape: train.shape), rtol: 1e-4, atol: 1e-4) == nil)
        #expect(mismatch(bn.runningMean, Tensor(floats(s, "running_mean"), shape: [shape[3]]), rtol: 1e-5, atol: 1e-6) == nil)
        #expect(mismatch(bn.runningVariance, Tensor(floats(s, "running_var"), shape: [shape[3]]), rtol: 1e-5, atol: 1e-6) == nil)
        let eval = head(x, training: false)
        #expect(mismatch(eval, Tensor(floats(s, "depth_eval"), shape: eval.shape), rtol: 1e-4, atol: 1e-4) == nil)
    }

    @Test func sigLossMatchesBothReferencesThroughItsWarmUp() {
        let s = section("sigloss")
        let shape = ints(s, "shape")
        let truth = Tensor(floats(s, "truth"), shape: shape).to(.float64)
        let prediction = Tensor(floats(s, "prediction"), shape: shape).to(.float64)
        var loss = SigLoss(warmUp: true, warmUpIterations: 2, weight: 1, maxDepth: 10)
        let values = (0..<3).map { _ in loss(prediction, truth).doubles[0] }
        let expected2 = (s["dinov2_warm_up_2_weight_1_max_10"] as! [NSNumber]).map(\.doubleValue)
        let expected3 = (s["dinov3_warm_up_2_valid_le_10"] as! [NSNumber]).map(\.doubleValue)
        #expect(mismatch(doubles: values, expected2, rtol: 1e-6, atol: 1e-9) == nil)
        #expect(mismatch(doubles: values, expected3, rtol: 1e-6, atol: 1e-9) == nil)
        #expect(loss.warmUpCounter == 2)
        #expect(values[0] < values[2])    // the variance term joins after the warm-up

        let x = prediction.detach().requiringGrad()
        var full = SigLoss(weight: 10, maxDepth: 10)
        let l = full(x, truth)
        l.backward()
        #expect(abs(l.doubles[0] - (s["dinov2_weight_10_max_10"] as! NSNumber).doubleValue) < 1e-6)
        let grad = floats(s, "dinov2_weight_10_max_10_grad").map(Double.init)
        #expect(mismatch(doubles: x.grad!.doubles, grad, rtol: 1e-5, atol: 1e-7) == nil)
    }

    @Test func gradientLogLossMatchesDINOv3() {
        let s = section("gradient_log_loss")
        let shape = ints(s, "shape")
        let truth = Tensor(floats(s, "truth"), shape: shape).to(.float64)
        let mask = Tensor(floats(s, "mask"), shape: shape).to(.float64)
        let x = Tensor(floats(s, "prediction"), shape: shape).to(.float64).requiringGrad()
        let l = gradientLogLoss(x, truth, mask: mask)
        l.backward()
        #expect(abs(l.doubles[0] - (s["loss"] as! NSNumber).doubleValue) < 1e-5)
        #expect(mismatch(doubles: x.grad!.doubles, floats(s, "grad").map(Double.init), rtol: 1e-4, atol: 1e-6) == nil)
    }

    @Test func metricsMatchTheReferenceEvaluationLoop() {
        let s = section("metrics")
        let shape = ints(s, "shape")
        let per = shape[1] * shape[2]
        let truth = floats(s, "truth"), prediction = floats(s, "prediction")
        let names = s["names"] as! [String]
        let expectedPerImage = (s["per_image"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
        var all: [DepthMetrics] = []
        for i in 0..<shape[0] {
            let m = DepthMetrics.of(truth: Array(truth[(i * per)..<((i + 1) * per)]),
                                    prediction: Array(prediction[(i * per)..<((i + 1) * per)]), minDepth: 0.001, maxDepth: 10)!
            let got = Dictionary(uniqueKeysWithValues: m.named)
            #expect(mismatch(doubles: names.map { got[$0]! }, expectedPerImage[i], rtol: 1e-4, atol: 1e-5) == nil, "image \(i)")
            all.append(m)
        }
        let mean = Dictionary(uniqueKeysWithValues: DepthMetrics.mean(all).named)
        #expect(mismatch(doubles: names.map { mean[$0]! }, (s["mean"] as! [NSNumber]).map(\.doubleValue), rtol: 1e-4, atol: 1e-5) == nil)
        #expect(DepthMetrics.of(truth: [0, 0], prediction: [1, 1]) == nil)
    }

    @Test func warmupOneCycleMatchesDINOv3Scheduler() {
        let s = section("warmup_one_cycle")
        let expected = (s["lrs"] as! [NSNumber]).map(\.doubleValue)
        let got = (0..<expected.count).map { warmupOneCycleLearningRate(step: $0, total: 20, warmUp: 6, maxLR: 3e-4) }
        #expect(mismatch(doubles: got, expected, rtol: 1e-9, atol: 1e-15) == nil)
    }

    @Test func channelsLastResizeEqualsTheChannelsFirstOne() {
        let x = RandomGenerator(seed: 4).normal([2, 3, 5, 4], dtype: .float64)             // (N, h, w, C)
        let last = resizeBilinearChannelsLast(x, height: 7, width: 10)
        let first = resizeBilinear(x.permute([0, 3, 1, 2]).contiguous(), height: 7, width: 10).permute([0, 2, 3, 1]).contiguous()
        #expect(last.shape == [2, 7, 10, 4])
        #expect(mismatch(doubles: last.doubles, first.doubles, rtol: 1e-12, atol: 1e-12) == nil)
        let probe = RandomGenerator(seed: 5).normal([1, 2, 3, 2], dtype: .float64)
        #expect(gradientMismatch([probe]) { resizeBilinearChannelsLast($0[0], height: 4, width: 5) } == nil)
    }

    @Test func configDecodesStrictlyWithReferenceKeys() throws {
        let c = try ConfigLoader.decode(DepthHeadConfig.self, from: JSONValue.parse(#"{"layers": 1, "use_batchnorm": true, "max_depth": 16}"#))
        #expect(c.layers == 1 && c.batchNorm && c.maxDepth == 16 && c.useClassToken)
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(DepthHeadConfig.self, from: JSONValue.parse(#"{"layer": 1}"#)) }
        #expect(throws: ConfigError.self) { try ConfigLoader.decode(DepthHeadConfig.self, from: JSONValue.parse(#"{"layers": 2}"#)) }
        #expect(DepthHeadConfig().blockIndices(depth: 12) == [2, 5, 8, 11])
        #expect(DepthHeadConfig().blockIndices(depth: 24) == [4, 11, 17, 23])
        #expect(DepthHeadConfig.dinov2(layers: 1).blockIndices(depth: 6) == [5])
        let bins = DepthHeadConfig().binCentres()
        #expect(bins.count == 256 && bins[0] == 0.001 && abs(bins[255] - 10) < 1e-12)
    }
}
