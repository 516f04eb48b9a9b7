// `dino embed --model convnext_* --weights FILE` through the argument parser.

@testable import dino
import DinoModels
import DinoTensor
import DinoVision
import Foundation
import Testing

@Suite struct EmbedConvNeXtTests {
    @Test func embedLoadsConvNeXtWeightsByPresetName() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-embed-convnext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<3 {
            let image = RGBImage(width: 70 + i, height: 64) { p in
                for k in 0..<((70 + i) * 64 * 3) { p[k] = UInt8((k * (i + 5)) % 253) }
            }
            try image.writePNG(to: dir.appendingPathComponent("img\(i).png"))
        }
        // Random weights in the official layout, as a checkpoint converted with `dino convert`.
        let model = try ConvNeXt.load(preset: "test_convnext", weights: nil, seed: 9)
        let weights = dir.appendingPathComponent("convnext.safetensors")
        try SafeTensors.write(model.stateDict(), to: weights)
        let out = dir.appendingPathComponent("e.safetensors")
        try EmbedCommand.parse(["--model", "test_convnext", "--weights", weights.path, "--data", dir.path,
                                "--out", out.path, "--image-size", "64", "--patch-tokens"]).run()
        let file = try SafeTensors.read(from: out)
        #expect(file.tensors["embeddings"]?.shape == [3, 32])
        #expect(file.tensors["patch_tokens"]?.shape == [3, 4, 32])
        let expected = try model.embed(paths: (0..<3).map { dir.appendingPathComponent("img\($0).png").path },
                                       transform: EvaluationTransform(imageSize: 64))
        let stored = try JSONDecoder().decode([String].self, from: Data(try #require(file.metadata["paths"]).utf8))
        #expect(stored.map { URL(fileURLWithPath: $0).lastPathComponent } == ["img0.png", "img1.png", "img2.png"])
        #expect(file.tensors["embeddings"]!.scalars == expected.classTokens.scalars)
        // The same weights in timm's and transformers' layouts (DinoModelsTests' parity fixtures),
        // detected or named with --layout, embed as the official file does.
        let parity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DinoModelsTests/Fixtures/parity")
        var embeddings: [[Float]] = []
        for (name, layout) in [("official", nil), ("timm", nil), ("transformers", "transformers")] as [(String, String?)] {
            let file = dir.appendingPathComponent("\(name).safetensors")
            try EmbedCommand.parse(["--model", "test_convnext", "--weights", parity.appendingPathComponent("convnext_\(name).safetensors").path,
                                    "--data", dir.path, "--out", file.path, "--image-size", "64"] + (layout.map { ["--layout", $0] } ?? [])).run()
            embeddings.append(try #require(try SafeTensors.read(from: file).tensors["embeddings"]).scalars)
        }
        #expect(embeddings[1] == embeddings[0] && embeddings[2] == embeddings[0])
    }

    /// `dino show pca --model test_convnext` writes the figure; `show attention` refuses a
    /// ConvNeXt with the reason.
    @Test func showPCATakesAConvNeXtAndAttentionRefusesIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-show-convnext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("a.png")
        try RGBImage(width: 70, height: 64) { p in for k in 0..<(70 * 64 * 3) { p[k] = UInt8((k * 7) % 251) } }.writePNG(to: image)
        let out = dir.appendingPathComponent("pca.png")
        try ShowPCA.parse(["--model", "test_convnext", "--random-init", "--image", image.path, "--image-size", "64", "--out", out.path]).run()
        let figure = try ImageDecoder.decode(contentsOf: out)
        #expect(figure.width == 64 + 2 + 64 && figure.height == 64)
        do {
            try ShowAttention.parse(["--model", "test_convnext", "--random-init", "--image", image.path, "--image-size", "64",
                                     "--out", dir.appendingPathComponent("att.png").path]).run()
            Issue.record("show attention took a ConvNeXt")
        } catch {
            #expect("\(error)".contains("has no attention") && "\(error)".contains("show pca"), "\(error)")
        }
    }
}
