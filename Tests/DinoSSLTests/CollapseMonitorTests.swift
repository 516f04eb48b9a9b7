import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import Testing

@Suite struct CollapseMonitorTests {
    static let lnK = Foundation.log(1024.0)

    static func values(_ h: Double, _ hMean: Double, std: Double = 0.8) -> [String: Double] {
        [CollapseMonitor.targetEntropy: h, CollapseMonitor.meanTargetEntropy: hMean, CollapseMonitor.featureStd: std]
    }

    /// Each condition from the logged monitors: healthy targets (a gap of 0.4 nats), uniform,
    /// identical and peaked (one prototype), identical, collapsed features.
    @Test func conditionsFromTheLoggedMonitors() {
        let m = CollapseMonitor(prototypes: 1024)
        #expect(m.conditions(Self.values(4.2, 4.6)).isEmpty)
        #expect(m.conditions(Self.values(6.90, 6.92)) == [.uniformTargets])
        #expect(m.conditions(Self.values(0.01, 0.02)) == [.onePrototype])
        #expect(m.conditions(Self.values(5.50, 5.52)) == [.identicalTargets])
        #expect(m.conditions(Self.values(4.2, 4.6, std: 0.01)) == [.features])
        // Without K the target checks are off; without the values nothing is checked.
        #expect(CollapseMonitor(prototypes: nil).conditions(Self.values(6.92, 6.93)).isEmpty)
        #expect(m.conditions(["loss": 1]).isEmpty)
    }

    /// A condition is reported once it has held for a whole window, once, and its end once.
    @Test func reportsAfterAWholeWindowAndWhenItEnds() {
        var o = CollapseMonitorOptions()
        o.windowSteps = 4
        var m = CollapseMonitor(options: o, prototypes: 1024)
        var events: [(Int, CollapseMonitor.Event)] = []
        let uniform = Self.values(6.92, 6.93), healthy = Self.values(4.2, 4.6)
        // Steps 0–2 uniform, 3 healthy (the streak restarts), 4–9 uniform, 10 healthy.
        for step in 0...10 {
            let v = (step == 3 || step == 10) ? healthy : uniform
            events += m.observe(step: step, values: v).map { (step, $0) }
        }
        #expect(events.count == 2)
        #expect(events.first?.0 == 7)
        if case .started(let kind, let since, let at, let detail)? = events.first?.1 {
            #expect(kind == .uniformTargets && since == 4 && at == 7)
            #expect(detail.contains("6.920") && detail.contains("6.931"))
        } else { Issue.record("no start event: \(events)") }
        #expect(events.last?.1 == .ended(.uniformTargets, step: 10))
        #expect(m.active.isEmpty && m.onsetStep == 4)
    }

    /// σ(f): 0 for identical rows, about 1 for random directions whatever the width.
    @Test func featureSpreadIsZeroForIdenticalRowsAndAboutOneForRandomOnes() {
        let rng = RandomGenerator(seed: 3)
        let row = rng.normal([1, 64])
        #expect(CollapseMonitor.featureSpread(row.expand([32, 64]).contiguous()).item() < 1e-3)
        for d in [16, 128] {
            let s = Double(CollapseMonitor.featureSpread(rng.normal([4096, d])).item())
            #expect(Swift.abs(s - 1) < 0.05, "D = \(d): \(s)")
        }
        // A common direction plus a little noise: nearly collapsed.
        let nearly = row.expand([256, 64]) + rng.normal([256, 64]) * 0.01
        #expect(CollapseMonitor.featureSpread(nearly).item() < 0.05)
    }

    /// The automatic window: 50 steps, a twentieth of a shorter run, never under 10.
    @Test func automaticWindowFollowsTheRunLength() {
        #expect(CollapseMonitorOptions.automaticWindow(totalSteps: 6000) == 50)
        #expect(CollapseMonitorOptions.automaticWindow(totalSteps: 600) == 30)
        #expect(CollapseMonitorOptions.automaticWindow(totalSteps: 180) == 10)
        #expect(CollapseMonitor(prototypes: 64, totalSteps: 600).window == 30)
        #expect(CollapseMonitor(prototypes: 64).window == 50)
        var o = CollapseMonitorOptions()
        o.windowSteps = 7
        #expect(CollapseMonitor(options: o, prototypes: 64, totalSteps: 600).window == 7)
    }

    @Test func badThresholdsAreRefusedByKey() throws {
        var c = DINOConfig()
        c.collapseMonitor.windowSteps = 0
        #expect(throws: ConfigError.self) { try c.validate() }
        let parsed = try ConfigLoader.load(DINOv2Config.self, overrides: ["stop_on_collapse=true", "collapse_monitor.window_steps=7"])
        #expect(parsed.stopOnCollapse && parsed.collapseMonitor.windowSteps == 7)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(DINOConfig.self, overrides: ["collapse_monitor.windows=7"]) }
    }
}

