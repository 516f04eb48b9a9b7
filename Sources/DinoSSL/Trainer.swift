// The method-agnostic training loop.
//
// A method (DINO, DINOv2, …) says how one batch becomes named loss terms and what happens
// after the optimiser step (the teacher's EMA update); a batch source says which batches make
// an epoch. The trainer owns everything else, in this order for each step:
//
//     schedules(step) → method.step → finite check → backward → clip → method.beforeOptimizerStep
//       → AdamW → method.afterOptimizerStep → metrics, progress → checkpoint / stop checks
//
// Resuming is bit-exact: a checkpoint holds the parameters, the method's other tensors, the
// optimiser state, the method's random generators and the position (step, epoch, batch), and
// the batch source must give the same batches for the same (epoch, index) — so an interrupted
// and resumed run computes exactly what an uninterrupted one does (with the same thread count).
//
// Data-parallel training (a `communicator` of several ranks, DinoDistributed): every rank runs
// this loop on its slice of each global batch. The parameters and the method's state are
// broadcast from rank 0 when the loop starts; backward hands each final gradient to a
// `GradientReducer` (DDP's bucketed all-reduce, launched during backward) and the averaged
// gradients are in place before clipping, so clipping, AdamW and the EMA run identically on
// every rank. The logged loss terms are averaged over the ranks (one small all-reduce, which also
// makes the finite-loss check agree), stops and checkpoint intervals are agreed by all ranks,
// and only rank 0 writes logs, metrics, TensorBoard and checkpoints (followed by a barrier).

import DinoDistributed
import DinoNN
import DinoTensor
import Foundation

// MARK: - Protocols

/// Batches of one epoch, reproducible by position.
///
/// `batches(epoch:startingAt:)` must give the same batches for the same arguments every time
/// (shuffle seeded by the epoch, augmentations by a generator forked from (epoch, index)), so
/// that resuming mid-epoch needs no data-loader state.
public protocol BatchSource {
    associatedtype Batch
    /// Batches in one epoch (DINO's `len(data_loader)`).
    var batchesPerEpoch: Int { get }
    /// Images per batch, for the throughput display.
    var itemsPerBatch: Int { get }
    /// The batches of `epoch`, from index `start` to the end of the epoch, in order.
    func batches(epoch: Int, startingAt start: Int) -> AnyIterator<Batch>
}

/// A self-supervised method as the trainer sees it.
public protocol TrainingMethod: AnyObject {
    associatedtype Batch
    /// The trained parameters, in groups declared from their roles; names are checkpoint keys.
    var parameterGroups: [ParameterGroup] { get }
    /// Forward pass of one batch: named loss terms, each a scalar; `"loss"` is the total to
    /// minimise (the others are logged). `schedules` holds this iteration's values.
    func step(batch: Batch, schedules: ScheduleValues) -> [String: Tensor]
    /// After backward and clipping, before the optimiser (DINO cancels the last layer's
    /// gradients here during the first epoch). Default: nothing.
    func beforeOptimizerStep(schedules: ScheduleValues)
    /// After the optimiser step (the teacher's EMA update with `schedules["momentum"]`).
    func afterOptimizerStep(schedules: ScheduleValues)
    /// Tensors to checkpoint besides the parameters (teacher weights, centre), by name.
    /// Default: none.
    func stateTensors() -> [String: Tensor]
    /// Restores what `stateTensors()` saved. Default: copies each saved tensor into the tensor
    /// of the same name returned by `stateTensors()` (override when state tensors are replaced
    /// rather than updated in place).
    func loadStateTensors(_ tensors: [String: Tensor]) throws
    /// The method's random generators (masks, drop path), saved and restored by name.
    /// Default: none.
    var randomGenerators: [String: RandomGenerator] { get set }
    /// The optimisers: each a name and the groups it updates (an AdamW each, with the
    /// trainer's betas), e.g. one per student when several students train side by side.
    /// Their state is checkpointed under `optimizer.` for one optimiser, `optimizer.<name>.`
    /// for several. Default: one optimiser, named "", over `parameterGroups`.
    var optimizerGroups: [(name: String, groups: [ParameterGroup])] { get }
    /// The modules whose gradients `ClipMode.totalNormPerModule` clips each to the total norm
    /// `clip_grad` on its own, by name (DINOv2/v3: the student's backbone, DINO head and iBOT
    /// head). Default: one module holding every parameter.
    var clippingModules: [(name: String, parameters: [Tensor])] { get }
    /// K, the number of prototypes of the teacher's targets, for the collapse monitor's target
    /// checks (CollapseMonitor.swift); nil when the method has no such targets. Default: nil.
    var targetPrototypes: Int? { get }
    /// Hands the method the communicator of data-parallel training, for its documented
    /// collectives (DINO's centre, Sinkhorn-Knopp's sums, iBOT's masked-patch counts); the
    /// trainer calls it once, before the first step. Default: ignored (a method without
    /// cross-rank statistics).
    func useCommunicator(_ communicator: any Communicator)
    /// On one process, computes what each of `ranks` data-parallel ranks computes on its own
    /// slice of the batch (KoLeo), so that the run can be compared with a `ranks`-rank run.
    /// Default: ignored (a method with no per-rank statistics).
    func emulateRanks(_ ranks: Int)
}

