import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// Drop path on an exact subset of the batch against the official code
/// (Fixtures/dinov3_drop_path.json, from scripts/make_dinov3_fixtures.py running dinov2's
/// `drop_add_residual_stochastic_depth` and dinov3's `SelfAttentionBlock._forward` with
/// recorded `torch.randperm` draws and tanh(x W) branches), by finite differences, and wired
/// into the ViT through `drop_path_mode`.
@Suite struct BatchSubsetDropPathTests {
    struct Reference: Decodable {
        struct Run: Decodable {
            let permutations: [[Int]]
            let output: [Double], grad_x: [Double], grad_w1: [Double]
            let grad_w2: [Double]?
        }
        struct Case: Decodable {
            let ratio: Double
            let shape: [Int]
            let x: [Double], w1: [Double], w2: [Double], gamma1: [Double], gamma2: [Double], upstream: [Double]
            let dinov2: Run
            let dinov3: Run
        }
        let cases: [Case]
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "dinov3_drop_path", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("fixture dinov3_drop_path.json missing; run scripts/make_dinov3_fixtures.py")
        }
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    static func t(_ v: [Double], _ shape: [Int]) -> Tensor { Tensor(doubles: v, shape: shape).requiringGrad() }

    static func close(_ a: Tensor?, _ e: [Double], _ label: String) {
        guard let a else { Issue.record("\(label): no gradient"); return }
        #expect(mismatch(doubles: a.doubles, e, rtol: 1e-10, atol: 1e-12) == nil, "\(label)")
    }

    @Test func dinov2SubsetResidualMatchesTheReference() {
        for c in Self.reference.cases {
            let d = c.shape[2]
            let x = Self.t(c.x, c.shape), w = Self.t(c.w1, [d, d])
            let s = DropPath.subsetSize(batch: c.shape[0], rate: c.ratio)
            #expect(c.dinov2.permutations.count == 1)
            let indices = Array(c.dinov2.permutations[0].prefix(s))
            let y = DropPath.subsetResidual(x, indices: indices, scale: nil) { $0.matmul(w).tanh() }
            #expect(mismatch(doubles: y.doubles, c.dinov2.output, rtol: 1e-12, atol: 1e-12) == nil, "ratio \(c.ratio) output")
            (y * Tensor(doubles: c.upstream, shape: c.shape)).sum().backward()
            Self.close(x.grad, c.dinov2.grad_x, "ratio \(c.ratio) dL/dx")
            Self.close(w.grad, c.dinov2.grad_w1, "ratio \(c.ratio) dL/dW")
        }
    }

