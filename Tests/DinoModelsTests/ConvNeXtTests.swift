import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import DinoVision
import Testing

/// scripts/make_convnext_fixtures.py: the official DINOv3 ConvNeXt (tiny size, random
/// weights) and its forward_features outputs on 70 × 66 images.
@Suite struct ConvNeXtTests {
    static func fixture() throws -> (checkpoint: URL, io: [String: Tensor]) {
        let dir = try #require(Bundle.module.url(forResource: "parity", withExtension: nil, subdirectory: "Fixtures"))
        let io = try SafeTensors.read(from: dir.appendingPathComponent("convnext_official.io.safetensors")).tensors
        return (dir.appendingPathComponent("convnext_official.safetensors"), io)
    }

    /// Pooled feature, normalised final-map tokens and pre-norm tokens within 1e-4 of the
    /// reference, the official state dict loaded strictly (its `norms.3` alias included).
    @Test func forwardFeaturesMatchTheReference() throws {
        let (checkpoint, io) = try Self.fixture()
        let model = try ConvNeXt.load(preset: "test_convnext", weights: checkpoint)
        let images = try #require(io["images"])
        let f = withNoGrad { model.forwardFeatures(images) }
        #expect(f.grid.height == 2 && f.grid.width == 2)
        #expect(close(f.classToken, io["x.cls"]) == nil)
        #expect(close(f.patchTokens, io["x.patch"]) == nil)
        #expect(close(f.prenorm, io["x.prenorm"]) == nil)
        #expect(f.registerTokens.shape == [2, 0, 32])
        // The last stage's map, channels-last here, (N, C, h, w) in the reference.
        let map = withNoGrad { model.forwardMap(images) }
        #expect(close(map.permute([0, 3, 1, 2]).contiguousCopy(), io["x.map"]) == nil)
    }

    /// The four stages as the reference's `get_intermediate_layers(n=4, return_class_token=True,
    /// norm=True)` gives them (pooled maps and maps at strides 4–32, only the last through the final
    /// norm), the last stage without norm (`n=[3], norm=False`), and the linear protocols' inputs
    /// (`create_linear_input` of 4 and 1 blocks with avgpool), within 1e-4
    /// (scripts/make_convnext_layers_fixtures.py).
    @Test func intermediateLayersMatchTheReference() throws {
        let (checkpoint, io) = try Self.fixture()
        let layers = try SafeTensors.read(from: checkpoint.deletingLastPathComponent()
            .appendingPathComponent("convnext_official.layers.safetensors")).tensors
        let model = try ConvNeXt.load(preset: "test_convnext", weights: checkpoint)
        let images = try #require(io["images"])
        #expect(model.blockCount == 4 && model.blockDimensions == [8, 16, 24, 32] && model.blockStrides == [4, 8, 16, 32])
        let outs = withNoGrad { model.intermediateLayers(images, last: 4) }
        #expect(outs.map(\.patchTokens.shape) == [[2, 17 * 16, 8], [2, 8 * 8, 16], [2, 4 * 4, 24], [2, 2 * 2, 32]])
        for (i, o) in outs.enumerated() {
            #expect(close(o.classToken, layers["n4.\(i).cls"]) == nil, "stage \(i)")
            #expect(close(o.patchTokens, layers["n4.\(i).patch"]) == nil, "stage \(i)")
        }
        let raw = withNoGrad { model.intermediateLayers(images, blocks: [3], norm: false) }
        #expect(close(raw[0].classToken, layers["raw3.cls"]) == nil)
        #expect(close(raw[0].patchTokens, layers["raw3.patch"]) == nil)
        let linear4 = withNoGrad { model.linearProbeFeatures(images, lastBlocks: 4, averagePool: true) }
        #expect(linear4.shape == [2, 8 + 16 + 24 + 32 + 32])
        #expect(close(linear4, layers["linear.n4.avgpool"]) == nil)
        #expect(close(withNoGrad { model.linearProbeFeatures(images, lastBlocks: 1, averagePool: true) }, layers["linear.n1.avgpool"]) == nil)
        // The last stage normed is what `forwardFeatures` gives.
        #expect(close(outs[3].classToken, io["x.cls"]) == nil && close(outs[3].patchTokens, io["x.patch"]) == nil)
    }

