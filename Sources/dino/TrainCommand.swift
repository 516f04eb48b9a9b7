// `dino train`: self-supervised pretraining of a backbone on a folder of images.

import ArgumentParser
import DinoDistributed
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Pretrain a backbone on a folder of unlabelled images.",
        discussion: """
        Methods (--method NAME):
        \(MethodRegistry.listing)

        Settings come from the method's defaults (the reference's values, with automatic ones \
        scaled to the run length and the data set size), then --config FILE.json|.yaml, then \
        key=value overrides (e.g. optim.lr=1e-3 head.prototypes=4096), then the flags. An epoch \
        is one pass over the data (DINOv2's reference counts 1250 iterations as an epoch: \
        dinov2's epoch_length=1250 reproduces it). RUN \
        receives config.json (with "method"), checkpoints/, metrics.jsonl and tensorboard/. \
        Ctrl-C writes a checkpoint and exits; --resume continues from the newest one with \
        RUN/config.json and the run's method.
        """
    )

    @Option(help: ArgumentHelp(
        "Method, one of \(MethodRegistry.names.joined(separator: ", ")) (default: dino; with --resume, the run's).",
        discussion: "dino is the default because it did best on the robustness protocol (docs/benchmarks-robustness.md) "
            + "with every method's automatic settings, 3 seeds each: ahead of dinov2 on glyph typefaces never used to choose "
            + "the settings (65.5 against 63.2 % k-NN), 1.3 points behind on those that were (within the seeds' spread), "
            + "level on digits and on the scene probes, and a step costs about a fifth less; dinov3 trails both on glyphs. "
            + "No method learns glyphs-dev-wild in 10 epochs, and neither does the same model trained with labels."))
    var method: String?

    @Option(help: "Model preset (e.g. vit_tiny_patch4, vit_nano_patch4, dino_vits16); the student for distill (also convnext_tiny|small|base|large, test_convnext).")
    var model: String?

    @Option(help: "distill: the teacher's model preset (with --teacher-weights).")
    var teacher: String?

    @Option(help: "distill: the teacher's backbone weights (.safetensors).")
    var teacherWeights: String?

    @Option(help: "distill: a dino/dinov2 run whose teacher (backbone and heads) to distil.")
    var teacherRun: String?

    @Option(help: "dinov3: start from an earlier run (its student and teacher; with gram.use_loss=true also its Gram teacher); the optimiser starts afresh.")
    var from: String?

    @Option(help: ArgumentHelp("dinov3: base (default) or high-res, the high-resolution adaptation (with --from RUN).",
                               discussion: "high-res sets, before your key=value overrides: " + TrainCommand.highResolutionPhase.joined(separator: " ")
                                   + "; its teacher momentum, unless set, is 1 − 10/steps within [0.99, 0.999] (the reference's 0.999 from 10 000 steps)."))
    var phase: String?

    /// The keys `--phase high-res` sets (configs/train/dinov3_vit7b16_high_res_adapt.yaml, at
    /// this package's scale: the learning rate a quarter of the base recipe's, as 1.25e-5 is of
    /// the ViT-7B pretraining's 5e-5). The teacher momentum, unset, follows the phase's length
    /// (`DINOv3Config.highResolutionMomentum`: the reference's 0.999 from 10 000 steps).
    static let highResolutionPhase = [
        "phase=\"high_res\"", "schedules=\"cosine_ramp\"", "optim.lr=0.00025",
        "dino.head.freeze_last_layer_epochs=0", "ibot.head.freeze_last_layer_epochs=0", "dino.koleo_group_size=16",
        "gram.use_loss=true", "gram.rep_update=false", "gram.img_level=true", "gram.teacher_no_distortions=true", "gram.loss_weight=1.5",
    ]

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

    @Option(help: "Also write a checkpoint every this many steps.")
    var checkpointEverySteps: Int?

    @Option(help: "Write a line to RUN/metrics.jsonl (and TensorBoard) every this many steps (default 10; the last step of each epoch always).")
    var logEverySteps: Int?

    @Option(help: "Images per step.")
    var batchSize: Int?

    @Option(help: "Random seed.")
    var seed: UInt64?

    @Option(help: "Config file (JSON or YAML); may name its \"method\".")
    var config: String?

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Continue the run in --out from its newest checkpoint.")
    var resume = false

    @Flag(help: "No progress bar.")
    var quiet = false

    @Option(help: "Under mpirun: seconds a collective may take before the whole job stops (PyTorch's default: 1800).")
    var collectiveTimeout: Double = Communicators.defaultTimeoutSeconds

    @Flag(help: "Under mpirun: check after every step that all ranks hold bit-identical parameters and method state (teacher, centres; logged as replicas_identical).")
    var verifyReplicas = false

    @Flag(help: "Under mpirun: start the gradient all-reduces after backward instead of during it (to measure the overlap).")
    var noGradientOverlap = false

    @Option(help: "One process computing what each of N ranks computes on its own slice (KoLeo), to compare with an N-rank run.")
    var emulateRanks: Int?

    @Option(help: ArgumentHelp("Profile STEPS steps after the first WARMUP steps of this session (WARMUP,STEPS, e.g. 3,10): wall time per op (forward and backward) and trainer phase, printed as a table and written to RUN/profile.json.",
                               valueName: "warmup,steps"))
    var profile: String?

    @Option(help: ArgumentHelp("Tests: SIGKILL rank RANK once it has done step STEP of a run started without checkpoints (RANK:STEP).", visibility: .private))
    var testKill: String?

    @Argument(help: "Config overrides key.sub=value.")
    var overrides: [String] = []

    func validate() throws {
        _ = try parsedProfile()
    }

    /// `--profile WARMUP,STEPS` as numbers (nil without the flag).
    func parsedProfile() throws -> (warmup: Int, steps: Int)? {
        guard let profile else { return nil }
        let parts = profile.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let w = parts[0], let n = parts[1], w >= 0, n >= 1 else {
            throw ValidationError("--profile WARMUP,STEPS: two integers, WARMUP ≥ 0 and STEPS ≥ 1 (e.g. 3,10); got '\(profile)'")
        }
        return (w, n)
    }

    /// The flags as a library request: each setting flag becomes a key=value override (a
    /// method whose config lacks the key refuses it, naming its valid keys).
    var request: TrainRequest {
        var flags = overrides
        if phase == "high-res" || phase == "high_res" { flags = TrainCommand.highResolutionPhase + flags }
        if let phase, !["base", "high-res", "high_res"].contains(phase) { flags.append("phase=\"\(phase)\"") }   // refused, naming the values
        if let model { flags.append("model=\"\(model)\"") }
        if let epochs { flags.append("epochs=\(epochs)") }
        if let batchSize { flags.append("batch_size=\(batchSize)") }
        if let seed { flags.append("seed=\(seed)") }
        if let teacher { flags.append("teacher_model=\"\(teacher)\"") }
        if let teacherWeights { flags.append("teacher_weights=\"\(teacherWeights)\"") }
        if let teacherRun { flags.append("teacher_run=\"\(teacherRun)\"") }
        if let from { flags.append("from=\"\(URL(fileURLWithPath: from).standardizedFileURL.path)\"") }
        return TrainRequest(method: method, resume: resume, configFile: config.map(URL.init(fileURLWithPath:)),
                            overrides: flags, runDirectory: URL(fileURLWithPath: out))
    }

    func run() throws {
        // Under mpirun: Open MPI's communicator (libmpi loaded now); otherwise one process.
        let communicator = try Communicators.fromEnvironment(timeout: collectiveTimeout)
        do {
            try train(communicator)
            communicator.finish()
        } catch let code as ExitCode {
            communicator.finish()                              // an agreed outcome (collapse), not a failure
            throw code
        } catch {
            // One rank's error stops the job at once (the others may wait in a collective).
            if let mpi = communicator as? MPICommunicator { mpi.abortJob("\(error)") }
            throw error
        }
    }

    func train(_ communicator: any Communicator) throws {
        let main = communicator.isMain
        func say(_ line: String) { if main { print(line) } }
        let (method, tree) = try request.resolve()
        // Every rank has read RUN/ before rank 0 writes RUN/config.json.
        communicator.barrier(label: "start")
        if let threads { Threads.count = threads }
        let maxMinutes = self.maxMinutes, maxSteps = self.maxSteps, quiet = self.quiet, everySteps = checkpointEverySteps
        let logEvery = logEverySteps
        let issues = DataIssueLog(report: DataIssueLog.silent)
        let run = try TrainingRun(method: method, configTree: tree, dataPath: data, runDirectory: URL(fileURLWithPath: out),
                                  stopSignal: StopSignal(), issues: issues, communicator: communicator) { o in
            o.maxMinutes = maxMinutes
            o.maxSteps = maxSteps
            o.progress = !quiet
            if let everySteps { o.checkpointEverySteps = everySteps }
            if let logEvery { o.logEverySteps = logEvery }
        }
        run.trainer.verifyReplicas = verifyReplicas
        run.trainer.overlapGradientReduction = !noGradientOverlap
        if let emulateRanks {
            guard communicator.size == 1 else { throw ValidationError("--emulate-ranks is for one process, not under mpirun") }
            guard emulateRanks >= 1, run.trainer.itemsPerBatch % emulateRanks == 0 else {
                throw ValidationError("--emulate-ranks \(emulateRanks) does not divide the batch of \(run.trainer.itemsPerBatch)")
            }
            run.method.emulateRanks(emulateRanks)
        }
        if let testKill {
            let parts = testKill.split(separator: ":").compactMap { Int($0) }
            let fresh = CheckpointStore(directory: URL(fileURLWithPath: out).appendingPathComponent("checkpoints")).list().isEmpty
            if parts.count == 2, parts[0] == communicator.rank, fresh {
                run.trainer.onStep = { report in
                    if report.step == parts[1] { kill(getpid(), SIGKILL) }
                }
            }
        }
        let profileSteps = try parsedProfile()
        if let profileSteps, main {
            let previous = run.trainer.onStep, runDirectory = URL(fileURLWithPath: out)
            var done = 0
            run.trainer.onStep = { report in
                previous?(report)
                done += 1
                if done == profileSteps.warmup { OpProfiler.start() }
                if done == profileSteps.warmup + profileSteps.steps {
                    let entries = OpProfiler.stop()
                    print("profile of steps \(report.step - profileSteps.steps + 1)…\(report.step) (\(profileSteps.steps) steps, \(Threads.count) threads):")
                    print(OpProfiler.table(entries, steps: profileSteps.steps))
                    struct Profile: Encodable { let steps: Int; let first_step: Int; let threads: Int; let entries: [OpProfiler.Entry] }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    let file = runDirectory.appendingPathComponent("profile.json")
                    do {
                        try encoder.encode(Profile(steps: profileSteps.steps, first_step: report.step - profileSteps.steps + 1,
                                                   threads: Threads.count, entries: entries)).write(to: file, options: .atomic)
                        print("profile: \(file.path)")
                    } catch {
                        print("profile: could not write \(file.path): \(error)")
                    }
                }
            }
        }
        say(run.summary + (communicator.size > 1 ? ", \(communicator.size) ranks (global batch sliced per rank)" : ""))
        if let profileSteps, main, profileSteps.warmup == 0 { OpProfiler.start() }
        let outcome = try run.trainer.run()
        if !main { return }
        if let profileSteps, main, OpProfiler.isActive {
            OpProfiler.stop()
            print("profile: the session ended before \(profileSteps.warmup) + \(profileSteps.steps) steps; nothing written")
        }
        if issues.distinctFiles > 0 { print(try skippedFilesReport(issues, listIn: URL(fileURLWithPath: out).appendingPathComponent("skipped_files.txt"))) }
        switch outcome {
        case .completed: print("done: \(run.trainer.options.epochs) epochs; export the backbone with `dino export --run \(out) --out FILE.safetensors`")
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
        abstract: "Write the backbone a run trained (its method's choice: the teacher of dino/dinov2, the student EMA of distill) as safetensors with the official key names."
    )

    @Option(name: .customLong("run"), help: "Run directory of `dino train`.")
    var runDirectory: String

    @Option(help: "Output .safetensors file.")
    var out: String

    @Option(help: "Multi-student distillation: the student to export (its preset; default: the first).")
    var student: String?

    func run() throws {
        let model = try TrainingRun.exportBackbone(run: URL(fileURLWithPath: runDirectory), to: URL(fileURLWithPath: out), student: student)
        print("wrote \(out): \(model.namedTensors().count) tensors, \(model.parameterCount) parameters")
    }
}

/// Writes the skipped files ("PATH: REASON" lines) to `url` and returns the line to print: their
/// count by kind and where the list is.
func skippedFilesReport(_ issues: DataIssueLog, listIn url: URL) throws -> String {
    try issues.entries.map { "\($0.path): \($0.message)\n" }.joined().write(to: url, atomically: true, encoding: .utf8)
    return "\(issues.summary); the list: \(url.path)"
}
