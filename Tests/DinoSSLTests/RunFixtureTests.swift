// Run folders written by the code before the method registry (scripts/make_run_fixtures.sh,
// Fixtures/runs/): they must resume bit-exactly with today's code, and today's code must
// compute the losses that code logged for the same seed.

import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import Testing

enum RunFixtures {
    /// Fixtures/runs in the test bundle.
    static var root: URL {
        Bundle.module.url(forResource: "runs", withExtension: nil, subdirectory: "Fixtures")!
    }

    /// A copy of the fixture run `name` in a new temporary folder (a distillation run's
    /// `teacher_run` pointed at a copy of the dinov2 fixture beside it).
    static func copy(_ name: String) throws -> (run: URL, scratch: URL) {
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("run-fixture-\(UUID().uuidString)")
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        let run = scratch.appendingPathComponent(name)
        try fm.copyItem(at: root.appendingPathComponent(name), to: run)
        if name == "distill" {
            let teacher = scratch.appendingPathComponent("dinov2")
            try fm.copyItem(at: root.appendingPathComponent("dinov2"), to: teacher)
            let url = run.appendingPathComponent("config.json")
            var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            object["teacher_run"] = teacher.path
            try JSONSerialization.data(withJSONObject: object).write(to: url)
        }
        return (run, scratch)
    }

    /// The losses the uninterrupted fixture runs logged, by method.
    static func losses() throws -> [String: [[String: Double]]] {
        try JSONDecoder().decode([String: [[String: Double]]].self,
                                 from: Data(contentsOf: root.appendingPathComponent("losses.json")))
    }

    /// The lines of RUN/metrics.jsonl.
    static func metrics(_ run: URL) throws -> [[String: Double]] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) }
    }
}

@Suite struct RunFixtureTests {
    /// Trains to the end the run `request` resolves to (as `dino train` does); returns every
    /// tensor of its last checkpoint.
    static func train(_ request: TrainRequest) throws -> [String: Tensor] {
        let (method, tree) = try request.resolve()
        let run = try TrainingRun(method: method, configTree: tree, dataPath: RunFixtures.root.appendingPathComponent("images").path,
                                  runDirectory: request.runDirectory, issues: DataIssueLog(report: DataIssueLog.silent)) { o in
            o.progress = false
            o.tensorBoard = false
        }
        #expect(try run.trainer.run() == .completed)
        return try CheckpointStore(directory: request.runDirectory.appendingPathComponent("checkpoints")).loadLatest()!.tensors
    }

    /// A fixture run stopped after 3 of 6 steps, resumed by today's code, ends bit for bit where
    /// today's code ends the same run uninterrupted; and that run logs the losses the old code
    /// logged (exactly, at the thread count the fixtures were made with).
    /// A dino RUN/config.json written before `teacher.centering` existed is read with the
    /// centred softmax it used; a new run records the automatic choice (Sinkhorn-Knopp), so
    /// that its resume keeps it whatever the default becomes.
    @Test func dinoRunsRecordTheirCentring() throws {
        let (parts, scratch) = try RunFixtures.copy("dino")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let raw = try ConfigLoader.readTree(parts.appendingPathComponent(TrainingRun.configFileName))
        #expect(raw["teacher"]?["centering"] == nil)
        #expect(try TrainingRun.storedConfig(in: parts)?.config["teacher"]?["centering"] == .string("centering"))
        let fresh = scratch.appendingPathComponent("fresh")
        let (method, tree) = try TrainRequest(method: "dino", overrides: ["epochs=1", "batch_size=2", "model=test_dino",
                                                                           "head.prototypes=16", "head.hidden_dimensions=24",
                                                                           "head.bottleneck_dimensions=8", "crops.local_count=2"],
                                              runDirectory: fresh).resolve()
        _ = try TrainingRun(method: method, configTree: tree, dataPath: RunFixtures.root.appendingPathComponent("images").path,
                            runDirectory: fresh, issues: DataIssueLog(report: DataIssueLog.silent)) { o in
            o.progress = false
            o.tensorBoard = false
        }
        let recorded = try ConfigLoader.readTree(fresh.appendingPathComponent(TrainingRun.configFileName))
        #expect(recorded["teacher"]?["centering"] == .string("sinkhorn_knopp"))
        #expect(try TrainingRun.storedConfig(in: fresh)?.config["teacher"]?["centering"] == .string("sinkhorn_knopp"))
    }

    @Test(arguments: ["dino", "dinov2", "distill"])
    func oldRunResumesBitExactlyAndLossesAreUnchanged(_ method: String) throws {
        let (parts, scratch) = try RunFixtures.copy(method)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The same run uninterrupted: its config as today's code reads the old RUN/config.json
        // (with the values of keys recorded only since, e.g. dino's `teacher.centering`).
        let config = scratch.appendingPathComponent("config-\(method).json")
        try TrainingRun.writeConfig(try #require(try TrainingRun.storedConfig(in: parts)).config, to: scratch)
        try FileManager.default.moveItem(at: scratch.appendingPathComponent(TrainingRun.configFileName), to: config)
        // Resumed as `dino train --resume` does: the method read from the old config (no "method").
        let resumed = try Self.train(TrainRequest(resume: true, runDirectory: parts))
        let whole = scratch.appendingPathComponent("whole")
        // Uninterrupted with the arithmetic the old run recorded: its Float32 `linear` broadcast
        // the bias (runs started today put it in the product, `Float32Linear`).
        let reference = try Float32Linear.withBiasInProduct(false) {
            try Self.train(TrainRequest(method: method, configFile: config, runDirectory: whole))
        }
        #expect(Set(resumed.keys) == Set(reference.keys))
        for (k, t) in reference { #expect(resumed[k]?.scalars == t.scalars, "\(method): \(k)") }

        let expected = try RunFixtures.losses()[method]!
        let logged = try RunFixtures.metrics(whole)
        #expect(logged.map { $0["step"] } == expected.map { $0["step"] })
        let exact = Threads.count == 2
        for (got, want) in zip(logged, expected) {
            for (key, value) in want where key.hasSuffix("loss") || key.hasSuffix("entropy") {
                let g = try #require(got[key], "\(method): \(key) not logged")
                if exact {
                    #expect(g == value, "\(method) step \(want["step"]!): \(key) \(g) != \(value)")
                } else {
                    #expect(abs(g - value) <= 1e-4 * max(1, abs(value)), "\(method) step \(want["step"]!): \(key) \(g) vs \(value)")
                }
            }
        }
    }
}