extension TrainingMethod {
    public func beforeOptimizerStep(schedules: ScheduleValues) {}
    public func stateTensors() -> [String: Tensor] { [:] }
    public func loadStateTensors(_ tensors: [String: Tensor]) throws {
        for (name, live) in stateTensors() {
            guard let saved = tensors[name] else { throw CheckpointError.mismatch("method state '\(name)' is missing") }
            guard saved.shape == live.shape else {
                throw CheckpointError.mismatch("method state '\(name)' has shape \(saved.shape), expected \(live.shape)")
            }
            live.copyIn(saved.to(live.dtype))
        }
    }
    public var randomGenerators: [String: RandomGenerator] {
        get { [:] }
        set {}
    }
    public var clippingModules: [(name: String, parameters: [Tensor])] {
        [(name: "all", parameters: parameterGroups.allParameters)]
    }
    public var targetPrototypes: Int? { nil }
    public func useCommunicator(_ communicator: any Communicator) {}
    public func emulateRanks(_ ranks: Int) {}
    public var optimizerGroups: [(name: String, groups: [ParameterGroup])] { [(name: "", groups: parameterGroups)] }
}

// MARK: - Options and results

/// How gradients are clipped before the optimiser step.
public enum ClipMode: String, Codable, Sendable {
    /// Each parameter's gradient to norm `clip_grad` (DINO).
    case perParameter = "per_parameter"
    /// All gradients together to total norm `clip_grad` (`clip_grad_norm_` over the model).
    case totalNorm = "total_norm"
    /// The gradients of each of the method's `clippingModules` to total norm `clip_grad`
    /// separately (DINOv2/v3: `for v in model.student.values(): v.clip_grad_norm_(clip_grad)`).
    case totalNormPerModule = "total_norm_per_module"
}

/// The trainer's settings (JSON/YAML keys in snake_case).
public struct TrainerOptions: Configuration, Equatable {
    /// Number of epochs (DINO ViT-S/16: 100).
    public var epochs = 100
    /// Maximum gradient norm; nil disables clipping (DINO: 3.0).
    public var clipGrad: Double? = 3.0
    /// Per-parameter (DINO), total-norm, or total-norm per module (DINOv2/v3) clipping.
    public var clipMode = ClipMode.perParameter
    /// AdamW β₁, β₂ and ε (PyTorch defaults, used by DINO and DINOv2).
    public var adamBeta1 = 0.9
    public var adamBeta2 = 0.999
    public var adamEps = 1e-8
    /// Write a checkpoint every this many epochs (and at the end).
    public var checkpointEveryEpochs = 1
    /// Also every this many minutes of training; nil for epochs only.
    public var checkpointEveryMinutes: Double? = 30
    /// Also every this many steps (dinov2's `checkpointing.period`, in iterations); nil: none.
    public var checkpointEverySteps: Int? = nil
    /// Checkpoints kept (the newest).
    public var keepCheckpoints = 3
    /// Stop cleanly (with a checkpoint) after this many minutes; nil for no limit.
    public var maxMinutes: Double? = nil
    /// Stop cleanly (with a checkpoint) once this many steps are done; nil for no limit.
    public var maxSteps: Int? = nil
    /// Write metrics every this many steps (and at each epoch's last step).
    public var logEverySteps = 10
    /// Also write TensorBoard event files.
    public var tensorBoard = true
    /// Show a progress bar on standard error.
    public var progress = true
    /// Thresholds and window of the collapse monitor (CollapseMonitor.swift).
    public var collapseMonitor = CollapseMonitorOptions()
    /// Stop the run, without writing a checkpoint of the collapsed state, when a collapse has
    /// lasted a whole window; the checkpoints written before it are kept.
    public var stopOnCollapse = false
    /// Precision of the matrix products in the step's forward (and so its backward): `float32`
    /// or `bf16` (PyTorch's CPU autocast; DinoTensor/Ops/Autocast.swift); or `float64`, the
    /// whole step in Float64 for numerical checks (the method builds its modules, centres and
    /// batches in Float64; AdamW's moments follow the parameters). Saved in the train state;
    /// resuming with another precision is refused (it would not be bit-exact).
    public var precision = Precision.float32