    /// The parity checkpoint in timm's layout (timm's own `checkpoint_filter_fn`, loaded strictly
    /// into timm's ConvNeXt) and in transformers' `DINOv3ConvNextModel` layout (its conversion
    /// script's mapping) loads into the same tensors as the official file, the layout detected or
    /// given (scripts/make_convnext_layout_fixtures.py); timm's classifier `head.fc.*` is left out.
    @Test func timmAndTransformersLayoutsLoad() throws {
        let (checkpoint, _) = try Self.fixture()
        let dir = checkpoint.deletingLastPathComponent()
        let official = try ConvNeXt.load(preset: "test_convnext", weights: checkpoint)
        let expected = Dictionary(uniqueKeysWithValues: official.namedTensors().map { ($0.0, $0.1.value.scalars) })
        for layout in [CheckpointLayout.timm, .transformers] {
            let file = dir.appendingPathComponent("convnext_\(layout.rawValue).safetensors")
            let keys = try SafeTensors.readHeader(from: file).entries.map(\.name)
            #expect(CheckpointLayout.detectConvNeXt(keys: keys) == layout)
            #expect(!keys.contains("norm.weight") && !keys.contains("stages.0.0.dwconv.weight"))
            for given in [nil, layout] {
                let model = try ConvNeXt.load(preset: "test_convnext", weights: file, layout: given)
                for (k, t) in model.namedTensors() { #expect(t.value.scalars == expected[k], "\(layout) \(k)") }
            }
        }
        #expect(CheckpointLayout.detectConvNeXt(keys: try SafeTensors.readHeader(from: checkpoint).entries.map(\.name)) == .official)
        // timm's classifier head is no backbone key.
        var timm = try SafeTensors.read(from: dir.appendingPathComponent("convnext_timm.safetensors")).tensors
        timm["head.fc.weight"] = Tensor.zeros([5, 32])
        timm["head.fc.bias"] = Tensor.zeros([5])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnext_timm_head_\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(timm, to: url)
        let withHead = try ConvNeXt.load(preset: "test_convnext", weights: url)
        #expect(withHead.norm.weight.value.scalars == official.norm.weight.value.scalars)
    }

    /// transformers' ImageNet ConvNeXt (`ConvNextForImageClassification` at the test size, random
    /// weights; scripts/make_convnext_imagenet_fixtures.py): its file loads with the layout
    /// detected (its `classifier.*` left out) and the model gives transformers' `pooler_output`
    /// (our class token) and `last_hidden_state` (our last stage's map) within 1e-4.
    @Test func transformersImageNetConvNeXtMatchesTransformers() throws {
        let (checkpoint, io) = try Self.fixture()
        let dir = checkpoint.deletingLastPathComponent()
        let file = dir.appendingPathComponent("convnext_hf_imagenet.safetensors")
        let expected = try SafeTensors.read(from: dir.appendingPathComponent("convnext_hf_imagenet.io.safetensors")).tensors
        let keys = try SafeTensors.readHeader(from: file).entries.map(\.name)
        #expect(keys.contains("classifier.weight") && keys.contains("convnext.encoder.stages.2.layers.1.layer_scale_parameter"))
        #expect(CheckpointLayout.detectConvNeXt(keys: keys) == .transformers)
        let model = try ConvNeXt.load(preset: "test_convnext", weights: file)
        let images = try #require(io["images"])
        let f = withNoGrad { model.forwardFeatures(images) }
        #expect(close(f.classToken, expected["pooler"]) == nil)
        let map = withNoGrad { model.forwardMap(images) }
        #expect(close(map.permute([0, 3, 1, 2]).contiguousCopy(), expected["map"]) == nil)
        // The official parity checkpoint's weights give other outputs: the file was really read.
        let official = try ConvNeXt.load(preset: "test_convnext", weights: checkpoint)
        #expect(close(withNoGrad { official.forwardFeatures(images) }.classToken, expected["pooler"]) != nil)
    }

    @Test func aDifferingNormAliasIsRefused() throws {
        let (checkpoint, _) = try Self.fixture()
        var tensors = try SafeTensors.read(from: checkpoint).tensors
        tensors["norms.3.bias"] = tensors["norms.3.bias"]! + 1
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnext_bad_alias_\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(tensors, to: url)
        #expect(throws: (any Error).self) { try ConvNeXt.load(preset: "test_convnext", weights: url) }
        do { _ = try ConvNeXt.load(preset: "test_convnext", weights: url) } catch {
            #expect("\(error)".contains("norms.3.bias"))
        }
    }

    /// Every ConvNeXt preset against scripts/reference_param_counts.py: parameter count,
    /// number of blocks, and the state-dict keys and shapes (block 0 of each stage standing for
    /// the stage; the reference's `norms.3.*` alias of `norm.*` left out), allocating nothing.
    @Test(arguments: ConvNeXtPresets.names)
    func parameterCountAndKeysMatchReference(name: String) throws {
        let reference = try #require(try loadReferencePresets()[name])
        let model = ConvNeXt(try ConvNeXtPresets.config(named: name))
        #expect(model.parameterCount == reference.params)
        #expect(model.stages.map(\.count).reduce(0, +) == reference.depth)
        var shapes: [String: [Int]] = [:]
        for (key, p) in model.namedTensors() {
            let parts = key.split(separator: ".")
            if parts.count > 2, parts[0] == "stages", let j = Int(parts[2]), j > 0 { continue }
            shapes[key] = p.shape
        }
        #expect(shapes == reference.shapes.filter { !$0.key.hasPrefix("norms.") })
        #expect(model.namedTensors().allSatisfy { !$0.1.isMaterialized })
    }

    /// Training mode with drop path: gradients reach every parameter, and the output of a
    /// block in evaluation is deterministic.
    @Test func trainsWithGradientsEverywhere() throws {
        var config = try ConvNeXtPresets.config(named: "test_convnext")
        config.dropPathRate = 0.1
        let model = ConvNeXt(config, generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        model.train()
        let f = model.forwardFeatures(Sample.normal([4, 3, 64, 64], seed: 3))
        #expect(f.classToken.shape == [4, 32] && f.patchTokens.shape == [4, 4, 32])
        ((f.classToken * f.classToken).sum() + (f.patchTokens * f.patchTokens).sum()).backward()
        let missing = model.namedParameters().filter { $0.1.grad == nil }.map(\.0)
        #expect(missing.isEmpty, "no gradient for \(missing)")
        // LayerScale starts at 1e-6, as the reference.
        #expect(model.stages[0][0].gamma?.value.scalars.allSatisfy { abs($0 - 1e-6) < 1e-12 } == true)
    }
}

@Suite struct ConvNeXtEmbeddingTests {
    /// `embed` on a ConvNeXt: the pooled feature as the embedding, the final 2 × 2 map (64-px
    /// crops, stride 32) as patch tokens, each image as its own forward pass gives them.
    @Test func embedGivesPooledFeatureAndFinalMapTokens() throws {
        let (dir, paths) = try syntheticImageFolder(count: 3, broken: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ConvNeXt.load(preset: "test_convnext", weights: nil, seed: 4)
        #expect(model.patchSize == 32 && model.embedDimensions == 32)
        let transform = EvaluationTransform(imageSize: 64)
        let e = try model.embed(paths: paths, transform: transform, batchSize: 2, patchTokens: true)
        #expect(e.classTokens.shape == [3, 32] && e.patchTokens?.shape == [3, 4, 32])
        for (i, path) in e.paths.enumerated() {
            let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
            let f = withNoGrad { model.forwardFeatures(transform(image).unsqueeze(0)) }
            #expect(mismatch(e.classTokens.slice(axis: 0, start: i, end: i + 1), f.classToken, rtol: 1e-5, atol: 1e-5) == nil)
            #expect(mismatch(e.patchTokens!.slice(axis: 0, start: i, end: i + 1), f.patchTokens, rtol: 1e-5, atol: 1e-5) == nil)
        }
        #expect(throws: EmbeddingError.self) { try model.embed(paths: [], transform: EvaluationTransform(imageSize: 48)) }
    }

    /// `pcaFigure` on a ConvNeXt: per image the 64-px crop beside its 2 × 2 final map enlarged to
    /// 32-px cells, coloured by the PCA of the normed patch tokens (`FeatureMaps.pca` of
    /// `forwardFeatures`).
    @Test func pcaFigureShowsTheFinalMap() throws {
        let model = try ConvNeXt.load(preset: "test_convnext", weights: nil, seed: 4)
        let images = [RGBImage(width: 80, height: 64, red: 200), RGBImage(width: 64, height: 90, green: 90)]
        let t = EvaluationTransform(imageSize: 64)
        let figure = model.pcaFigure(images, transform: t)
        #expect(figure.width == 64 + 2 + 64 && figure.height == 2 * 64 + 2)
        let batch = Tensor.stack(images.map { t($0) }, axis: 0)
        let maps = FeatureMaps.pca(withNoGrad { model.forwardFeatures(batch).patchTokens }, grid: (2, 2))
        #expect(figure == RGBImage.stacked(zip(images, maps).map { RGBImage.sideBySide([t.crop($0), $1.enlarged(32)]) }))
    }
}
