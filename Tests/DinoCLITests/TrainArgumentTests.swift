// `dino train`'s argument handling: flags become a TrainRequest, whose rules choose the method
// and the config (new run, resume with and without --method, a conflicting method, an
// existing run folder, key=value overrides, unknown keys).

@testable import dino
import DinoVision
import DinoNN
import DinoSSL
import Foundation
import Testing

/// The run folders written by the pre-registry code (Tests/DinoSSLTests/Fixtures/runs).
let fixtureRuns = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("DinoSSLTests/Fixtures/runs")

@Suite struct TrainArgumentTests {
    /// A fresh temporary folder; with `copying`, a copy of that fixture run.
    static func folder(copying run: String? = nil) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        if let run {
            try FileManager.default.copyItem(at: fixtureRuns.appendingPathComponent(run), to: dir)
        }
        return dir
    }

    static func request(_ arguments: [String]) throws -> TrainRequest {
        try TrainCommand.parse(["--data", "unused"] + arguments).request
    }

    @Test func flagsAndOverridesBecomeKeyValueOverrides() throws {
        let out = try Self.folder()
        let r = try Self.request(["--out", out.path, "--method", "dinov2", "--epochs", "3", "--seed", "5", "--model", "test_dinov2",
                                  "ibot.loss_weight=0.5", "dino.head.prototypes=64"])
        #expect(r.method == "dinov2" && !r.resume)
        let (method, tree) = try r.resolve()
        #expect(method == "dinov2")
        #expect(tree["epochs"] == .integer(3) && tree["seed"] == .integer(5) && tree["model"] == .string("test_dinov2"))
        #expect(tree["ibot"]?["loss_weight"] == .double(0.5) && tree["dino"]?["head"]?["prototypes"] == .integer(64))
        // Without --method a new run is DINO.
        #expect(try Self.request(["--out", out.path]).resolve().method == "dino")
    }

    @Test func unknownKeysAndMethodsAreRefusedWithTheValidOnes() throws {
        let out = try Self.folder()
        #expect(throws: ConfigError.self) { try Self.request(["--out", out.path, "head.protoypes=64"]).resolve() }
        do {
            _ = try Self.request(["--out", out.path, "--teacher-run", "/x"]).resolve()
            Issue.record("a teacher for dino was accepted")
        } catch let e as ConfigError {
            #expect(e.description.contains("'teacher_run'") && e.description.contains("valid keys"))
        }
        // (Other suites may register test methods meanwhile: check the built-in names only.)
        #expect {
            try Self.request(["--out", out.path, "--method", "dino3"]).resolve()
        } throws: { error in
            guard case MethodError.unknown("dino3", let available) = error else { return false }
            return Array(available.prefix(3)) == ["dino", "dinov2", "distill"]
        }
    }

    /// Old runs (no "method" in RUN/config.json) resume with their own method.
    @Test(arguments: ["dino", "dinov2", "distill"])
    func resumeWithoutMethodUsesTheRunsMethod(_ method: String) throws {
        let run = try Self.folder(copying: method)
        defer { try? FileManager.default.removeItem(at: run) }
        let (resolved, tree) = try Self.request(["--out", run.path, "--resume", "epochs=4"]).resolve()
        #expect(resolved == method && tree["epochs"] == .integer(4) && tree["batch_size"] == .integer(2))
        #expect(try Self.request(["--out", run.path, "--resume", "--method", method]).resolve().method == method)
    }

    @Test func aConflictingMethodAnExistingRunAndNothingToResumeAreRefused() throws {
        let run = try Self.folder(copying: "dinov2")
        let empty = try Self.folder()
        defer { try? FileManager.default.removeItem(at: run) }
        #expect(throws: TrainRequest.Failure.conflictingMethod(requested: "dino", found: "dinov2", source: run.path)) {
            try Self.request(["--out", run.path, "--resume", "--method", "dino"]).resolve()
        }
        #expect(throws: TrainRequest.Failure.runExists(run: run.path)) { try Self.request(["--out", run.path]).resolve() }
        #expect(throws: TrainRequest.Failure.nothingToResume(run: empty.path)) {
            try Self.request(["--out", empty.path, "--resume"]).resolve()
        }
    }

    /// A config file may name its method; --method must then agree with it.
    @Test func aConfigFileNamesItsMethod() throws {
        let dir = try Self.folder()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("c.yaml")
        try "method: dinov2\nepochs: 7\n".write(to: file, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run")
        let (method, tree) = try Self.request(["--out", out.path, "--config", file.path]).resolve()
        #expect(method == "dinov2" && tree["epochs"] == .integer(7) && tree["method"] == nil)
        #expect(throws: TrainRequest.Failure.self) {
            try Self.request(["--out", out.path, "--config", file.path, "--method", "dino"]).resolve()
        }
    }

    @Test func helpListsEveryRegisteredMethodOnALine() {
        let help = TrainCommand.helpMessage(columns: 200)
        for m in MethodRegistry.builtIn {                // (test suites may register more later)
            #expect(help.contains(m.name) && help.contains(m.summary), "\(m.name)")
        }
        #expect(help.contains("1250 iterations"))
    }
}

