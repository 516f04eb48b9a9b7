// `dino finetune` and `dino predict` through their argument parsers: the backbone flags, a
// short run stopped and resumed, then the exported classifier applied to images.

@testable import dino
import DinoEval
import DinoTensor
import Foundation
import Testing

@Suite struct FinetuneArgumentTests {
    static let glyphs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/glyphs-mini")

    @Test func backboneFlagsAreExclusive() throws {
        let base = ["--out", "/tmp/unused", "--train", "t", "--val", "v"]
        #expect(try FinetuneCommand.parse(base + ["--run", "R"]).initialization() == .run("R"))
        #expect(try FinetuneCommand.parse(base + ["--weights", "W", "--model", "m"]).initialization() == .weights("W", model: "m"))
        #expect(try FinetuneCommand.parse(base + ["--init", "random", "--model", "m"]).initialization() == .random(model: "m"))
        #expect(throws: (any Error).self) { try FinetuneCommand.parse(base + ["--run", "R", "--weights", "W"]).initialization() }
        #expect(throws: (any Error).self) { try FinetuneCommand.parse(base + ["--init", "random"]).initialization() }
        #expect(throws: (any Error).self) { try FinetuneCommand.parse(base + ["--init", "pretrained", "--model", "m"]).initialization() }
        let c = try FinetuneCommand.parse(base + ["--run", "R", "--label-fraction", "0.1", "--pooling", "cls_token", "smoothing=0"])
        #expect(c.settingOverrides == ["smoothing=0", "label_fraction=0.1", "pooling=\"cls_token\""])
        let r = try FinetuneCommand.parse(base + ["--run", "R", "--recipe", "low-shot", "--head-init", "random"])
        #expect(r.settingOverrides == ["recipe=\"low_shot\"", "head_init=\"random\""])
    }

    @Test func finetuneStopResumeExportAndPredict() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cli-ft-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let args = ["--init", "random", "--model", "test_dino", "--train", Self.glyphs.appendingPathComponent("train").path,
                    "--val", Self.glyphs.appendingPathComponent("val").path, "--out", out.path, "--epochs", "1",
                    "--batch-size", "16", "--label-fraction", "0.25", "--quiet", "warmup_epochs=0"]
        try FinetuneCommand.parse(args + ["--max-steps", "2"]).run()
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(FinetuneRun.modelName).path))
        #expect(throws: (any Error).self) { try FinetuneCommand.parse(["--out", out.path, "--resume", "--epochs", "3"]).run() }
        try FinetuneCommand.parse(["--out", out.path, "--resume", "--quiet"]).run()
        let model = out.appendingPathComponent(FinetuneRun.modelName)
        #expect(FileManager.default.fileExists(atPath: model.path))
        let eval = try JSONDecoder().decode(FinetuneAccuracy.self, from: Data(contentsOf: out.appendingPathComponent(FinetuneRun.evalName)))
        #expect(eval.images == 156)
        let csv = out.appendingPathComponent("p.csv"), json = out.appendingPathComponent("p.json")
        try PredictCommand.parse(["--classifier", model.path, "--top", "3", "--csv", csv.path, "--json-out", json.path,
                                  Self.glyphs.appendingPathComponent("val/B").path]).run()
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "path,label_1,score_1,label_2,score_2,label_3,score_3")
        #expect(lines.count == 7)   // 6 typefaces of B
        let predictions = try JSONDecoder().decode([ImagePrediction].self, from: Data(contentsOf: json))
        #expect(predictions.count == 6 && predictions.allSatisfy { $0.top.count == 3 })
    }
}

@Suite struct PredictHeadArgumentTests {
    @Test func aSavedSegmentationHeadWritesMaskPictures() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-head-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let head = LinearSegmentationHead(dimensions: 32, classes: 3, generator: RandomGenerator(seed: 1))
        let file = dir.appendingPathComponent("seg.safetensors")
        try saveDenseHead(head, info: DenseHeadInfo(kind: .segmentation, imageSize: 32, embedDimensions: 32, classes: 3,
                                                    backbone: "--model test_dinov2"), to: file)
        let image = FinetuneArgumentTests.glyphs.appendingPathComponent("val/C").path
        try PredictCommand.parse(["--head", file.path, "--model", "test_dinov2", "--out", dir.appendingPathComponent("pics").path,
                                  "--json", image]).run()
        let pictures = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("pics").path)
        #expect(pictures.count == 6 && pictures.allSatisfy { $0.hasSuffix(".mask.png") })
        // A head needs --out, and exactly one of --classifier / --head.
        #expect(throws: (any Error).self) { try PredictCommand.parse(["--head", file.path, "--model", "test_dinov2", image]).run() }
        #expect(throws: (any Error).self) { try PredictCommand.parse([image]).run() }
    }
}
