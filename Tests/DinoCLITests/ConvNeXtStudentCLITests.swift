// `dino train --method distill --model test_dinov2,test_convnext`: a ViT and a ConvNeXt student
// of one teacher run; the run resumes bit-exactly; the ConvNeXt student exports with the
// official keys and is evaluated by `dino eval knn|linear|report --run RUN --student test_convnext`;
// depth lin.4 refuses it with the reason; video propagates on its map.

@testable import dino
import DinoEval
import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import Testing

private let convNeXtEvalFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("DinoEvalTests/Fixtures")

@Suite struct ConvNeXtStudentCLITests {
    static func train(_ run: URL, extra: [String] = []) throws {
        try TrainCommand.parse(["--method", "distill", "--data", fixtureRuns.appendingPathComponent("images").path, "--out", run.path,
                                "--teacher-run", fixtureRuns.appendingPathComponent("dinov2").path,
                                "--model", "test_dinov2,test_convnext", "--batch-size", "2", "--epochs", "2", "--quiet",
                                "dino.head.hidden_dimensions=16", "dino.head.bottleneck_dimensions=8",
                                "ibot.head.hidden_dimensions=16", "ibot.head.bottleneck_dimensions=8",
                                "crops.global_size=64", "crops.local_size=32", "crops.local_count=2", "data.workers=1"] + extra).run()
    }