/// `dino train` ends with a count of the skipped files; their list goes to a file.
@Suite struct SkippedFilesTests {
    @Test func theEndLineCountsAndTheFileListsEachPathOnce() throws {
        let issues = DataIssueLog(report: DataIssueLog.silent)
        issues.record(path: "/d/a.png", kind: .corrupt, message: "corrupt or truncated image (bad CRC)")
        issues.record(path: "/d/b.jpg", kind: .empty, message: "empty file (0 bytes)")
        issues.record(path: "/d/a.png", kind: .corrupt, message: "corrupt or truncated image (bad CRC)")   // a second epoch
        let list = FileManager.default.temporaryDirectory.appendingPathComponent("skipped-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: list) }
        let line = try skippedFilesReport(issues, listIn: list)
        #expect(line.hasPrefix("2 bad files skipped (1 empty, 1 corrupt)") && line.hasSuffix(list.path))
        #expect(!line.contains("a.png"))
        let lines = try String(contentsOf: list, encoding: .utf8).split(separator: "\n")
        #expect(lines == ["/d/a.png: corrupt or truncated image (bad CRC)", "/d/b.jpg: empty file (0 bytes)"])
    }
}

@Suite struct TrainLoggingTests {
    /// `--log-every-steps 1` writes a metrics line for every step, each with its wall time;
    /// the default (10) only the epoch's last step here (4 images, batch 2: 2 steps); 0 is
    /// refused by the trainer's options check, naming `log_every_steps`.
    @Test func logEveryStepsSetsTheMetricsInterval() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cli-log-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let images = fixtureRuns.appendingPathComponent("images").path
        func lines(_ run: URL) throws -> [[String: Double]] {
            try MetricsLogger.read(run.appendingPathComponent("metrics.jsonl"))
        }
        let every = scratch.appendingPathComponent("every"), plain = scratch.appendingPathComponent("plain")
        try TrainCommand.parse(["--data", images, "--out", every.path, "--log-every-steps", "1"]
                               + DINOv3ContinuationTests.tiny).run()
        try TrainCommand.parse(["--data", images, "--out", plain.path] + DINOv3ContinuationTests.tiny).run()
        let logged = try lines(every)
        #expect(logged.map { $0["step"]! } == [0, 1])
        #expect(logged.allSatisfy { ($0[MetricsLogger.stepSecondsKey] ?? -1) > 0 })
        #expect(try lines(plain).map { $0["step"]! } == [1])
        do {
            try TrainCommand.parse(["--data", images, "--out", scratch.appendingPathComponent("zero").path,
                                    "--log-every-steps", "0"] + DINOv3ContinuationTests.tiny).run()
            Issue.record("--log-every-steps 0 was accepted")
        } catch {
            #expect("\(error)".contains("log_every_steps") && "\(error)".contains("at least 1"), "\(error)")
        }
    }
}