    public init() {}

    /// Checks the values that have a valid range, naming the key of the first bad one.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: key, message: message) }
        }
        try check(epochs >= 1, "epochs", "\(epochs) must be at least 1")
        try check(clipGrad.map { $0 > 0 } ?? true, "clip_grad", "must be positive, or null to disable clipping")
        try check((0..<1).contains(adamBeta1) && (0..<1).contains(adamBeta2), "adam_beta1", "betas must lie in [0, 1)")
        try check(adamEps >= 0, "adam_eps", "must be non-negative")
        try check(checkpointEveryEpochs >= 1, "checkpoint_every_epochs", "must be at least 1")
        try check(checkpointEveryMinutes.map { $0 > 0 } ?? true, "checkpoint_every_minutes", "must be positive, or null")
        try check(checkpointEverySteps.map { $0 >= 1 } ?? true, "checkpoint_every_steps", "must be at least 1, or null")
        try check(keepCheckpoints >= 1, "keep_checkpoints", "must be at least 1")
        try check(maxMinutes.map { $0 >= 0 } ?? true, "max_minutes", "must be non-negative, or null")
        try check(maxSteps.map { $0 >= 0 } ?? true, "max_steps", "must be non-negative, or null")
        try check(logEverySteps >= 1, "log_every_steps", "must be at least 1")
        try collapseMonitor.validate(prefix: "collapse_monitor.")
    }

    enum CodingKeys: String, CodingKey {
        case epochs, progress
        case clipGrad = "clip_grad", clipMode = "clip_mode"
        case adamBeta1 = "adam_beta1", adamBeta2 = "adam_beta2", adamEps = "adam_eps"
        case checkpointEveryEpochs = "checkpoint_every_epochs", checkpointEveryMinutes = "checkpoint_every_minutes"
        case checkpointEverySteps = "checkpoint_every_steps"
        case keepCheckpoints = "keep_checkpoints", maxMinutes = "max_minutes", maxSteps = "max_steps"
        case logEverySteps = "log_every_steps", tensorBoard = "tensorboard"
        case collapseMonitor = "collapse_monitor", stopOnCollapse = "stop_on_collapse", precision
    }
}

/// How a call to `Trainer.run()` ended.
public enum TrainOutcome: Equatable, Sendable {
    /// All epochs done.
    case completed
    /// Stopped early with a checkpoint: a signal, the time budget or `maxSteps`.
    case stopped(reason: String)
    /// Stopped by `stopOnCollapse` without a checkpoint of the collapsed state; `lastGood` is
    /// the newest checkpoint written before the collapse began, if any.
    case collapsed(kind: CollapseKind, lastGood: URL?)
}

/// One finished optimisation step, as `Trainer.onStep` reports it.
public struct StepReport: Sendable, Equatable {
    /// Steps done, this one included (the step's index is `step - 1`).
    public let step: Int
    /// The epoch this step belongs to, from 0, and the number of epochs of the run.
    public let epoch: Int
    public let epochs: Int
    /// Batches of the epoch done, this one included, and the batches of an epoch.
    public let batchInEpoch: Int
    public let batchesPerEpoch: Int
    /// What the step logs: the method's loss terms (`"loss"` is the total), the schedule
    /// values (`lr`, `wd`, `momentum`, …), gradient norms and the collapse monitors.
    public let values: [String: Double]

