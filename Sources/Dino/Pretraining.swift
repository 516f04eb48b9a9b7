// Self-supervised pretraining from a program: a method of the registry (DINO, DINOv2,
// distillation, or one a program registers), a folder of images and a run folder — what
// `dino train` does, with a closure instead of the progress bar.
//
// What it is: `TrainRequest` (the rules for method, new run or resume, config file and
// key=value overrides) and `TrainingRun` (any registered method over the trainer) of DinoSSL,
// called the way the CLI calls them. What it is not: another trainer or another config system.

import DinoSSL
import DinoVision
import Foundation

/// A training method of the registry, by name.
public struct TrainingMethodInfo: Equatable, Sendable {
    /// The name to pass as the `method` of a ``Pretraining``.
    public var name: String
    /// One line on what it trains.
    public var summary: String
}

/// A pretraining run in a run folder, with a progress callback.
///
/// ```swift
/// let training = try Pretraining(method: "dino", data: "data/glyphs-mini/train",
///                                runDirectory: URL(fileURLWithPath: "runs/demo"),
///                                model: "vit_nano_patch4", epochs: 10, batchSize: 32)
/// training.onStep = { report in print(report.step, report.loss) }
/// let outcome = try training.run()
/// let backbone = try training.backbone()
/// ```
///
/// The run folder receives what `dino train` writes: `config.json` (with `"method"`),
/// `checkpoints/`, `metrics.jsonl` and `tensorboard/`; `dino train --resume`, `dino export`
/// and `dino eval --run` read it.
public final class Pretraining {
    /// The registered methods (`dino`, `dinov2`, `distill`, and any a program registered
    /// through DinoSSL's `MethodRegistry.register`).
    public static var methods: [TrainingMethodInfo] {
        MethodRegistry.methods.map { TrainingMethodInfo(name: $0.name, summary: $0.summary) }
    }

    /// The method being trained.
    public let method: String
    /// The run folder.
    public let runDirectory: URL
    /// The start line of `dino train`: model, data, steps and the main settings.
    public let summary: String
    /// The number of images found under the data folder.
    public let imageCount: Int

    /// Called after every optimisation step with its position and loss terms, on the thread
    /// that called ``run()``.
    public var onStep: ((StepReport) -> Void)? {
        get { trainingRun.trainer.onStep }
        set { trainingRun.trainer.onStep = newValue }
    }

    /// Where the trainer's messages go (resuming, checkpoints, collapse warnings); standard
    /// error by default.
    public var onMessage: (String) -> Void {
        get { trainingRun.trainer.log }
        set { trainingRun.trainer.log = newValue }
    }

    private let trainingRun: TrainingRun
    private let stopSignal = StopSignal(signals: [])

    /// Prepares a new run (or, with `resume`, the continuation of one): reads the settings,
    /// indexes the images, builds the method and writes `config.json`. Nothing trains before
    /// ``run()``.
    ///
    /// Settings are layered as in `dino train`: the method's defaults (the reference's values,
    /// with automatic ones scaled to the data and the run length), then `configFile`, then
    /// `settings`, then the named arguments.
    ///
    /// - Parameters:
    ///   - method: a name of ``methods``; nil takes the config file's `"method"`, the resumed
    ///     run's, or `dino`.
    ///   - data: a folder of images (searched recursively; labels are not used) or a text file
    ///     listing paths.
    ///   - runDirectory: the run folder; a new run needs one without checkpoints.
    ///   - model: the backbone preset (`vit_nano_patch4`, `vit_tiny_patch4`, `dino_vits16`, …);
    ///     the student for `distill`.
    ///   - epochs: passes over the data.
    ///   - batchSize: images per step.
    ///   - seed: the random seed.
    ///   - settings: `key.sub=value` overrides of the method's config (the keys of
    ///     `dino train`, e.g. `"optim.lr=1e-3"`, `"koleo_loss_weight=0.1"`).
    ///   - configFile: a JSON or YAML config file (may name its `"method"`).
    ///   - resume: continue the run in `runDirectory` from its newest checkpoint.
    ///   - maxSteps: stop with a checkpoint once this many steps are done.
    ///   - maxMinutes: stop with a checkpoint after this many minutes.
    ///   - progressBar: draw `dino train`'s progress bar on standard error.
    ///   - tensorBoard: also write TensorBoard event files under `tensorboard/`.
    /// - Throws: errors naming the unknown method, key or bad value, an existing run (without
    ///   `resume`) or a missing one (with it), and a data folder without images.
    public init(method: String? = nil, data: String, runDirectory: URL, model: String? = nil, epochs: Int? = nil,
                batchSize: Int? = nil, seed: UInt64? = nil, settings: [String] = [], configFile: URL? = nil,
                resume: Bool = false, maxSteps: Int? = nil, maxMinutes: Double? = nil, progressBar: Bool = false,
                tensorBoard: Bool = true) throws {
        var overrides = settings
        if let model { overrides.append("model=\(Pretraining.jsonString(model))") }
        if let epochs { overrides.append("epochs=\(epochs)") }
        if let batchSize { overrides.append("batch_size=\(batchSize)") }
        if let seed { overrides.append("seed=\(seed)") }
        let request = TrainRequest(method: method, resume: resume, configFile: configFile, overrides: overrides,
                                   runDirectory: runDirectory)
        let (name, tree) = try request.resolve()
        trainingRun = try TrainingRun(method: name, configTree: tree, dataPath: data, runDirectory: runDirectory,
                              stopSignal: stopSignal, issues: DataIssueLog(report: DataIssueLog.silent)) { o in
            o.maxSteps = maxSteps
            o.maxMinutes = maxMinutes
            o.progress = progressBar
            o.tensorBoard = tensorBoard
        }
        self.method = name
        self.runDirectory = runDirectory
        summary = trainingRun.summary
        imageCount = trainingRun.dataset.count
    }

    /// Trains from the newest checkpoint (or the start) to the last epoch, a budget, or
    /// ``requestStop()``; writes checkpoints on the way and at the end.
    ///
    /// - Returns: how the session ended: `.completed`, `.stopped(reason:)` or
    ///   `.collapsed(kind:lastGood:)` (with the `stop_on_collapse=true` setting).
    /// - Throws: an error naming the step when the loss stops being finite (the last good
    ///   checkpoint is kept), and file errors.
    public func run() throws -> TrainOutcome {
        try trainingRun.trainer.run()
    }

    /// Asks ``run()`` to stop after the current step, with a checkpoint (safe from any thread,
    /// e.g. from ``onStep``).
    public func requestStop() {
        stopSignal.request("stop requested by the program")
    }

    /// The backbone trained so far (its newest checkpoint): see ``Backbone/init(run:)``.
    public func backbone() throws -> Backbone {
        try Backbone(run: runDirectory)
    }

    /// A string as a JSON literal, for a `key=value` override.
    static func jsonString(_ s: String) -> String {
        let data = try! JSONEncoder().encode(s)
        return String(decoding: data, as: UTF8.self)
    }
}
