import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import Testing

/// The bundled demo set (data/glyphs-mini).
let glyphsMini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("data/glyphs-mini")

@Suite struct DINORunTests {
    /// One epoch of the `test_dino` preset with a small head, batch 32 (13 steps on glyphs-mini).
    static var smallConfig: DINOConfig {
        var c = DINOConfig()
        c.model = "test_dino"
        c.epochs = 1
        c.batchSize = 32
        c.head.hiddenDimensions = 32
        c.head.bottleneckDimensions = 16
        c.data.workers = 1
        return c
    }

    /// A run of `config` on glyphs-mini/train in `run` that stops after `maxSteps` steps (it
    /// resumes from the newest checkpoint in `run`, if any), quietly.
    static func setUp(_ config: DINOConfig, in run: URL, maxSteps: Int) throws -> DINORun {
        try DINORun(config: config, dataPath: glyphsMini.appendingPathComponent("train").path, runDirectory: run,
                    issues: DataIssueLog(report: DataIssueLog.silent)) { o in
            o.maxSteps = maxSteps
            o.progress = false
            o.tensorBoard = false
        }
    }

    static func temporaryRun() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dino-run-\(UUID().uuidString)")
    }

    @Test func trainsOnAFolderExportsAndLoadsTheTeacher() throws {
        let run = Self.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let c = Self.smallConfig
        let setup = try Self.setUp(c, in: run, maxSteps: 2)
        #expect(setup.dataset.count == 416)
        #expect(setup.resolved.stepsPerEpoch == 13 && setup.resolved.prototypes == 1024)
        #expect(setup.resolved.localSize == 16 && setup.resolved.localCount == 6)
        #expect(try setup.trainer.run() == .stopped(reason: "reached max_steps 2"))
        #expect(try DINORun.storedConfig(in: run) == c)

        let (teacher, size) = try DINORun.loadTeacher(run: run)
        #expect(size == 32)
        let live = setup.method.teacher.stateDict()
        for (k, t) in teacher.stateDict() { #expect(t.scalars == live[k]!.scalars, "\(k)") }

        let file = run.appendingPathComponent("teacher.safetensors")
        _ = try DINORun.exportTeacher(run: run, to: file)
        let saved = try SafeTensors.read(from: file).tensors
        #expect(saved.keys.contains("blocks.0.attn.qkv.weight") && saved.keys.contains("cls_token"))
        #expect(!saved.keys.contains { $0.hasPrefix("teacher.") || $0.hasPrefix("head.") })
        let reloaded = VisionTransformer(try ModelPresets.config(named: "test_dino"))
        try reloaded.loadWeights(from: file)
        #expect(reloaded.stateDict()["blocks.1.mlp.fc2.weight"]!.scalars == live["blocks.1.mlp.fc2.weight"]!.scalars)
    }

    /// `dino train --resume` continues with the method recorded in RUN/config.json.
    @Test func storedMethodIsReadFromTheRunConfig() throws {
        let dir = Self.temporaryRun()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(DINORun.storedMethod(in: dir) == nil)
        try DINORun.writeConfig(DINOConfig(), to: dir)
        #expect(DINORun.storedMethod(in: dir) == "dino")
        try DINORun.writeConfig(DINOv2Config(), to: dir)
        #expect(DINORun.storedMethod(in: dir) == "dinov2")
        var distill = DistillationConfig()
        distill.teacherRun = "/some/run"
        try DINORun.writeConfig(distill, to: dir)
        #expect(DINORun.storedMethod(in: dir) == "distill")
    }

    /// Stopped mid-epoch and resumed in a new process's worth of objects, a run on an image
    /// folder ends where the uninterrupted run does, bit for bit: the loader skips to the
    /// resumed batch (without preparing the earlier ones) and gives it the same crops.
    @Test func midEpochResumeOnAFolderIsBitExact() throws {
        func train(_ run: URL, until steps: Int) throws -> DINORun {
            let setup = try Self.setUp(Self.smallConfig, in: run, maxSteps: steps)
            #expect(try setup.trainer.run() == .stopped(reason: "reached max_steps \(steps)"))
            return setup
        }
        let whole = Self.temporaryRun(), parts = Self.temporaryRun()
        defer { for d in [whole, parts] { try? FileManager.default.removeItem(at: d) } }
        let reference = try train(whole, until: 5).method.teacher.stateDict()
        _ = try train(parts, until: 2)
        let resumed = try train(parts, until: 5)
        #expect(resumed.trainer.step == 5 && resumed.trainer.batchInEpoch == 5)
        for (k, t) in resumed.method.teacher.stateDict() { #expect(t.scalars == reference[k]!.scalars, "\(k)") }
    }
}