    public init(step: Int, epoch: Int, epochs: Int, batchInEpoch: Int, batchesPerEpoch: Int, values: [String: Double]) {
        self.step = step
        self.epoch = epoch
        self.epochs = epochs
        self.batchInEpoch = batchInEpoch
        self.batchesPerEpoch = batchesPerEpoch
        self.values = values
    }

    /// The total loss of the step.
    public var loss: Double { values["loss"] ?? .nan }
}

/// Why training could not go on.
public enum TrainerError: Error, CustomStringConvertible, Equatable {
    /// The loss was NaN or infinite; the last good checkpoint is left as it was.
    case nonFiniteLoss(step: Int, epoch: Int, terms: [String: Double], lastCheckpoint: String?)
    /// The method returned no `"loss"` term.
    case missingLoss(terms: [String])
    /// The batch source ran out before the end of an epoch.
    case dataExhausted(epoch: Int, index: Int, expected: Int)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step, let epoch, let terms, let last):
            let t = terms.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "loss is not finite at step \(step) (epoch \(epoch)): \(t). Stopping; "
                + (last.map { "the last good checkpoint is \($0)" } ?? "no checkpoint was written yet")
                + ". Lower the learning rate or check the data, then resume."
        case .missingLoss(let terms):
            return "the method's step returned no \"loss\" term (it returned: \(terms.sorted().joined(separator: ", ")))"
        case .dataExhausted(let epoch, let index, let expected):
            return "the batch source ended at batch \(index) of epoch \(epoch), but promised \(expected) batches"
        }
    }
}

// MARK: - Trainer

/// Runs a method over a batch source with AdamW, schedules, clipping, logging and checkpoints.
public final class Trainer<Method: TrainingMethod, Source: BatchSource> where Method.Batch == Source.Batch {
    public let method: Method
    public let data: Source
    public let schedules: ScheduleSet
    public let options: TrainerOptions
    /// RUN: checkpoints/, metrics.jsonl, tensorboard/.
    public let runDirectory: URL
    /// The optimisers of `method.optimizerGroups`, by name, and the first of them.
    public let optimizers: [(name: String, optimizer: AdamW)]
    public var optimizer: AdamW { optimizers[0].optimizer }
    public let checkpoints: CheckpointStore
    /// The configuration echoed into every checkpoint.
    public let config: JSONValue
    /// Raised by SIGINT/SIGTERM (or by code); checked between steps.
    public let stopSignal: StopSignal?
    /// Messages for the user (resume, checkpoints, stop); standard error by default.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Called after every optimisation step with its loss terms and position (a library
    /// program's progress display); nil by default.
    public var onStep: ((StepReport) -> Void)?
    /// Monotonic clock in seconds, for budgets, checkpoint intervals and throughput.
    public var clock: () -> Double = monotonicSeconds
    /// The ranks of data-parallel training (one process by default).
    public let communicator: any Communicator
    /// DDP's gradient buckets when there are several ranks.
    public let reducer: GradientReducer?
    /// After every step, check that the parameters and method state (teacher, centres, Gram
    /// teacher) of all ranks are bit-identical (a hash of each rank's, gathered by an
    /// all-reduce), logged as `replicas_identical`;
    /// a difference stops the run. For tests and debugging; off by default.
    public var verifyReplicas = false
    /// Start each gradient bucket's all-reduce during backward, as soon as it is ready (DDP);
    /// false starts them all after backward (to measure what the overlap saves).
    public var overlapGradientReduction = true

    /// Where the run is: the next step to take.
    public private(set) var step = 0
    public private(set) var epoch = 0
    public private(set) var batchInEpoch = 0
    /// The newest checkpoint written or loaded.
    public private(set) var lastCheckpoint: URL?
    /// The collapse monitor: its streaks go into every checkpoint and come back on resume.
    public private(set) var monitor: CollapseMonitor
    var elapsedBefore = 0.0
    /// Whether the Float32 `linear` puts its bias in the product (`Float32Linear`): for a run
    /// started here, as the trainer was created (yes, unless inside
    /// `Float32Linear.withBiasInProduct(false)`); for a resumed one, the route its checkpoint
    /// records (runs recorded before the route existed broadcast the bias), so that a run keeps
    /// its sums' order and resumes bit-exactly.
    public private(set) var linearBiasInProduct = Float32Linear.biasInProductAllowed
    var lastValues: ScheduleValues?
    var lastLoss: Double?