    @Test func aConvNeXtStudentTrainsResumesExportsAndIsEvaluated() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("convnext-student-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let whole = scratch.appendingPathComponent("whole"), parts = scratch.appendingPathComponent("parts")
        try Self.train(whole)
        let reference = try #require(try CheckpointStore(directory: whole.appendingPathComponent("checkpoints")).loadLatest())
        #expect(reference.state.step == 4)
        #expect(reference.tensors["test_convnext.student.backbone.stages.2.1.dwconv.weight"] != nil)
        #expect(reference.tensors["test_convnext.student_ema.backbone.norm.weight"] != nil)
        let lines = try String(contentsOf: whole.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = try JSONDecoder().decode([String: Double].self, from: Data(lines.last!.utf8))
        #expect(last["test_convnext/ibot_loss"].map(\.isFinite) == true)

        // Stopped after three steps and resumed: every tensor as in the run that went through.
        try Self.train(parts, extra: ["--max-steps", "3"])
        try TrainCommand.parse(["--resume", "--out", parts.path, "--data", fixtureRuns.appendingPathComponent("images").path, "--quiet"]).run()
        let resumed = try #require(try CheckpointStore(directory: parts.appendingPathComponent("checkpoints")).loadLatest())
        #expect(Set(resumed.tensors.keys) == Set(reference.tensors.keys))
        #expect(resumed.state.step == 4)
        for (k, t) in reference.tensors { #expect(resumed.tensors[k]?.scalars == t.scalars, "\(k)") }

        // Export: the EMA with the official keys, loadable as the preset.
        let file = scratch.appendingPathComponent("convnext.safetensors")
        try ExportCommand.parse(["--run", whole.path, "--out", file.path, "--student", "test_convnext"]).run()
        let exported = try ConvNeXt.load(preset: "test_convnext", weights: file)
        #expect(exported.norm.weight.value.scalars == reference.tensors["test_convnext.student_ema.backbone.norm.weight"]?.scalars)

        // k-NN through the CLI on a two-class folder of the fixture images.
        let data = scratch.appendingPathComponent("labelled")
        for (split, files) in [("train", ["A", "B", "C", "D"]), ("val", ["A", "D"])] {
            for (i, f) in files.enumerated() {
                let dir = data.appendingPathComponent(split).appendingPathComponent(i % 2 == 0 ? "even" : "odd")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: fixtureRuns.appendingPathComponent("images/\(f).png"), to: dir.appendingPathComponent("\(f).png"))
            }
        }
        let (model, size) = try EvalBackbone.parse(["--run", whole.path, "--student", "test_convnext"]).loadEmbedding()
        #expect(model is ConvNeXt && size == 64)
        try EvalKNN.parse(["--run", whole.path, "--student", "test_convnext", "--train", data.appendingPathComponent("train").path,
                           "--val", data.appendingPathComponent("val").path, "--k", "1", "--json"]).run()
        // The evaluations that read block outputs take the student: the DINOv2 linear protocol's
        // "last 4 blocks" are its 4 stages (1 and 4 blocks × avgpool × 12 rates).
        let linearOut = scratch.appendingPathComponent("linear.json")
        try EvalLinear.parse(["--run", whole.path, "--student", "test_convnext", "--train", data.appendingPathComponent("train").path,
                              "--val", data.appendingPathComponent("val").path, "--protocol", "dinov2", "--cached", "--epochs", "1",
                              "--output", linearOut.path, "--json"]).run()
        let linear = try JSONDecoder().decode(LinearProtocolResult.self, from: Data(contentsOf: linearOut))
        #expect(linear.rows.count == 48 && Set(linear.rows.map(\.setting.blocks)) == [1, 4] && linear.training == "cached")
        // The report, on the student (lin.1 depth: a ConvNeXt's stages lie on four grids).
        let ade = convNeXtEvalFixtures.appendingPathComponent("ade20k").path, nyu = convNeXtEvalFixtures.appendingPathComponent("depth-nyu").path
        let reportDir = scratch.appendingPathComponent("report")
        try EvalReport.parse([
            "--run", whole.path, "--student", "test_convnext", "--suite", "knn,linear,segmentation,depth", "--out", reportDir.path,
            "--data-train", data.appendingPathComponent("train").path, "--data-val", data.appendingPathComponent("val").path,
            "--data-seg-train", "\(ade)/images/training", "--data-seg-val", "\(ade)/images/validation", "--data-masks", "\(ade)/annotations",
            "--segmentation-recipe", "dinov3", "--segmentation-iterations", "2", "--reduce-zero-label",
            "--data-depth-train", "\(nyu)/images/train", "--data-depth-val", "\(nyu)/images/val", "--data-depth", "\(nyu)/depth",
            "--linear-epochs", "1", "--linear-cached", "--depth-epochs", "1", "--max-depth", "16",
        ]).run()
        let report = try EvaluationReport.read(reportDir.appendingPathComponent("report.json"))
        #expect(report.sections.map(\.name) == ["knn", "linear", "segmentation", "depth"])
        #expect(report.sections.allSatisfy { !$0.metrics.isEmpty && $0.metrics.allSatisfy { $0.value.isFinite } })
        #expect(report.backbone.contains("ConvNeXt 8/16/24/32 wide stages"), "\(report.backbone)")
        #expect(report.sections[3].setting.contains("lin.1"), "\(report.sections[3].setting)")
        // Fine-tuning the ConvNeXt student (not the run's first student) with a linear head.
        let ft = scratch.appendingPathComponent("ft")
        try FinetuneCommand.parse(["--run", whole.path, "--student", "test_convnext", "--train", data.appendingPathComponent("train").path,
                                   "--val", data.appendingPathComponent("val").path, "--out", ft.path, "--epochs", "1",
                                   "--batch-size", "2", "--quiet", "--json"]).run()
        let record = try JSONDecoder().decode(FinetuneRecord.self, from: Data(contentsOf: ft.appendingPathComponent("finetune.json")))
        #expect(record.initialization == .run(whole.path, student: "test_convnext"))
        let (classifier, info) = try ImageClassifier.load(from: ft.appendingPathComponent("model.safetensors"))
        #expect(classifier.backbone is ConvNeXt && info.classes == ["even", "odd"] && info.inputSize == 64)
        // Depth lin.4 is refused with the reason.
        do {
            try EvalDepth.parse(["--run", whole.path, "--student", "test_convnext", "--train", "\(nyu)/images/train",
                                 "--val", "\(nyu)/images/val", "--depth", "\(nyu)/depth", "--layers", "4"]).run()
            Issue.record("depth lin.4 on a ConvNeXt ran")
        } catch { #expect("\(error)".contains("use 1 layer"), "\(error)") }
        // Video propagates on the student's map, in the report and with a pseudo patch size.
        let davis = convNeXtEvalFixtures.appendingPathComponent("davis").path
        let videoDir = scratch.appendingPathComponent("report-video")
        try EvalReport.parse(["--run", whole.path, "--student", "test_convnext", "--suite", "video",
                              "--data-videos", davis, "--out", videoDir.path]).run()
        let video = try EvaluationReport.read(videoDir.appendingPathComponent("report.json"))
        // (the 64-px frames give this stride-32 student a 2×2 map, so the scores may well be 0)
        let (student, _) = try EvalBackbone.parse(["--run", whole.path, "--student", "test_convnext"]).loadEmbedding()
        var videoOptions = VideoEvaluationOptions()
        videoOptions.overlayFrames = 0
        let direct = try evaluateVideo(model: student, dataset: DAVISDataset(root: davis, set: "val"), options: videoOptions)
        #expect(video.sections.map(\.name) == ["video"] && video.sections[0].metrics.first?.value == 100 * direct.scores.jAndF)
        try EvalVideo.parse(["--run", whole.path, "--student", "test_convnext", "--data", davis, "--patch-size", "16", "--json"]).run()
    }
}
