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

@Suite struct ParameterGroupTests {
    @Test func groupsFollowDeclaredRoles() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"))   // depth 2
        let groups = model.parameterGroups(prefix: "student.", layerDecay: 0.5, patchEmbedLRMultiplier: 0.2)
        var lr: [String: Double] = [:], wd: [String: Double] = [:]
        for g in groups { for n in g.names { lr[n] = g.lrMultiplier; wd[n] = g.weightDecayMultiplier } }
        #expect(lr.count == model.namedParameters().count)
        // Layer 0 (embeddings): 0.5^3; patch embedding also × 0.2; block 1 (layer 2): 0.5; final norm: 1.
        #expect(lr["student.cls_token"] == 0.125 && wd["student.cls_token"] == 1)
        #expect(abs(lr["student.patch_embed.proj.weight"]! - 0.025) < 1e-12)
        #expect(lr["student.blocks.1.attn.qkv.weight"] == 0.5 && wd["student.blocks.1.attn.qkv.weight"] == 1)
        #expect(wd["student.blocks.1.attn.qkv.bias"] == 0 && wd["student.blocks.0.ls1.gamma"] == 0)
        #expect(lr["student.norm.weight"] == 1 && wd["student.norm.weight"] == 0)
        #expect(groups.allSatisfy { g in g.parameters.allSatisfy { $0.isLeaf && $0.isContiguous } })
    }
}
