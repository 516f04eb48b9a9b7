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
    static func setUp(_ config: DINOConfig, in run: URL, maxSteps: Int) throws -> (run: TrainingRun, method: DINO) {
        let run = try TrainingRun(DINO.self, config: config, dataPath: glyphsMini.appendingPathComponent("train").path, runDirectory: run,
                                  issues: DataIssueLog(report: DataIssueLog.silent)) { o in
            o.maxSteps = maxSteps
            o.progress = false
            o.tensorBoard = false
        }
        return (run, run.method as! DINO)
    }

    static func temporaryRun() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dino-run-\(UUID().uuidString)")
    }

    @Test func trainsOnAFolderExportsAndLoadsTheTeacher() throws {
        let run = Self.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let c = Self.smallConfig
        let (setup, method) = try Self.setUp(c, in: run, maxSteps: 2)
        #expect(setup.dataset.count == 416 && setup.methodName == "dino")
        let resolved = method.settings
        #expect(resolved.stepsPerEpoch == 13 && resolved.prototypes == 1024)
        #expect(resolved.localSize == 16 && resolved.localCount == 6)
        #expect(try setup.trainer.run() == .stopped(reason: "reached max_steps 2"))
        let stored = try #require(try TrainingRun.storedConfig(in: run))
        #expect(stored.method == "dino")
        // As recorded: the config with its automatic centring written out.
        #expect(try ConfigLoader.decode(DINOConfig.self, from: stored.config) == DINO.recorded(c))
        #expect(DINO.recorded(c).teacher.centering == .sinkhornKnopp)

        let (teacher, size) = try TrainingRun.loadBackbone(run: run)
        #expect(size == 32)
        let live = method.teacher.stateDict()
        for (k, t) in teacher.stateDict() { #expect(t.scalars == live[k]!.scalars, "\(k)") }

        let file = run.appendingPathComponent("teacher.safetensors")
        _ = try TrainingRun.exportBackbone(run: run, to: file)
        let saved = try SafeTensors.read(from: file).tensors
        #expect(saved.keys.contains("blocks.0.attn.qkv.weight") && saved.keys.contains("cls_token"))
        #expect(!saved.keys.contains { $0.hasPrefix("teacher.") || $0.hasPrefix("head.") })
        let reloaded = VisionTransformer(try ModelPresets.config(named: "test_dino"))
        try reloaded.loadWeights(from: file)
        #expect(reloaded.stateDict()["blocks.1.mlp.fc2.weight"]!.scalars == live["blocks.1.mlp.fc2.weight"]!.scalars)
    }

    /// RUN/config.json records "method"; configs written before it existed are read as the
    /// method whose keys they hold.
    @Test func theMethodIsRecordedAndOldConfigsAreRecognised() throws {
        let dir = Self.temporaryRun()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try TrainingRun.storedConfig(in: dir) == nil)
        let url = dir.appendingPathComponent(TrainingRun.configFileName)
        try TrainingRun.writeConfig(try TrainingRun.recordedTree(DINOv2Config(), method: "dino"), to: dir)
        #expect(try TrainingRun.storedConfig(in: dir)?.method == "dino")   // the record wins over the keys
        for (config, method) in [(try DINOConfig().jsonTree(), "dino"), (try DINOv2Config().jsonTree(), "dinov2")] {
            try JSONEncoder().encode(config).write(to: url)
            #expect(try TrainingRun.storedConfig(in: dir)?.method == method)
        }
        var distill = DistillationConfig()
        distill.teacherRun = "/some/run"
        try JSONEncoder().encode(distill).write(to: url)
        #expect(try TrainingRun.storedConfig(in: dir)?.method == "distill")
    }

    /// Stopped mid-epoch and resumed in a new process's worth of objects, a run on an image
    /// folder ends where the uninterrupted run does, bit for bit: the loader skips to the
    /// resumed batch (without preparing the earlier ones) and gives it the same crops.
    @Test func midEpochResumeOnAFolderIsBitExact() throws {
        func train(_ run: URL, until steps: Int) throws -> (run: TrainingRun, method: DINO) {
            let setup = try Self.setUp(Self.smallConfig, in: run, maxSteps: steps)
            #expect(try setup.run.trainer.run() == .stopped(reason: "reached max_steps \(steps)"))
            return setup
        }
        let whole = Self.temporaryRun(), parts = Self.temporaryRun()
        defer { for d in [whole, parts] { try? FileManager.default.removeItem(at: d) } }
        let reference = try train(whole, until: 5).method.teacher.stateDict()
        _ = try train(parts, until: 2)
        let resumed = try train(parts, until: 5)
        #expect(resumed.run.trainer.step == 5 && resumed.run.trainer.batchInEpoch == 5)
        for (k, t) in resumed.method.teacher.stateDict() { #expect(t.scalars == reference[k]!.scalars, "\(k)") }
    }
}
