import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// A folder of small synthetic PNG images (and one broken file) for the embedding tests.
func syntheticImageFolder(count: Int, broken: Bool = true) throws -> (URL, [String]) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dino-embed-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var paths: [String] = []
    for i in 0..<count {
        let image = RGBImage(width: 40 + 3 * i, height: 36) { p in
            for k in 0..<((40 + 3 * i) * 36 * 3) { p[k] = UInt8((k * (i + 7)) % 251) }
        }
        let url = dir.appendingPathComponent("img\(i).png")
        try image.writePNG(to: url)
        paths.append(url.path)
    }
    if broken {
        let url = dir.appendingPathComponent("broken.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]).write(to: url)
        paths.insert(url.path, at: 1)
    }
    return (dir, paths)
}

@Suite struct EmbeddingTests {
    @Test func batchedEmbeddingsEqualSingleForwardsAndSkipBrokenFiles() throws {
        let (dir, paths) = try syntheticImageFolder(count: 5)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2_reg"))
        model.initializeWeights(generator: RandomGenerator(seed: 1))
        let transform = EvaluationTransform(imageSize: 32)
        #expect(transform.resizeSize == 37)
        let e = try model.embed(paths: paths, transform: transform, batchSize: 2, patchTokens: true)
        #expect(e.failures.map(\.path) == [paths[1]])
        #expect(e.paths == paths.enumerated().filter { $0.offset != 1 }.map(\.element))
        #expect(e.classTokens.shape == [5, 32] && e.patchTokens?.shape == [5, 64, 32])
        model.eval()
        for (i, path) in e.paths.enumerated() {
            let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
            let f = withNoGrad { model.forwardFeatures(transform(image).unsqueeze(0)) }
            #expect(mismatch(e.classTokens.slice(axis: 0, start: i, end: i + 1), f.classToken, rtol: 1e-5, atol: 1e-5) == nil)
        }
        let out = dir.appendingPathComponent("e.safetensors")
        try e.write(to: out, metadata: ["model": "test_dinov2_reg"])
        let file = try SafeTensors.read(from: out)
        #expect(Set(file.tensors.keys) == ["embeddings", "patch_tokens"])
        let stored = try JSONDecoder().decode([String].self, from: Data(try #require(file.metadata["paths"]).utf8))
        #expect(stored == e.paths && file.metadata["model"] == "test_dinov2_reg")
    }

    @Test func imageSizeMustFitThePatches() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov3"))
        #expect(throws: EmbeddingError.self) { try model.embed(paths: [], transform: EvaluationTransform(imageSize: 30)) }
    }

    @Test func figuresHaveOneRowPerImage() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov3"))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        let images = [RGBImage(width: 50, height: 40, red: 200), RGBImage(width: 40, height: 60, green: 90)]
        let t = EvaluationTransform(imageSize: 32)
        let pca = model.pcaFigure(images, transform: t)
        #expect(pca.width == 32 + 2 + 32 && pca.height == 2 * 32 + 2)
        let attention = model.attentionFigure(images, transform: t)
        #expect(attention.width == 32 + 2 * (2 + 32) && attention.height == 2 * 32 + 2)   // 2 heads
    }
}
