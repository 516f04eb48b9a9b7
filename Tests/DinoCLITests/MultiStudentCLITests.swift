// `dino train --method distill --model a,b`: two students from one teacher run, exported one
// by one (`dino export --student`), evaluated by `--run RUN --student NAME`.

@testable import dino
import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import Foundation
import Testing

@Suite struct MultiStudentCLITests {
    @Test func twoStudentsTrainExportAndLoadForEvaluation() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("multistudent-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let images = fixtureRuns.appendingPathComponent("images").path
        let run = scratch.appendingPathComponent("students")
        try TrainCommand.parse(["--method", "distill", "--data", images, "--out", run.path,
                                "--teacher-run", fixtureRuns.appendingPathComponent("dinov2").path,
                                "--model", "test_dinov2,test_dinov2_swiglu", "--batch-size", "2", "--epochs", "1", "--quiet",
                                "dino.head.hidden_dimensions=16", "dino.head.bottleneck_dimensions=8",
                                "ibot.head.hidden_dimensions=16", "ibot.head.bottleneck_dimensions=8",
                                "crops.local_count=2", "data.workers=1"]).run()
        let checkpoint = try #require(try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).loadLatest())
        #expect(checkpoint.state.step == 2)
        // Each student's loss is logged beside the total, their sum.
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = try JSONDecoder().decode([String: Double].self, from: Data(lines.last!.utf8))
        let a = try #require(last["test_dinov2/loss"]), b = try #require(last["test_dinov2_swiglu/loss"])
        #expect(abs(last["loss"]! - (a + b)) <= 1e-5 * abs(a + b))

        for name in ["test_dinov2", "test_dinov2_swiglu"] {
            let out = scratch.appendingPathComponent("\(name).safetensors")
            try ExportCommand.parse(["--run", run.path, "--out", out.path, "--student", name]).run()
            let exported = try VisionTransformer.load(preset: name, weights: out)
            let (backbone, size) = try EvalBackbone.parse(["--run", run.path, "--student", name]).loadEmbedding()
            let evaluated = try #require(backbone as? VisionTransformer)
            #expect(size == 32)
            #expect(exported.blocks[1].mlp.parameters().map(\.value.scalars) == evaluated.blocks[1].mlp.parameters().map(\.value.scalars))
            #expect(exported.blocks[1].mlp.parameters().first?.value.scalars
                    == checkpoint.tensors["\(name).student_ema.backbone.blocks.1.mlp." + exported.blocks[1].mlp.namedTensors().first!.0]?.scalars)
        }
        #expect(throws: (any Error).self) { try EvalBackbone.parse(["--run", run.path, "--student", "test_dinov2_reg"]).loadEmbedding() }
        #expect(throws: (any Error).self) { try EvalBackbone.parse(["--model", "test_dinov2", "--student", "test_dinov2"]).loadEmbedding() }
    }
}
