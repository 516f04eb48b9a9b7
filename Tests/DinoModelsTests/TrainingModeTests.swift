import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import Testing

@Suite struct TrainingModeTests {
    /// In training (drop path, RoPE augmentation) on another image size with masks, every
    /// trainable parameter receives a finite gradient.
    @Test(arguments: ["test_dino", "test_dinov2_reg", "test_dinov2_swiglu", "test_dinov3_swiglu"])
    func everyParameterGetsAGradient(name: String) throws {
        var config = try ModelPresets.config(named: name)
        config.dropPathRate = 0.2
        if config.rope != nil { config.rope?.jitterCoords = 1.5; config.rope?.shiftCoords = 0.1 }
        let model = VisionTransformer(config, generator: RandomGenerator(seed: 5))
        model.initializeWeights(generator: RandomGenerator(seed: 6))
        model.train()
        let p = config.patchSize
        let images = Sample.normal([4, 3, 3 * p, 5 * p], seed: 7)
        let masks = config.maskToken ? RandomGenerator(seed: 8).bernoulli([4, 15], p: 0.5) : nil
        let f = model.forwardFeatures(images, masks: masks)
        let loss = (f.classToken * f.classToken).sum() + f.patchTokens.mean() * 3
        loss.backward()
        for (key, param) in model.namedParameters() {
            let g = try #require(param.grad, "\(name): no gradient for \(key)")
            #expect(g.scalars.allSatisfy { $0.isFinite }, "\(name): non-finite gradient for \(key)")
        }
        // Two training passes differ (drop path); evaluation passes agree.
        let a = model.forwardFeatures(images).classToken.scalars
        let b = model.forwardFeatures(images).classToken.scalars
        #expect(a != b)
        model.eval()
        let c = withNoGrad { model.forwardFeatures(images).classToken.scalars }
        let d = withNoGrad { model.forwardFeatures(images).classToken.scalars }
        #expect(c == d)
    }

    @Test func layerIndicesAndRolesForTheOptimizer() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2_reg"))
        let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1) })
        #expect(params["pos_embed"]?.layerIndex == 0 && params["register_tokens"]?.layerIndex == 0)
        #expect(params["patch_embed.proj.weight"]?.layerIndex == 0 && params["patch_embed.proj.weight"]?.isPatchEmbedding == true)
        #expect(params["blocks.1.mlp.fc1.weight"]?.layerIndex == 2)
        #expect(params["norm.weight"]?.layerIndex == 3 && params["norm.weight"]?.kind == .normalization)
        #expect(params["blocks.0.ls1.gamma"]?.kind == .layerScale && params["mask_token"]?.kind == .token)
    }
}
