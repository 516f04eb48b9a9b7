import DinoNN
import DinoSSL
import DinoTensor
import Foundation
import Testing

private func makeTrainer(_ method: ToyRegression, _ dir: URL, _ options: TrainerOptions,
                         stop: StopSignal? = nil) throws -> Trainer<ToyRegression, ToyData> {
    let t = try Trainer(method: method, data: ToyData(), schedules: toySchedules(epochs: options.epochs, perEpoch: 8),
                    options: options, runDirectory: dir, config: .object(["test": .string("toy")]), stopSignal: stop)
    t.log = { _ in }
    return t
}

@Suite struct TrainerTests {
    @Test func lossDecreasesAndEveryStepIsLogged() throws {
        let dir = temporaryDirectory("train")
        let trainer = try makeTrainer(ToyRegression(), dir, quietOptions(epochs: 4))
        #expect(try trainer.run() == .completed)
        let lines = try MetricsLogger.read(dir.appendingPathComponent("metrics.jsonl"))
        #expect(lines.count == 32)
        #expect(lines.map { Int($0["step"]!) } == Array(0..<32))
        let first = lines.prefix(4).map { $0["loss"]! }.reduce(0, +), last = lines.suffix(4).map { $0["loss"]! }.reduce(0, +)
        #expect(last < first * 0.05, "loss went from \(first / 4) to \(last / 4)")
        #expect(lines[0]["lr"] == 0 && lines[0]["momentum"] == 0.9 && lines[0]["mse"] != nil && lines[0]["grad_norm_max"] != nil)
        #expect(lines[31]["epoch"] == 3)
        // One checkpoint per epoch, the newest three kept.
        #expect(trainer.checkpoints.list().map(\.step) == [16, 24, 32])
        #expect(trainer.step == 32 && trainer.epoch == 4)
    }

    /// Interrupt at step k (max_steps, then a stop signal mid-epoch), resume in a new trainer with
    /// freshly initialised objects, and compare with an uninterrupted run bit for bit.
    @Test func resumeReproducesTheUninterruptedRunBitForBit() throws {
        let reference = temporaryDirectory("ref")
        let refMethod = ToyRegression()
        #expect(try makeTrainer(refMethod, reference, quietOptions(epochs: 3)).run() == .completed)

        let dir = temporaryDirectory("resumed")
        var options = quietOptions(epochs: 3)
        options.maxSteps = 5
        #expect(try makeTrainer(ToyRegression(), dir, options).run() == .stopped(reason: "reached max_steps 5"))

        // Second session: a stop signal raised during step 13 stops before step 14.
        let stop = StopSignal(signals: [])
        let second = ToyRegression()
        second.onStep = { if $0 == 13 { stop.request("test stop") } }
        #expect(try makeTrainer(second, dir, quietOptions(epochs: 3), stop: stop).run() == .stopped(reason: "test stop"))
        #expect(CheckpointStore(directory: dir.appendingPathComponent("checkpoints")).list().last?.step == 14)

        // Third session to the end.
        let third = ToyRegression(seed: 999)       // different initialisation: everything must come from the checkpoint
        let trainer = try makeTrainer(third, dir, quietOptions(epochs: 3))
        #expect(try trainer.run() == .completed)

        let a = try MetricsLogger.read(reference.appendingPathComponent("metrics.jsonl"))
        let b = try MetricsLogger.read(dir.appendingPathComponent("metrics.jsonl"))
        // Every logged value is bit-exact across the resume but the wall time of each step.
        let untimed = { (rows: [[String: Double]]) in rows.map { $0.filter { $0.key != MetricsLogger.stepSecondsKey } } }
        #expect(a.count == 24 && untimed(a) == untimed(b))
        #expect(a.allSatisfy { ($0[MetricsLogger.stepSecondsKey] ?? -1) >= 0 })
        #expect(third.weight.scalars == refMethod.weight.scalars && third.bias.scalars == refMethod.bias.scalars)
        #expect(third.teacher.scalars == refMethod.teacher.scalars)
        #expect(third.noise.offset == refMethod.noise.offset)
        let state = try #require(try trainer.checkpoints.loadLatest()).state
        #expect(state.step == 24 && state.epoch == 3 && state.batchInEpoch == 0 && state.config == .object(["test": .string("toy")]))
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint() throws {
        let dir = temporaryDirectory("nan")
        let method = ToyRegression()
        method.nanAtStep = 13
        let trainer = try makeTrainer(method, dir, quietOptions(epochs: 3))
        let store = trainer.checkpoints
        do {
            _ = try trainer.run()
            Issue.record("training went on past a NaN loss")
        } catch let TrainerError.nonFiniteLoss(step, epoch, terms, last) {
            #expect(step == 13 && epoch == 1 && terms["loss"]!.isNaN)
            #expect(last == store.directory.appendingPathComponent("checkpoint-000000008.json").path)
        }
        #expect(store.list().map(\.step) == [8])
        let c = try #require(try store.loadLatest())
        #expect(c.tensors["student.weight"]!.scalars.allSatisfy { $0.isFinite })
        #expect(try MetricsLogger.read(dir.appendingPathComponent("metrics.jsonl")).count == 13)
        let message = TrainerError.nonFiniteLoss(step: 13, epoch: 1, terms: ["loss": .nan], lastCheckpoint: "x.json").description
        #expect(message.contains("step 13") && message.contains("x.json"))
    }

    @Test func timeBudgetStopsWithACheckpoint() throws {
        let dir = temporaryDirectory("budget")
        var options = quietOptions(epochs: 2)
        options.maxMinutes = 1
        let trainer = try makeTrainer(ToyRegression(), dir, options)
        var now = 0.0
        trainer.clock = { now += 7; return now }          // every look at the clock: 7 s later
        guard case .stopped(let reason) = try trainer.run() else { Issue.record("did not stop"); return }
        #expect(reason.contains("time budget"))
        let steps = trainer.checkpoints.list().map(\.step)
        #expect(steps.count == 1 && steps[0] > 0 && steps[0] < 16)
    }

    @Test func intervalCheckpointsAndKeepLast() throws {
        let dir = temporaryDirectory("interval")
        var options = quietOptions(epochs: 2)
        options.checkpointEveryMinutes = 0.05   // 3 s: a checkpoint every few steps
        options.keepCheckpoints = 100
        let trainer = try makeTrainer(ToyRegression(), dir, options)
        var now = 0.0
        trainer.clock = { now += 1; return now }
        #expect(try trainer.run() == .completed)
        let steps = trainer.checkpoints.list().map(\.step)
        #expect(steps.contains(8) && steps.contains(16) && steps.count > 2)
        #expect(steps.contains { $0 % 8 != 0 })
    }

    @Test func resumingWithDifferentDataIsRefused() throws {
        let dir = temporaryDirectory("mismatch")
        _ = try makeTrainer(ToyRegression(), dir, quietOptions(epochs: 1)).run()
        let other = try Trainer(method: ToyRegression(), data: ToyData(batchesPerEpoch: 5), schedules: toySchedules(epochs: 1, perEpoch: 5),
                            options: quietOptions(epochs: 1), runDirectory: dir)
        other.log = { _ in }
        #expect(throws: CheckpointError.mismatch("it was saved with 8 batches per epoch, the data now gives 5")) { try other.run() }
    }

    @Test func invalidOptionsNameTheKey() {
        var options = quietOptions(epochs: 1)
        options.logEverySteps = 0
        #expect(throws: ConfigError.invalidValue(path: "log_every_steps", message: "must be at least 1")) {
            try makeTrainer(ToyRegression(), temporaryDirectory("invalid"), options)
        }
    }
}