/// Runs made to collapse on purpose, on the bundled glyphs-mini set with the `test_dino`
/// preset: the warning comes within the window, and `stop_on_collapse` stops the run.
@Suite struct CollapsingRunTests {
    /// DINO's small-data settings with the given overrides, monitored over `window` steps; the
    /// centred softmax of the DINO paper (the collapses made here are its failure modes:
    /// Sinkhorn-Knopp, the automatic choice, balances the prototypes by construction).
    static func config(window: Int, stop: Bool, _ change: (inout DINOConfig) -> Void) -> DINOConfig {
        var c = DINORunTests.smallConfig
        c.teacher.centering = .centering
        c.epochs = 4
        c.collapseMonitor.windowSteps = window
        c.stopOnCollapse = stop
        change(&c)
        return c
    }

    /// No centring (a centre that never moves from 0), a sharp teacher that follows the student
    /// quickly and a quick learning rate: every image soon gets one prototype. 8-step window.
    static func noCentring(stop: Bool) -> DINOConfig {
        config(window: 8, stop: stop) { c in
            c.teacher.centerMomentum = 1
            c.teacher.temperature = 0.01
            c.teacher.warmupTemperature = 0.01
            c.teacher.momentum = 0.9
            c.optim.lr = 0.005
        }
    }

    /// Trains `config` on glyphs-mini for at most `steps` steps; returns the outcome and the
    /// trainer's messages.
    static func train(_ config: DINOConfig, steps: Int) throws -> (TrainOutcome, [String], URL) {
        let run = DINORunTests.temporaryRun()
        let setup = try DINORunTests.setUp(config, in: run, maxSteps: steps)
        var messages: [String] = []
        setup.run.trainer.log = { messages.append($0) }
        return (try setup.run.trainer.run(), messages, run)
    }

    /// The reference's τ_t 0.04, kept for the whole run, on 416 images with a quick learning
    /// rate: the targets stop depending on the image (identical, then uniform as H(q) → ln K).
    @Test func highTeacherTemperatureCollapsesTheTargetsAndIsReported() throws {
        let c = Self.config(window: 10, stop: false) { c in
            c.teacher.temperature = 0.04
            c.teacher.warmupTemperature = 0.04
            c.optim.lr = 0.004
        }
        let (outcome, messages, run) = try Self.train(c, steps: 30)
        defer { try? FileManager.default.removeItem(at: run) }
        #expect(outcome == .stopped(reason: "reached max_steps 30"))
        let warning = messages.first { $0.hasPrefix("warning: collapse (") }
        #expect(warning?.hasPrefix("warning: collapse (identical_targets)") == true
                || warning?.hasPrefix("warning: collapse (uniform_targets)") == true, "\(messages)")
        let logged = try MetricsLogger.read(run.appendingPathComponent("metrics.jsonl"))
        #expect(logged.last?["collapse"] == 1)
    }

    /// Without centring (a centre that never moves from 0) and a sharp teacher, every image
    /// gets one prototype; `stop_on_collapse` stops without a checkpoint of the collapsed state.
    @Test func noCentringCollapsesToOnePrototypeAndStopOnCollapseStops() throws {
        let c = Self.noCentring(stop: true)
        let (outcome, messages, run) = try Self.train(c, steps: 40)
        defer { try? FileManager.default.removeItem(at: run) }
        guard case .collapsed(let kind, let good) = outcome else { Issue.record("did not stop: \(outcome), \(messages)"); return }
        #expect(kind == .onePrototype, "\(messages)")
        #expect(good == nil)                      // collapsed within the first window: nothing good was saved
        #expect(CheckpointStore(directory: run.appendingPathComponent("checkpoints")).list().isEmpty)
        #expect(messages.contains { $0.hasPrefix("stop_on_collapse: stopped at step") })
    }

    /// The monitor's streaks are saved in checkpoints: a run resumed every 4 steps, shorter
    /// than the 8-step window, reports the collapse at the step an uninterrupted run does.
    @Test func resumedRunReportsTheCollapseAtTheSameStep() throws {
        let c = Self.noCentring(stop: false)
        let (_, whole, wholeRun) = try Self.train(c, steps: 20)
        defer { try? FileManager.default.removeItem(at: wholeRun) }
        let warning = try #require(whole.first { $0.hasPrefix("warning: collapse (") }, "\(whole)")

        let parts = DINORunTests.temporaryRun()
        defer { try? FileManager.default.removeItem(at: parts) }
        var messages: [String] = []
        for steps in stride(from: 4, through: 20, by: 4) {
            let setup = try DINORunTests.setUp(c, in: parts, maxSteps: steps)
            setup.run.trainer.log = { messages.append($0) }
            _ = try setup.run.trainer.run()
        }
        #expect(messages.filter { $0.hasPrefix("warning: collapse (") } == [warning], "\(messages)")
    }

    /// The defaults of the same small run are not reported (informative targets).
    @Test func defaultsAreNotReported() throws {
        let c = Self.config(window: 8, stop: true) { _ in }
        let (outcome, messages, run) = try Self.train(c, steps: 24)
        defer { try? FileManager.default.removeItem(at: run) }
        #expect(outcome == .stopped(reason: "reached max_steps 24"), "\(messages)")
        #expect(!messages.contains { $0.contains("collapse") })
    }
}
