// `dino finetune`: full fine-tuning of a backbone with a linear head (the BEiT/MAE recipe) on
// a labelled ImageFolder train/val pair; a thin wrapper over DinoEval's `FinetuneRun`.

import ArgumentParser
import DinoEval
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a backbone end to end with a linear head (MAE's recipe); top-1/top-5 on val.",
        discussion: """
        The backbone: --run RUN (a `dino train` run's exported backbone), --weights FILE (official, \
        timm or transformers keys; --model NAME unless the file stores its config), or --init random \
        --model NAME (the comparison arm). A DINOv3 ConvNeXt (--model convnext_*, official keys, or a \
        run whose exported backbone is a ConvNeXt student) fine-tunes too: its head reads the normed \
        global pool, its layer decay is timm's (one layer per block; docs/dinov3.md). The recipe (docs/finetune.md): AdamW, layer-wise lr decay \
        (0.65 up to 12 blocks, else 0.75), drop path, lr = blr·batch/256 with a linear warm-up (5 epochs, \
        at most 10 % of the run) \
        and a per-iteration cosine, label smoothing 0.1, mixup 0.8 / CutMix 1.0, RandAugment \
        rand-m9-mstd0.5-inc1, random erasing 0.25, global pool + fc_norm (--pooling cls_token for the \
        class token). --recipe low-shot (automatic when the labelled set has at most 128 images per class: \
        --recipe auto, the default) starts from LP-FT's linear-probe head (--head-init linear) and fine-tunes \
        with crop and flip only, no mixup, CutMix, RandAugment, erasing, smoothing, weight decay or drop \
        path, blr 1e-3, layer decay 0.5, crops of at least 35 %, the class token (docs/finetune.md); --recipe mae keeps MAE's. \
        Settings: the recipe's values, then --config FILE, then key=value overrides \
        (e.g. mixup.mixup=0 warmup_epochs=1), then the flags. OUT receives finetune.json, \
        checkpoints/, metrics.jsonl, tensorboard/, and at the end model.safetensors (the classifier, \
        for `dino predict`) and eval.json. Ctrl-C writes a checkpoint; --resume continues.
        """
    )

    @Option(name: .customLong("run"), help: "Run directory of `dino train` whose backbone to fine-tune.")
    var runDirectory: String?

    @Option(help: "With --run of a multi-student distillation: the student to fine-tune (its preset; default: the first).")
    var student: String?

    @Option(help: "Backbone weights (.safetensors).")
    var weights: String?

    @Option(help: "Initialisation without weights: random (with --model).")
    var `init`: String?

    @Option(help: "Model preset (with --init random, or --weights that store no config).")
    var model: String?

    @Option(help: "Labelled training images (ImageFolder: one folder per class).")
    var train: String?

    @Option(help: "Labelled validation images (ImageFolder, the same classes).")
    var val: String?

    @Option(help: "Run directory of the fine-tuning.")
    var out: String

    @Option(help: "Epochs (MAE ViT-B: 100).")
    var epochs: Int?

    @Option(help: "Images per step (even).")
    var batchSize: Int?

    @Option(help: "Base learning rate per 256 images (MAE ViT-B: 5e-4).")
    var blr: Double?

    @Option(help: "Fraction of the training labels, class-balanced (the low-shot settings: 0.01, 0.1).")
    var labelFraction: Double?

    @Option(help: "Layer-wise lr decay (default: 0.65 up to 12 blocks, else 0.75).")
    var layerDecay: Double?

    @Option(help: "Drop-path rate (default: 0.1 up to 12 blocks, 0.2 up to 24, else 0.3).")
    var dropPath: Double?

    @Option(help: "Head input: global_pool (mean patch token + fc_norm) or cls_token.")
    var pooling: String?

    @Option(help: "Recipe: auto (low-shot when at most 128 labelled images per class, else mae), mae, low-shot.")
    var recipe: String?

    @Option(help: "Head initialisation: random (MAE) or linear (LP-FT: the linear probe on the frozen backbone).")
    var headInit: String?

    @Option(help: "Input side in pixels (default: the run's global crop size, or the model's).")
    var inputSize: Int?

    @Option(help: "Random seed (head, label subset, data order, augmentations).")
    var seed: UInt64?

    @Option(help: "Config file (JSON or YAML) of the recipe.")
    var config: String?

    @Option(help: "Stop cleanly, with a checkpoint, after this many minutes.")
    var maxMinutes: Double?

    @Option(help: "Stop cleanly, with a checkpoint, once this many steps are done.")
    var maxSteps: Int?

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Option(help: "Image decoding workers.")
    var workers = 1

    @Flag(help: "Continue the run in --out from its newest checkpoint (with its finetune.json).")
    var resume = false

    @Flag(help: "No progress bar.")
    var quiet = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Argument(help: "Config overrides key.sub=value.")
    var overrides: [String] = []

    /// The recipe flags as config overrides.
    var settingOverrides: [String] {
        var o = overrides
        if let epochs { o.append("epochs=\(epochs)") }
        if let batchSize { o.append("batch_size=\(batchSize)") }
        if let blr { o.append("blr=\(blr)") }
        if let labelFraction { o.append("label_fraction=\(labelFraction)") }
        if let layerDecay { o.append("layer_decay=\(layerDecay)") }
        if let dropPath { o.append("drop_path=\(dropPath)") }
        if let pooling { o.append("pooling=\"\(pooling)\"") }
        if let inputSize { o.append("input_size=\(inputSize)") }
        if let recipe { o.append("recipe=\"\(recipe.replacingOccurrences(of: "-", with: "_"))\"") }
        if let headInit { o.append("head_init=\"\(headInit)\"") }
        if let seed { o.append("seed=\(seed)") }
        return o
    }

    /// The backbone's source from the flags.
    func initialization() throws -> FinetuneInitialization {
        guard student == nil || runDirectory != nil else { throw ValidationError("--student picks a student of --run RUN") }
        switch (runDirectory, weights, `init`) {
        case (let r?, nil, nil):
            guard model == nil else { throw ValidationError("--run takes its model from the run; drop --model") }
            return .run(r, student: student)
        case (nil, let w?, nil): return .weights(w, model: model)
        case (nil, nil, let i?):
            guard i == "random" else { throw ValidationError("--init is 'random', got '\(i)'") }
            guard let model else { throw ValidationError("--init random needs --model NAME") }
            return .random(model: model)
        default:
            throw ValidationError("give exactly one backbone: --run RUN, --weights FILE, or --init random --model NAME")
        }
    }

    func run() throws {
        if let threads { Threads.count = threads }
        let outURL = URL(fileURLWithPath: out)
        let maxMinutes = self.maxMinutes, maxSteps = self.maxSteps, quiet = self.quiet || json
        let configure: (inout TrainerOptions) -> Void = { o in
            o.maxMinutes = maxMinutes
            o.maxSteps = maxSteps
            o.progress = !quiet
        }
        let run: FinetuneRun
        if resume {
            guard runDirectory == nil && student == nil && weights == nil && `init` == nil && train == nil && val == nil
                    && config == nil && settingOverrides.isEmpty else {
                throw ValidationError("--resume continues with \(FinetuneRun.recordName) of --out; give no backbone, data or recipe settings")
            }
            run = try FinetuneRun.resume(runDirectory: outURL, workers: workers, stopSignal: StopSignal(), configure: configure)
        } else {
            guard let train, let val else { throw ValidationError("give --train DIR and --val DIR (ImageFolder)") }
            let recipe = try FinetuneConfig.load(file: config.map(URL.init(fileURLWithPath:)), overrides: settingOverrides,
                                                 train: train)
            let record = FinetuneRecord(config: recipe, initialization: try initialization(), train: train, val: val)
            run = try FinetuneRun(record: record, runDirectory: outURL, workers: workers, stopSignal: StopSignal(),
                                  configure: configure)
        }
        if !json { print(run.summary) }
        if let fit = run.linearHead {
            // LP-FT's first stage on val, before any fine-tuning step: the probe's own accuracy
            // on the classifier's features (OUT/linear_probe.json; measured, never used to choose).
            let acc = evaluateClassifier(run.model, dataset: run.valSet, size: run.inputSize, workers: workers)
            let object: [String: Any] = ["lr": fit.probe.learningRate, "held_out_top1": fit.heldOutTop1,
                                         "val_top1": acc.top1, "val_top5": acc.top5, "val_images": acc.images]
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                .write(to: outURL.appendingPathComponent("linear_probe.json"))
            if !json { print(String(format: "linear probe head (step 0): val top-1 %.2f, top-5 %.2f", acc.top1, acc.top5)) }
        }
        let outcome = try run.run()
        guard case .completed = outcome else {
            if case .stopped(let reason) = outcome { print("stopped: \(reason); continue with `dino finetune --out \(out) --resume`") }
            return
        }
        let modelURL = try run.export()
        let acc = try run.evaluate(workers: workers)
        if json {
            let object: [String: Any] = [
                "top1": acc.top1, "top5": acc.top5, "val_images": acc.images, "train_images": run.trainIndices.count,
                "label_fraction": run.record.config.labelFraction ?? 1, "initialization": run.record.initialization.description,
                "layer_decay": run.layerDecay, "drop_path": run.dropPath,
                "recipe": run.record.config.recipe.rawValue, "head_init": run.record.config.headInit.rawValue, "steps": run.trainer.step, "model": modelURL.path,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        } else {
            print("fine-tuned \(run.record.initialization.description): \(run.trainer.step) steps on \(run.trainIndices.count) train images")
            print("split  images   top-1   top-5")
            print(String(format: "val    %6d  %6.2f  %6.2f", acc.images, acc.top1, acc.top5))
            print("classifier: \(modelURL.path) (`dino predict --classifier \(modelURL.path) IMAGES…`)")
        }
    }
}