    @Test func dinov3BlockStepMatchesTheReference() {
        for c in Self.reference.cases {
            let (b, d) = (c.shape[0], c.shape[2])
            let x = Self.t(c.x, c.shape), w1 = Self.t(c.w1, [d, d]), w2 = Self.t(c.w2, [d, d])
            let g1 = Tensor(doubles: c.gamma1, shape: [d]), g2 = Tensor(doubles: c.gamma2, shape: [d])
            let s = DropPath.subsetSize(batch: b, rate: c.ratio)
            // At rate 0 the reference takes the plain path and draws nothing: the subset is
            // then every sample in order, which must give the same numbers.
            let perms = c.ratio == 0 ? [Array(0..<b), Array(0..<b)] : c.dinov3.permutations
            #expect(perms.count == 2 && (c.ratio > 0 || c.dinov3.permutations.isEmpty))
            let y = DropPath.subsetResidual(x, indices: Array(perms[0].prefix(s)), scale: g1) { $0.matmul(w1).tanh() }
            let z = DropPath.subsetResidual(y, indices: Array(perms[1].prefix(s)), scale: g2) { $0.matmul(w2).tanh() }
            #expect(mismatch(doubles: z.doubles, c.dinov3.output, rtol: 1e-12, atol: 1e-12) == nil, "ratio \(c.ratio) output")
            (z * Tensor(doubles: c.upstream, shape: c.shape)).sum().backward()
            Self.close(x.grad, c.dinov3.grad_x, "ratio \(c.ratio) dL/dx")
            Self.close(w1.grad, c.dinov3.grad_w1, "ratio \(c.ratio) dL/dW1")
            Self.close(w2.grad, c.dinov3.grad_w2 ?? [], "ratio \(c.ratio) dL/dW2")
            // Samples outside both subsets are unchanged.
            let untouched = Set(0..<b).subtracting(perms[0].prefix(s)).subtracting(perms[1].prefix(s))
            let n = c.shape[1] * d
            for i in untouched { #expect(Array(z.doubles[(i * n)..<((i + 1) * n)]) == Array(c.x[(i * n)..<((i + 1) * n)])) }
        }
    }

    @Test func subsetSizeAndScaleFollowTheFormula() {
        // max(int(B (1 − p)), 1) samples, scaled by B / s.
        #expect(DropPath.subsetSize(batch: 5, rate: 0.4) == 3)
        #expect(DropPath.subsetSize(batch: 5, rate: 0.9) == 1)
        #expect(DropPath.subsetSize(batch: 64, rate: 0.3) == 44)
        #expect(DropPath.subsetSize(batch: 10, rate: 0.0) == 10)
        let x = Tensor(zeros: [4, 1, 2], dtype: .float64)
        let y = DropPath.subsetResidual(x, indices: [2], scale: nil) { _ in Tensor(doubles: [1, 1], shape: [1, 1, 2]) }
        #expect(y.doubles == [0, 0, 0, 0, 4, 4, 0, 0])
    }

    @Test func gradientMatchesFiniteDifferences() {
        let x = Sample.normal([5, 3, 4], seed: 1, dtype: .float64)
        let w = Sample.normal([4, 4], seed: 2, dtype: .float64) * 0.5
        let gamma = Sample.normal([4], seed: 3, dtype: .float64)
        for indices in [[3, 0, 4], [1], [4, 2, 0, 3, 1]] {
            let problem = gradientMismatch([x, w, gamma]) { xs in
                DropPath.subsetResidual(xs[0], indices: indices, scale: xs[2]) { $0.matmul(xs[1]).tanh() }
            }
            #expect(problem == nil, "subset \(indices): \(problem ?? "")")
        }
    }

    @Test func modesPickTheSubsetAtTheReferenceRates() {
        let g = RandomGenerator(seed: 1)
        #expect(!DropPath(rate: 0.3, generator: g).usesBatchSubset)
        #expect(DropPath(rate: 0.05, mode: .batchSubset, generator: g).usesBatchSubset)
        #expect(!DropPath(rate: 0, mode: .batchSubset, generator: g).usesBatchSubset)
        #expect(!DropPath(rate: 0.1, mode: .dinov2, generator: g).usesBatchSubset)
        #expect(DropPath(rate: 0.11, mode: .dinov2, generator: g).usesBatchSubset)
        // The subset mode draws no per-sample mask; the per-sample mode no subset.
        let subset = DropPath(rate: 0.5, mode: .batchSubset, generator: g)
        #expect(subset.sampleScale(like: Tensor(zeros: [4, 2])) == nil)
        #expect(subset.subsetIndices(batch: 4)?.count == 2)
        #expect(DropPath(rate: 0.5, generator: g).subsetIndices(batch: 4) == nil)
        subset.eval()
        #expect(subset.subsetIndices(batch: 4) == nil)
    }

    @Test func vitBlocksUseTheSubsetWhenConfigured() throws {
        var config = try ModelPresets.config(named: "test_dinov3_swiglu")
        #expect(config.dropPathMode == .perSample, "the default is unchanged")
        config.dropPathRate = 0.5
        config.dropPathUniform = true
        config.dropPathMode = .batchSubset
        let model = VisionTransformer(config, generator: RandomGenerator(seed: 5))
        model.initializeWeights(generator: RandomGenerator(seed: 6))
        model.train()
        let block = try #require(model.blocks.first)
        #expect(block.dropPath.mode == .batchSubset && block.dropPath.usesBatchSubset)
        // One block in training equals two subset residuals with the same draws.
        let x = Sample.normal([4, 5, config.embedDimensions], seed: 7)
        let saved = RandomGenerator(seed: 5, offset: block.dropPath.generator.offset)
        let y = block(x)
        let replay = RandomGenerator(seed: 5, offset: saved.offset)
        let s = DropPath.subsetSize(batch: 4, rate: 0.5)
        let i1 = Array(replay.permutation(4).prefix(s))
        let h = DropPath.subsetResidual(x, indices: i1, scale: block.ls1?.gamma.value) { block.attn(block.norm1($0)) }
        let i2 = Array(replay.permutation(4).prefix(s))
        let expected = DropPath.subsetResidual(h, indices: i2, scale: block.ls2?.gamma.value) { block.mlp(block.norm2($0)) }
        #expect(mismatch(y, expected, rtol: 1e-6, atol: 1e-6) == nil)
        // The whole model trains: every parameter gets a finite gradient (masks for the mask token).
        let p = config.patchSize
        let masks = RandomGenerator(seed: 9).bernoulli([4, 4], p: 0.5)
        let f = model.forwardFeatures(Sample.normal([4, 3, 2 * p, 2 * p], seed: 8), masks: masks)
        ((f.classToken * f.classToken).sum() + f.patchTokens.mean()).backward()
        for (key, param) in model.namedParameters() {
            let g = try #require(param.grad, "no gradient for \(key)")
            #expect(g.scalars.allSatisfy { $0.isFinite }, "non-finite gradient for \(key)")
        }
    }

    @Test func configDecodesTheModeByName() throws {
        let c = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(#"{"drop_path_mode": "batch_subset"}"#))
        #expect(c.dropPathMode == .batchSubset)
        #expect(try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse("{}")).dropPathMode == .perSample)
        #expect {
            _ = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(#"{"drop_path_mode": "subset"}"#))
        } throws: { error in
            "\(error)".contains("drop_path_mode")
        }
    }
}
