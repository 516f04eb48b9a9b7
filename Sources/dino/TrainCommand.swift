// `dino train`: self-supervised pretraining of a backbone on a folder of images.

import ArgumentParser
import DinoSSL
import DinoTensor
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Pretrain a backbone on a folder of unlabelled images.",
        discussion: """
        Settings come from the method's defaults (the reference's values, with automatic ones \
        scaled to the run length and the data set size), then --config FILE.json|.yaml, then \
        key=value overrides (e.g. optim.lr=1e-3 head.prototypes=4096), then the flags. RUN \
        receives config.json, checkpoints/, metrics.jsonl and tensorboard/. Ctrl-C writes a \
        checkpoint and exits; --resume continues from the newest one with RUN/config.json.
        """
    )

    @Option(help: "Method: dino, dinov2 or distill (default: dino; with --resume, the run's).")
    var method: String?

    @Option(help: "Model preset (e.g. vit_tiny_patch4, vit_nano_patch4, dino_vits16); the student for distill.")
    var model: String?

    @Option(help: "distill: the teacher's model preset (with --teacher-weights).")
    var teacher: String?

    @Option(help: "distill: the teacher's backbone weights (.safetensors).")
    var teacherWeights: String?

    @Option(help: "distill: a dino/dinov2 run whose teacher (backbone and heads) to distil.")
    var teacherRun: String?

    @Option(help: "Folder of training images (searched recursively) or a text file listing paths.")
    var data: String

    @Option(help: "Run directory.")
    var out: String

    @Option(help: "Epochs.")
    var epochs: Int?

    @Option(help: "Stop cleanly, with a checkpoint, after this many minutes.")
    var maxMinutes: Double?

    @Option(help: "Stop cleanly, with a checkpoint, once this many steps are done (0: save the initial weights).")
    var maxSteps: Int?

    @Option(help: "Images per step.")
    var batchSize: Int?

    @Option(help: "Random seed.")
    var seed: UInt64?

    @Option(help: "Config file (JSON or YAML).")
    var config: String?

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Continue the run in --out from its newest checkpoint.")
    var resume = false

    @Flag(help: "No progress bar.")
    var quiet = false

    @Argument(help: "Config overrides key.sub=value.")
    var overrides: [String] = []

    func run() throws {
        let runURL = URL(fileURLWithPath: out)
        // A resumed run continues with the method that wrote it.
        let stored = resume ? DINORun.storedMethod(in: runURL) : nil
        if let method, let stored, method != stored {
            throw ValidationError("\(out) is a '\(stored)' run; resume it with --method \(stored) (or without --method)")
        }
        let method = self.method ?? stored ?? "dino"
        guard ["dino", "dinov2", "distill"].contains(method) else { throw ValidationError("unknown method '\(method)'; available: dino, dinov2, distill") }
        if method != "distill" && (teacher != nil || teacherWeights != nil || teacherRun != nil) {
            throw ValidationError("--teacher, --teacher-weights and --teacher-run are for --method distill")
        }
        if let threads { Threads.count = threads }
        let store = CheckpointStore(directory: runURL.appendingPathComponent("checkpoints"))
        var flags = overrides
        if let model { flags.append("model=\"\(model)\"") }
        if let epochs { flags.append("epochs=\(epochs)") }
        if let batchSize { flags.append("batch_size=\(batchSize)") }
        if let seed { flags.append("seed=\(seed)") }
        if let teacher { flags.append("teacher_model=\"\(teacher)\"") }
        if let teacherWeights { flags.append("teacher_weights=\"\(teacherWeights)\"") }
        if let teacherRun { flags.append("teacher_run=\"\(teacherRun)\"") }
        /// The method's config: defaults, the file (RUN/config.json on resume), overrides.
        func load<C: Configuration>(_ type: C.Type) throws -> C {
            if resume {
                guard !store.list().isEmpty else { throw ValidationError("\(out) has no checkpoint to resume from") }
                let stored = runURL.appendingPathComponent(DINORun.configFileName)
                return try ConfigLoader.load(C.self, file: config.map(URL.init(fileURLWithPath:)) ?? stored, overrides: flags)
            }
            guard store.list().isEmpty else {
                throw ValidationError("\(out) already holds checkpoints; pass --resume to continue it or choose another --out")
            }
            return try ConfigLoader.load(C.self, file: config.map(URL.init(fileURLWithPath:)), overrides: flags)
        }
        let stop = StopSignal()
        let maxMinutes = self.maxMinutes, maxSteps = self.maxSteps, quiet = self.quiet
        let configure: (inout TrainerOptions) -> Void = { o in
            o.maxMinutes = maxMinutes
            o.maxSteps = maxSteps
            o.progress = !quiet
        }
        let outcome: TrainOutcome
        let epochCount: Int
        if method == "distill" {
            let cfg = try load(DistillationConfig.self)
            let run = try DistillationRun(config: cfg, dataPath: data, runDirectory: runURL, stopSignal: stop, configure: configure)
            let r = run.resolved, t = run.method.teacher
            print("""
            distill: teacher \(t.backbone.embedDimensions) wide, depth \(t.backbone.config.depth) \
            (\(cfg.teacherRun ?? cfg.teacherWeights ?? "random weights")) → student \(cfg.model) \
            (\(r.model.embedDimensions) wide, depth \(r.model.depth)), \(run.dataset.count) images, \(r.stepsPerEpoch) steps/epoch × \
            \(cfg.epochs) epochs, batch \(cfg.batchSize), \(t.head.prototypes) prototypes, lr \(r.peakLearningRate), threads \(Threads.count)
            """)
            outcome = try run.trainer.run()
            epochCount = cfg.epochs
        } else if method == "dinov2" {
            let cfg = try load(DINOv2Config.self)
            let run = try DINOv2Run(config: cfg, dataPath: data, runDirectory: runURL, stopSignal: stop, configure: configure)
            let r = run.resolved
            print("""
            DINOv2: \(cfg.model) (\(r.model.embedDimensions) wide, depth \(r.model.depth)), \(run.dataset.count) images, \
            \(r.stepsPerEpoch) steps/epoch × \(cfg.epochs) epochs, batch \(cfg.batchSize), \(r.prototypes) prototypes \
            (iBOT \(cfg.ibot.separateHead ? "separate head, \(r.ibotPrototypes)" : "shared head")), centring \(cfg.teacher.centering.rawValue), \
            crops 2×\(r.base.globalSize)px + \(r.base.localCount)×\(r.base.localSize)px, lr \(r.peakLearningRate) \
            (warm-up \(r.base.warmupSteps) steps), τ_t \(r.base.teacherWarmupTemperature)→\(r.base.teacherTemperature), \
            momentum \(r.base.teacherMomentum), drop path \(r.model.dropPathRate), LayerScale \(r.model.layerScaleInit.map { "\($0)" } ?? "none"), \
            threads \(Threads.count)
            """)
            outcome = try run.trainer.run()
            epochCount = cfg.epochs
        } else {
            let cfg = try load(DINOConfig.self)
            let run = try DINORun(config: cfg, dataPath: data, runDirectory: runURL, stopSignal: stop, configure: configure)
            let r = run.resolved
            print("""
            DINO: \(cfg.model) (\(r.model.embedDimensions) wide, depth \(r.model.depth)), \(run.dataset.count) images, \
            \(r.stepsPerEpoch) steps/epoch × \(cfg.epochs) epochs, batch \(cfg.batchSize), \(r.prototypes) prototypes, \
            crops 2×\(r.globalSize)px + \(r.localCount)×\(r.localSize)px, lr \(r.peakLearningRate) (warm-up \(r.warmupSteps) steps), \
            τ_t \(r.teacherWarmupTemperature)→\(r.teacherTemperature) over \(r.teacherTemperatureWarmupSteps) steps, \
            momentum \(r.teacherMomentum)\(r.koleoLossWeight > 0 ? ", KoLeo \(r.koleoLossWeight)" : ""), \
            threads \(Threads.count), loader workers \(r.workers)
            """)
            outcome = try run.trainer.run()
            epochCount = cfg.epochs
        }
        switch outcome {
        case .completed: print("done: \(epochCount) epochs; export the teacher with `dino export --run \(out) --out FILE.safetensors`")
        case .stopped(let reason): print("stopped: \(reason); continue with --resume")
        case .collapsed(let kind, let lastGood):
            print("stopped: the run collapsed (\(kind.rawValue)); "
                  + (lastGood.map { "the last checkpoint before it is \($0.path)" } ?? "no checkpoint was written before it"))
            throw ExitCode(3)
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run's teacher backbone as safetensors with the official key names."
    )

    @Option(name: .customLong("run"), help: "Run directory of `dino train`.")
    var runDirectory: String

    @Option(help: "Output .safetensors file.")
    var out: String

    func run() throws {
        let model = try DINORun.exportTeacher(run: URL(fileURLWithPath: runDirectory), to: URL(fileURLWithPath: out))
        print("wrote \(out): \(model.namedTensors().count) tensors, \(model.parameterCount) parameters")
    }
}