    /// - Parameters:
    ///   - schedules: must include the schedules named by the groups (`lr`, `wd`, …) and any
    ///     the method reads (`momentum`, `teacher_temp`).
    ///   - stopSignal: pass `StopSignal()` to stop cleanly on Ctrl-C; nil to not catch signals.
    /// - Throws: `ConfigError.invalidValue` for options out of range.
    public init(method: Method, data: Source, schedules: ScheduleSet, options: TrainerOptions,
                runDirectory: URL, config: JSONValue = .object([:]), stopSignal: StopSignal? = nil,
                communicator: any Communicator = SingleProcessCommunicator()) throws {
        try options.validate()
        self.communicator = communicator
        reducer = communicator.size > 1
            ? GradientReducer(parameters: method.parameterGroups.allParameters, communicator: communicator) : nil
        method.useCommunicator(communicator)
        self.method = method
        self.data = data
        self.schedules = schedules
        self.options = options
        self.runDirectory = runDirectory
        self.config = config
        self.stopSignal = stopSignal
        let groups = method.parameterGroups
        for g in groups {
            for key in [g.learningRateSchedule, g.weightDecaySchedule] where schedules[key] == nil {
                preconditionFailure("Trainer: group '\(g.role)' reads schedule '\(key)', which is not in the schedule set (\(schedules.schedules.keys.sorted().joined(separator: ", ")))")
            }
        }
        precondition(data.batchesPerEpoch > 0, "Trainer: the batch source has no batches")
        if options.precision == .float64,
           let (name, p) = groups.namedParameters.first(where: { $0.1.dtype != .float64 }) {
            throw ConfigError.invalidValue(path: "precision", message: "float64 asked for, but the method built parameter '\(name)' in \(p.dtype) (float64 is implemented for dino and dinov2)")
        }
        let perOptimizer = method.optimizerGroups
        precondition(!perOptimizer.isEmpty && (perOptimizer.count == 1 || perOptimizer.allSatisfy { !$0.name.isEmpty })
                     && Set(perOptimizer.map(\.name)).count == perOptimizer.count,
                     "Trainer: optimisers \(perOptimizer.map(\.name)) must be one, or several with distinct non-empty names")
        precondition(perOptimizer.flatMap(\.groups).allParameters.count == groups.allParameters.count,
                     "Trainer: the optimisers' groups must hold exactly the method's parameter groups")
        optimizers = perOptimizer.map { o in
            (name: o.name, optimizer: AdamW(groups: o.groups, beta1: options.adamBeta1, beta2: options.adamBeta2, eps: options.adamEps))
        }
        checkpoints = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"), keep: options.keepCheckpoints)
        monitor = CollapseMonitor(options: options.collapseMonitor, prototypes: method.targetPrototypes,
                                  totalSteps: options.epochs * data.batchesPerEpoch)
    }

    // MARK: Checkpoint contents

    static var optimizerPrefix: String { "optimizer." }

    /// Checkpoint prefix of optimiser `name`'s state: `optimizer.` when it is the only one.
    func optimizerPrefix(_ name: String) -> String {
        optimizers.count == 1 ? Self.optimizerPrefix : Self.optimizerPrefix + name + "."
    }

