// `dino train --method dinov3 --from RUN gram.use_loss=true`: an anchoring phase that starts
// from an earlier run's student, teacher and (as Gram teacher) teacher backbone.

@testable import dino
import DinoNN
import DinoSSL
import DinoTensor
import Foundation
import Testing

@Suite struct DINOv3ContinuationTests {
    static let tiny = ["--method", "dinov3", "--model", "test_dinov3", "--batch-size", "2", "--epochs", "1", "--quiet",
                       "dino.head.prototypes=16", "dino.head.hidden_dimensions=24", "dino.head.bottleneck_dimensions=8",
                       "ibot.head.prototypes=12", "ibot.head.hidden_dimensions=24", "ibot.head.bottleneck_dimensions=8",
                       "crops.global_size=32", "crops.local_size=16", "crops.local_count=2", "data.workers=1"]

    static func latest(_ run: URL) throws -> Checkpoint {
        try #require(try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).loadLatest())
    }

    @Test func fromRunStartsAnAnchoringPhaseWithItsStudentTeacherAndGramTeacher() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dinov3-from-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let images = fixtureRuns.appendingPathComponent("images").path
        let first = scratch.appendingPathComponent("run1"), second = scratch.appendingPathComponent("run2")
        try TrainCommand.parse(["--data", images, "--out", first.path] + Self.tiny).run()
        let before = try Self.latest(first).tensors

        // --max-steps 0 saves the initial weights of the new run.
        try TrainCommand.parse(["--data", images, "--out", second.path, "--from", first.path, "--max-steps", "0", "gram.use_loss=true"]
                               + Self.tiny).run()
        let start = try Self.latest(second)
        #expect(start.state.step == 0)
        for (k, t) in before where k.hasPrefix("student.") || k.hasPrefix("teacher.") {
            #expect(start.tensors[k]?.scalars == t.scalars, "\(k)")
        }
        for (k, t) in before where k.hasPrefix("teacher.backbone.") {
            let g = "gram_teacher.backbone." + k.dropFirst("teacher.backbone.".count)
            #expect(start.tensors[g]?.scalars == t.scalars, "\(g)")
        }
        #expect(start.tensors[DINOv3.gramStateKey]?.doubles == [1, 0])
        // The optimiser starts afresh: no moments were carried over.
        #expect(start.tensors.keys.filter { $0.hasPrefix("optimizer.") }.allSatisfy { start.tensors[$0]!.doubles.allSatisfy { $0 == 0 } })

        // The phase trains with the Gram term logged.
        try TrainCommand.parse(["--data", images, "--out", second.path, "--resume", "--quiet"]).run()
        let lines = try String(contentsOf: second.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = try JSONDecoder().decode([String: Double].self, from: Data(lines.last!.utf8))
        #expect(last[LossTerm.gram].map { $0.isFinite && $0 > 0 } == true)

        // --from a folder that is no run is named.
        do {
            try TrainCommand.parse(["--data", images, "--out", scratch.appendingPathComponent("run3").path,
                                    "--from", scratch.appendingPathComponent("nothing").path] + Self.tiny).run()
            Issue.record("a missing --from run was accepted")
        } catch {
            #expect("\(error)".contains("from") && "\(error)".contains("nothing"), "\(error)")
        }
    }
}

@Suite struct DINOv3HighResolutionPhaseTests {
    @Test func highResPhaseTrainsAtMixedSizesWithAFixedGramTeacher() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dinov3-hr-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let images = fixtureRuns.appendingPathComponent("images").path
        let first = scratch.appendingPathComponent("run1"), second = scratch.appendingPathComponent("hr")
        try TrainCommand.parse(["--data", images, "--out", first.path] + DINOv3ContinuationTests.tiny).run()
        let command = try TrainCommand.parse(["--data", images, "--out", second.path, "--from", first.path, "--phase", "high-res",
                                              "--max-steps", "2"] + DINOv3ContinuationTests.tiny
                                             + ["dino.koleo_group_size=2", "student.untie_global_and_local_cls_norm=true"])
        let (method, tree) = try command.request.resolve()
        #expect(method == "dinov3")
        let config = try ConfigLoader.decode(DINOv3Config.self, from: tree)
        #expect(config.phase == .highRes && config.schedules == .cosineRamp && config.gram.useLoss && !config.gram.repUpdate)
        let r = try config.resolved(datasetSize: 4)
        // Trained at 32 px: global crops of 48 and 64 px, Gram crops 1.5× those, ratios 0.3 : 0.7.
        #expect(r.resolutions.map(\.globalSize) == [48, 64] && r.resolutions.map(\.localSize) == [16, 24])
        #expect(r.resolutions.map(\.gramSize) == [72, 96] && r.resolutions.map(\.ratio) == [0.3, 0.7])
        // The teacher momentum follows the phase's length (a 2-step phase: the floor 0.99);
        // recipe=reference and an explicit value keep theirs.
        #expect(r.base.teacherMomentum == 0.99 && r.schedules[ScheduleValues.teacherMomentum]?.value(at: 1) == 0.99)
        var long = config; long.epochs = 2; long.epochLength = 1000
        #expect(try long.resolved(datasetSize: 4).base.teacherMomentum == 0.995)
        #expect(DINOv3Config.highResolutionMomentum(steps: 10_000) == 0.999 && DINOv3Config.highResolutionMomentum(steps: 90_000) == 0.999)
        var reference = config; reference.recipe = .reference
        #expect(try reference.resolved(datasetSize: 4).base.teacherMomentum == 0.999)
        var explicit = config; explicit.teacher.momentum = 0.9995
        #expect(try explicit.resolved(datasetSize: 4).base.teacherMomentum == 0.9995)
        try command.run()
        let state = try DINOv3ContinuationTests.latest(second)
        #expect(state.state.step == 2 && state.tensors[DINOv3.gramStateKey]?.doubles == [1, 0])
        // The untied local-crop norm, absent from run1, was added (started from the final norm) and trained.
        #expect(state.tensors["student.backbone.local_cls_norm.weight"] != nil && state.tensors["teacher.backbone.local_cls_norm.weight"] != nil)
        // Its backbone loads for evaluation (the training-only local norm left out).
        let (backbone, _) = try TrainingRun.loadBackbone(run: second)
        #expect(backbone.localClassNorm == nil && backbone.embedDimensions == 32)
        // Without --from the phase is refused, naming the key.
        #expect(throws: ConfigError.self) {
            try TrainCommand.parse(["--data", images, "--out", scratch.appendingPathComponent("x").path, "--phase", "high-res"]
                                   + DINOv3ContinuationTests.tiny).run()
        }
    }
}