    /// Every tensor of a checkpoint: parameters by name, the method's state, the optimiser's
    /// state under `optimizer.`.
    func checkpointTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        func put(_ name: String, _ t: Tensor) {
            precondition(out[name] == nil, "Trainer: two checkpoint tensors are named '\(name)'")
            out[name] = t
        }
        for (name, p) in method.parameterGroups.namedParameters { put(name, p) }
        for (name, t) in method.stateTensors() { put(name, t) }
        for o in optimizers {
            for (name, t) in o.optimizer.stateTensors() { put(optimizerPrefix(o.name) + name, t) }
        }
        return out
    }

    /// Writes a checkpoint of the current position (unless the newest one is already there).
    @discardableResult
    public func saveCheckpoint(reason: String, sessionStart: Double) throws -> URL {
        if let last = lastCheckpoint, last.lastPathComponent == CheckpointStore.name(step: step) + ".json",
           FileManager.default.fileExists(atPath: last.path) {
            return last
        }
        var state = TrainState(step: step, epoch: epoch, batchInEpoch: batchInEpoch, batchesPerEpoch: data.batchesPerEpoch,
                               generators: method.randomGenerators, scheduleValues: lastValues?.values ?? [:],
                               lastLoss: lastLoss, elapsedSeconds: elapsedBefore + (clock() - sessionStart),
                               reason: reason, config: config)
        state.collapseMonitor = monitor.state
        state.precision = options.precision
        if options.precision == .bf16 { state.bf16Products = Trainer.bf16Products }
        state.computeBackend = ComputeBackend.description(linearBiasInProduct: linearBiasInProduct)
        var url = checkpoints.directory.appendingPathComponent(CheckpointStore.name(step: step) + ".json")
        if communicator.isMain { url = try checkpoints.save(tensors: checkpointTensors(), state: state) }
        // The other ranks go on once the checkpoint is on disk (a restart finds it).
        communicator.barrier(label: "after checkpoint \(url.lastPathComponent)")
        lastCheckpoint = url
        return url
    }

    /// Restores parameters, method state, optimiser state, generators and position.
    func restore(_ c: Checkpoint) throws {
        let s = c.state
        guard s.batchesPerEpoch == data.batchesPerEpoch else {
            throw CheckpointError.mismatch("it was saved with \(s.batchesPerEpoch) batches per epoch, the data now gives \(data.batchesPerEpoch)")
        }
        guard (s.precision ?? .float32) == options.precision else {
            throw CheckpointError.mismatch("it was trained with precision \((s.precision ?? .float32).rawValue), "
                                           + "the run now asks for \(options.precision.rawValue) (set `precision` back to resume)")
        }
        if options.precision == .bf16, let saved = s.bf16Products, saved != Trainer.bf16Products {
            say("note: the checkpoint's bf16 products ran \(saved), here they run \(Trainer.bf16Products): "
                + "the resumed run is close to, not bit-exact with, an uninterrupted one")
        }
        linearBiasInProduct = ComputeBackend.recordsLinearBiasInProduct(s.computeBackend)
        let here = ComputeBackend.description(linearBiasInProduct: linearBiasInProduct)
        if let saved = s.computeBackend, saved != here {
            say("note: the checkpoint was computed by \(saved), this machine runs \(here): "
                + "the resumed run is close to, not bit-exact with, an uninterrupted one")
        }
        var rest = c.tensors
        var optimizerStates: [[String: Tensor]] = []
        for o in optimizers {
            let prefix = optimizerPrefix(o.name)
            var state: [String: Tensor] = [:]
            for (k, t) in c.tensors where k.hasPrefix(prefix) {
                state[String(k.dropFirst(prefix.count))] = t
                rest[k] = nil
            }
            optimizerStates.append(state)
        }
        for (name, p) in method.parameterGroups.namedParameters {
            guard let t = rest.removeValue(forKey: name) else { throw CheckpointError.mismatch("parameter '\(name)' is missing") }
            guard t.shape == p.shape else {
                throw CheckpointError.mismatch("parameter '\(name)' has shape \(t.shape), the model has \(p.shape)")
            }
            p.copyIn(t.to(p.dtype))
        }
        try method.loadStateTensors(rest)
        do {
            for (o, state) in zip(optimizers, optimizerStates) { try o.optimizer.loadStateTensors(state) }
        } catch let e as OptimizerStateError {
            throw CheckpointError.mismatch(e.description)
        }
        let names = Set(method.randomGenerators.keys)
        guard names == Set(s.generators.keys) else {
            throw CheckpointError.mismatch("random generators \(s.generators.keys.sorted()) saved, the method has \(names.sorted())")
        }
        method.randomGenerators = s.generators
        step = s.step
        epoch = s.epoch
        batchInEpoch = s.batchInEpoch
        elapsedBefore = s.elapsedSeconds
        lastLoss = s.lastLoss
        if let m = s.collapseMonitor { monitor.state = m }
        lastCheckpoint = c.url
    }

    // MARK: The loop

    /// Trains from the newest checkpoint in RUN/checkpoints (or from the start) until all
    /// epochs are done or a stop is requested.
    ///
    /// - Throws: `TrainerError.nonFiniteLoss` (the last good checkpoint is kept), checkpoint
    ///   and I/O errors.
    public func run() throws -> TrainOutcome {
        let sessionStart = clock()
        var resumed = false
        if let c = try checkpoints.loadLatest() {
            try restore(c)
            resumed = true
            say("resuming from \(c.url.lastPathComponent): epoch \(epoch), step \(step)")
        }
        if communicator.size > 1 { synchronizeStart() }
        let main = communicator.isMain
        if main { try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true) }
        let metrics = main ? try MetricsLogger(runDirectory: runDirectory, resumingAt: resumed ? step : nil,
                                               tensorBoard: options.tensorBoard) : nil
        let budget = TimeBudget(minutes: options.maxMinutes, clock: clock)
        var lastSave = clock()
        let perEpoch = data.batchesPerEpoch
        let groups = method.parameterGroups
        func collapseNote() -> String? {
            monitor.active.isEmpty ? nil : "COLLAPSE: " + monitor.active.map(\.rawValue).sorted().joined(separator: ", ")
        }

        // Stops and checkpoint intervals: each rank's view, agreed by all (any rank's signal,
        // time budget or interval counts for all, so that every rank takes the same path).
        func agreed() -> (stop: String?, interval: Bool) {
            let signal = stopSignal?.stopReason, spent = budget.isExhausted
            let due = options.checkpointEveryMinutes.map { clock() - lastSave >= $0 * 60 } ?? false
            let flags = communicator.any([signal != nil, spent, due], label: "stop and checkpoint flags")
            if flags[0] { return (signal ?? "stop requested on another rank", false) }
            if flags[1] { return ("time budget of \(options.maxMinutes!) minutes spent", false) }
            if let m = options.maxSteps, step >= m { return ("reached max_steps \(m)", false) }
            return (nil, flags[2])
        }

        while epoch < options.epochs {
            let bar = options.progress && main
                ? ProgressBar(total: perEpoch, startingAt: batchInEpoch, label: "epoch \(epoch + 1)/\(options.epochs)",
                              itemsPerStep: data.itemsPerBatch, clock: clock)
                : nil
            bar?.note = collapseNote()
            let batches = data.batches(epoch: epoch, startingAt: batchInEpoch)
            while batchInEpoch < perEpoch {
                let (stop, intervalDue) = agreed()
                if let reason = stop {
                    bar?.finish()
                    let url = try saveCheckpoint(reason: "stop", sessionStart: sessionStart)
                    say("\(reason): checkpoint \(url.lastPathComponent) written at step \(step)")
                    return .stopped(reason: reason)
                }
                if intervalDue {
                    try saveCheckpoint(reason: "interval", sessionStart: sessionStart)
                    lastSave = clock()
                }
                guard let batch = batches.next() else {
                    throw TrainerError.dataExhausted(epoch: epoch, index: batchInEpoch, expected: perEpoch)
                }
                OpProfiler.mark("trainer: data loader wait, loop")
                let values = schedules.values(at: step, epoch: epoch)
                let stepStart = monotonicSeconds()
                var logged = try trainStep(batch, values, groups: groups)
                // Wall time of the step (forward, backward, gradient reduction, optimiser, EMA),
                // from the real clock: a measurement, never an input of the run's decisions.
                logged[MetricsLogger.stepSecondsKey] = monotonicSeconds() - stepStart
                let collapsed = report(monitor.observe(step: step, values: logged), bar: bar)
                if monitor.prototypes != nil || logged[CollapseMonitor.featureStd] != nil {
                    logged["collapse"] = monitor.active.isEmpty ? 0 : 1
                }
                bar?.note = collapseNote()
                step += 1
                batchInEpoch += 1
                if step % options.logEverySteps == 0 || batchInEpoch == perEpoch {
                    try metrics?.log(step: step - 1, epoch: epoch, values: logged)
                }
                onStep?(StepReport(step: step, epoch: epoch, epochs: options.epochs, batchInEpoch: batchInEpoch,
                                   batchesPerEpoch: perEpoch, values: logged))
                if let kind = collapsed, options.stopOnCollapse {
                    bar?.finish()
                    let good = checkpoints.list().last { $0.step <= (monitor.onsetStep ?? 0) }?.url
                    say("stop_on_collapse: stopped at step \(step) without a checkpoint of the collapsed state; "
                        + (good.map { "the last checkpoint before the collapse is \($0.lastPathComponent)" }
                           ?? "no checkpoint was written before the collapse"))
                    return .collapsed(kind: kind, lastGood: good)
                }
                if let n = options.checkpointEverySteps, step % n == 0 {
                    try saveCheckpoint(reason: "interval", sessionStart: sessionStart)
                    lastSave = clock()
                }
                bar?.update(completed: batchInEpoch, metrics: [("loss", logged["loss"]!)]
                                + (values.values[ScheduleValues.learningRate].map { [("lr", $0)] } ?? []))
                OpProfiler.mark("trainer: metrics, monitor, checkpoints, progress")
            }
            bar?.finish(metrics: lastLoss.map { [("loss", $0)] } ?? [])
            epoch += 1
            batchInEpoch = 0
            if epoch % options.checkpointEveryEpochs == 0 || epoch == options.epochs {
                try saveCheckpoint(reason: "epoch", sessionStart: sessionStart)
                lastSave = clock()
            }
        }
        return .completed
    }

    /// Logs the collapse monitor's events (below the progress bar); returns the first kind that
    /// started, if any.
    func report(_ events: [CollapseMonitor.Event], bar: ProgressBar?) -> CollapseKind? {
        var started: CollapseKind? = nil
        for event in events {
            bar?.interrupt()
            switch event {
            case .started(let kind, let since, let at, let detail):
                say("warning: collapse (\(kind.rawValue)) at every step from \(since) to \(at): \(detail). " + kind.explanation + ".")
                started = started ?? kind
            case .ended(let kind, let at):
                say("collapse (\(kind.rawValue)) over at step \(at)")
            }
        }
        return started
    }

    /// How bf16 products run on this CPU: "native" or "emulated" (saved in the train state).
    static var bf16Products: String { Autocast.hasNativeBF16 ? "native" : "emulated" }

    /// One optimisation step; returns the values to log (loss terms, schedule values, grad norm).
    func trainStep(_ batch: Method.Batch, _ values: ScheduleValues, groups: [ParameterGroup]) throws -> [String: Double] {
        groups.zeroGrad()
        OpProfiler.mark("trainer: zero grad")
        // Autocast covers the forward; the backward keeps each op's recorded precision.
        let terms = Float32Linear.withBiasInProduct(linearBiasInProduct) {
            withPrecision(options.precision) { method.step(batch: batch, schedules: values) }
        }
        OpProfiler.mark("method step: untracked")
        guard let loss = terms["loss"] else { throw TrainerError.missingLoss(terms: Array(terms.keys)) }
        let termValues = try averagedOverRanks(terms.mapValues { t in
            precondition(t.count == 1, "Trainer: loss term of shape \(t.shape) is not a scalar")
            return t.doubles[0]                                     // exact for Float32 and Float64 terms
        })
        guard termValues["loss"]!.isFinite else {
            throw TrainerError.nonFiniteLoss(step: step, epoch: epoch, terms: termValues,
                                             lastCheckpoint: lastCheckpoint?.path)
        }
        if let reducer {
            reducer.prepare()
            loss.backward(onLeafGradient: overlapGradientReduction ? reducer.gradientReady : nil)
            reducer.finish()
            OpProfiler.mark("trainer: gradient all-reduce (wait)")
        } else {
            loss.backward()
        }
        var logged = termValues
        if let reducer { logged["comm_wait_seconds"] = reducer.lastWaitSeconds }
        if let clip = options.clipGrad {
            let params = groups.allParameters
            switch options.clipMode {
            case .perParameter:
                let norms = clipGradientsPerParameter(params, maxNorm: clip)
                if !norms.isEmpty { logged["grad_norm_max"] = norms.max()! }
            case .totalNorm:
                logged["grad_norm"] = clipGradientNorm(params, maxNorm: clip)
            case .totalNormPerModule:
                for module in method.clippingModules {
                    logged["grad_norm." + module.name] = clipGradientNorm(module.parameters, maxNorm: clip)
                }
            }
        }
        OpProfiler.mark("trainer: gradient clipping")
        method.beforeOptimizerStep(schedules: values)
        OpProfiler.mark("method: before optimizer step")
        for o in optimizers { o.optimizer.step(values) }
        OpProfiler.mark("trainer: optimizer")
        method.afterOptimizerStep(schedules: values)
        OpProfiler.mark("method: after optimizer step (EMA, …)")
        for (k, v) in values.values { logged[k] = v }
        if verifyReplicas { logged["replicas_identical"] = try checkReplicas() }
        lastValues = values
        lastLoss = termValues["loss"]
        return logged
    }
}
