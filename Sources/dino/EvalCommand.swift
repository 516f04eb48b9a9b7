// `dino eval knn|linear|segmentation|depth|video`: frozen-feature evaluation of a trained run or a weights file.

import ArgumentParser
import DinoEval
import DinoModels
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate frozen features: weighted k-NN, a linear probe, linear segmentation, linear depth, video segmentation; the whole suite as a report, and two reports compared.",
        subcommands: [EvalKNN.self, EvalLinear.self, EvalSegmentation.self, EvalDepth.self, EvalVideo.self, EvalReport.self, EvalCompare.self]
    )
}

/// The backbone of an evaluation: a run's teacher, or a preset with optional weights.
struct EvalBackbone: ParsableArguments {
    @Option(name: .customLong("run"), help: "Run directory of `dino train` (its teacher, model and input size).")
    var runDirectory: String?

    @Option(help: "With --run of a multi-student distillation: the student to evaluate (its preset; default: the first).")
    var student: String?

    @Option(help: "Model preset (optional with --weights that store their config; alone: random weights).")
    var model: String?

    @Option(help: "Weights file (.safetensors: official, timm or transformers keys).")
    var weights: String?

    @Option(help: "Input size (default: the run's global crop size, or the model's).")
    var inputSize: Int?

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Option(help: "Precision of the backbone's matrix products: float32, or bf16 (PyTorch's CPU autocast: bfloat16 inputs, Float32 accumulation; emulated). Applies to the backbone's features only, as dinov2's evaluations autocast the feature model only.")
    var precision: Precision = .float32

    /// `float64` is a training precision (`precision=float64` of dino and dinov2).
    func validate() throws {
        if precision == .float64 {
            throw ValidationError("--precision float64 is a training option (precision=float64 for dino and dinov2); evaluations take float32 or bf16")
        }
    }

    /// Refuses `--precision bf16` in an evaluation that does not apply it yet.
    func requireFloat32(_ command: String) throws {
        if precision != .float32 {
            throw ValidationError("--precision \(precision.rawValue) is not supported by `dino eval \(command)` yet (knn and linear apply it); leave it out")
        }
    }

    /// The backbone in words (saved with a probe's head).
    var description: String {
        if let runDirectory { return "--run \(runDirectory)" + (student.map { " --student \($0)" } ?? "") }
        return [model.map { "--model \($0)" }, weights.map { "--weights \($0)" }].compactMap { $0 }.joined(separator: " ")
    }

    /// The backbone (evaluation mode) and its input size: a ViT, or a DINOv3 ConvNeXt (a run's
    /// ConvNeXt student, or a `--model convnext_*` preset with official-key weights), for the
    /// evaluations (`knn`, `linear`, `segmentation`, `depth`, `video`, `report`).
    func loadEmbedding() throws -> (any EmbeddingBackbone, Int) {
        if let threads { Threads.count = threads }
        if let runDirectory {
            guard model == nil && weights == nil else { throw ValidationError("give --run, or --model with --weights, not both") }
            let (m, size) = try TrainingRun.loadEmbeddingBackbone(run: URL(fileURLWithPath: runDirectory), student: student)
            return (m, inputSize ?? size)
        }
        if let model, ConvNeXtPresets.all[model] != nil {
            guard student == nil else { throw ValidationError("--student picks a student of --run RUN") }
            if weights == nil {
                FileHandle.standardError.write(Data("note: no --weights: randomly initialised \(model) (seed 0)\n".utf8))
            }
            let c = try ConvNeXt.load(preset: model, weights: weights.map { URL(fileURLWithPath: $0) })
            return (c, inputSize ?? c.config.imageSize)
        }
        let (vit, size) = try load()
        return (vit, size)
    }

    /// A ViT backbone (evaluation mode) and its input size, from --model and/or --weights.
    private func load() throws -> (VisionTransformer, Int) {
        guard student == nil else { throw ValidationError("--student picks a student of --run RUN") }
        guard model != nil || weights != nil else {
            throw ValidationError("give --run RUN, or --weights FILE (with --model NAME unless the file stores its config), or --model NAME alone for random weights")
        }
        if weights == nil {
            FileHandle.standardError.write(Data("note: no --weights: randomly initialised \(model!) (seed 0)\n".utf8))
        }
        let vit = try VisionTransformer.load(preset: model, weights: weights.map { URL(fileURLWithPath: $0) })
        return (vit, inputSize ?? vit.config.imageSize)
    }
}

/// The backbone and data options shared by the evaluations on labelled image folders.
struct EvalSource: ParsableArguments {
    @Option(help: "Labelled training images (ImageFolder: one folder per class).")
    var train: String

    @Option(help: "Labelled validation images (ImageFolder).")
    var val: String

    @OptionGroup var backboneOptions: EvalBackbone

    @Option(help: "Images per forward pass.")
    var batchSize = 128

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    /// The backbone (evaluation mode) and its input size: a ViT or a ConvNeXt.
    func backbone() throws -> (any EmbeddingBackbone, Int) { try backboneOptions.loadEmbedding() }

    /// Train and validation features.
    func features(kind: FeatureKind) throws -> (train: LabelledFeatures, val: LabelledFeatures) {
        let (model, size) = try backboneOptions.loadEmbedding()
        let extractor = FeatureExtractor(model: model, transform: .forInput(size: size), batchSize: batchSize,
                                         workers: Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2))
        let trainSet = try ImageFileDataset.imageFolder(train), valSet = try ImageFileDataset.imageFolder(val)
        guard trainSet.classes == valSet.classes else {
            throw ValidationError("train classes \(trainSet.classes.prefix(5))… and val classes \(valSet.classes.prefix(5))… differ")
        }
        func extract(_ set: ImageFileDataset, _ label: String) -> LabelledFeatures {
            let bar = json ? nil : ProgressBar(total: set.count, label: "features \(label)", itemsPerStep: 1)
            let f = withPrecision(backboneOptions.precision) {
                extractor.extract(set, kind: kind) { done, _ in bar?.update(completed: done) }
            }
            bar?.finish()
            return f
        }
        return (extract(trainSet, "train"), extract(valSet, "val"))
    }
}

struct EvalKNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn",
        abstract: "Weighted k-NN on L2-normalised frozen CLS features (DINO's protocol).",
        discussion: "Cosine similarity, the k nearest training images vote with weight exp(similarity / T); top-1 and top-5 in percent."
    )

    @OptionGroup var source: EvalSource

    @Option(help: "Numbers of neighbours, comma-separated (the first is the one reported with --json).")
    var k = "20,10,100,200"

    @Option(help: "Temperature T of the vote weights.")
    var temperature = 0.07

    func run() throws {
        let ks = k.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ks.isEmpty, ks.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--k must list positive integers, got '\(k)'") }
        let (train, val) = try source.features(kind: .cls)
        let results = WeightedKNN(ks: ks, temperature: temperature).evaluate(
            trainFeatures: train.features, trainLabels: train.labels, testFeatures: val.features, testLabels: val.labels,
            classes: train.classes.count)
        if source.json {
            let r = results[0]
            let data = try JSONEncoder().encode(r)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("k-NN (T = \(temperature)) on \(train.labels.count) train / \(val.labels.count) val images, \(train.classes.count) classes")
            print("     k   top-1   top-5")
            for r in results.sorted(by: { $0.k < $1.k }) {
                print(String(format: "%6d  %6.2f  %6.2f", r.k, r.top1, r.top5))
            }
        }
    }
}

struct EvalLinear: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear",
        abstract: "A linear classifier on frozen features, its learning rate chosen on a held-out part of train.",
        discussion: "Features: cls (last block), cls+avgpool (with the mean patch token), last4 (class tokens of the last 4 blocks). On a ConvNeXt the blocks are its 4 stages (their pooled maps, the last one through the final norm), as dinov3's get_intermediate_layers."
    )

    @OptionGroup var source: EvalSource

    @Option(help: "Features: cls, cls+avgpool, last4.")
    var features = "last4"

    @Option(help: "Epochs per classifier (default: 100 with --protocol dino, 10 with dinov2/dinov3).")
    var epochs: Int?

    @Option(help: "Base learning rates to sweep (per 256 images), comma-separated.")
    var lrs = "0.001,0.01,0.1,1"

    @Option(help: "Optimizer: sgd or adamw.")
    var optimizer = "sgd"

    @Option(help: "Fraction of train held out to choose the learning rate (the classifier with --protocol dinov2).")
    var heldOut = 0.1

    @Option(help: """
        Protocol: dino (one feature kind, a rate sweep, cached features), dinov2 (last 1/4 blocks × avgpool × 13 rates) \
        or dinov3 (last block + avgpool × 13 rates); dinov2/dinov3 train all classifiers at once on random-resized-crop + \
        flip views through the frozen backbone every iteration, as the references.
        """)
    var `protocol` = "dino"

    @Flag(help: "With --protocol dinov2|dinov3: one centre view per image, features computed once (fast; not the references' training).")
    var cached = false

    @Option(help: "Write the result as JSON to this file (dinov2/dinov3), besides the table.")
    var output: String?

    @Option(help: "Area range of the random-resized crops of the training views (dinov2/dinov3; the references' 0.08,1).")
    var cropScale = "0.08,1"

    @Option(help: "Probability of the horizontal flip of the training views (dinov2/dinov3; the references' 0.5).")
    var flip = 0.5

    func run() throws {
        if let kind = LinearProtocolKind(rawValue: `protocol`) { return try runReference(kind) }
        guard `protocol` == "dino" else { throw ValidationError("--protocol is dino, dinov2 or dinov3, got '\(`protocol`)'") }
        guard !cached else { throw ValidationError("--cached goes with --protocol dinov2 or dinov3 (dino always uses cached features)") }
        let epochs = self.epochs ?? 100
        guard let kind = FeatureKind(rawValue: features) else {
            throw ValidationError("unknown --features '\(features)'; use one of \(FeatureKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let opt = LinearProbeOptimizer(rawValue: optimizer) else { throw ValidationError("--optimizer is sgd or adamw") }
        let rates = lrs.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !rates.isEmpty, rates.allSatisfy({ $0 > 0 }) else { throw ValidationError("--lrs must list positive numbers") }
        let (train, val) = try source.features(kind: kind)
        var options = LinearProbeOptions()
        options.epochs = epochs
        options.learningRates = rates
        options.optimizer = opt
        options.heldOutFraction = heldOut
        let runs = (rates.count > 1 && heldOut > 0 ? rates.count : 0) + 1
        let bar = source.json ? nil : ProgressBar(total: runs * epochs, label: "linear probe", itemsPerStep: nil)
        let probe = LinearProbe(options: options) { done, _, loss in bar?.update(completed: done, metrics: [("loss", loss)]) }
        let result = probe.run(trainFeatures: train.features, trainLabels: train.labels, evalFeatures: val.features,
                               evalLabels: val.labels, classes: train.classes.count)
        bar?.finish()
        if source.json {
            let out: [String: Double] = ["top1": result.accuracy.top1, "top5": result.accuracy.top5, "lr": result.learningRate]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("linear probe on \(kind.rawValue) features (\(train.features.shape[1]) wide), \(train.classes.count) classes")
            for p in result.sweep {
                print(String(format: "  lr %-8g held-out top-1 %6.2f", p.learningRate, p.heldOut.top1))
            }
            print(String(format: "chosen lr %g: val top-1 %.2f, top-5 %.2f", result.learningRate, result.accuracy.top1, result.accuracy.top5))
        }
    }
}

extension EvalLinear {
    /// DINOv2's or DINOv3's protocol (LinearProtocol.swift, LinearProtocolAugmented.swift).
    func runReference(_ kind: LinearProtocolKind) throws {
        try source.backboneOptions.requireFloat32("linear --protocol \(kind.rawValue)")
        let (model, size) = try source.backbone()
        let trainSet = try ImageFileDataset.imageFolder(source.train), valSet = try ImageFileDataset.imageFolder(source.val)
        guard trainSet.classes == valSet.classes else {
            throw ValidationError("train classes \(trainSet.classes.prefix(5))… and val classes \(valSet.classes.prefix(5))… differ")
        }
        var options = LinearProtocolOptions(kind)
        options.epochs = epochs ?? 10
        options.heldOutFraction = heldOut
        options.cached = cached
        options.cropScale = cropScale.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        options.flipProbability = flip
        do { try options.validate() } catch { throw ValidationError("--crop-scale '\(cropScale)' or another option: \(error)") }
        let count = options.settings(depth: Swift.min(4, model.blockCount)).count
        let bar = source.json ? nil : ProgressBar(total: options.epochs, label: "\(count) linear classifiers", itemsPerStep: nil)
        let issues = DataIssueLog()
        let result = runLinearProtocol(model: model, train: trainSet, val: valSet, imageSize: size, options: options,
                                       protocolName: kind.rawValue, featureBatchSize: source.batchSize,
                                       workers: Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2), issues: issues) { done, _, loss in
            bar?.update(completed: done, metrics: [("loss", loss)])
        }
        bar?.finish()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(result)
        if let output { try data.write(to: URL(fileURLWithPath: output)) }
        if source.json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(linearProtocolTable(result, classes: trainSet.classes.count))
        }
    }
}

/// The table of a DINOv2/DINOv3 linear protocol result.
func linearProtocolTable(_ result: LinearProtocolResult, classes: Int) -> String {
    let training = result.training == "cached"
        ? "CACHED features (one centre view per image, computed once; not the reference's training)"
        : "augmented (random-resized-crop" + (result.cropScale.map { String(format: " of area %g–%g", $0[0], $0[1]) } ?? "")
          + (result.flipProbability.map { String(format: " + flip (p %g)", $0) } ?? "") + " views through the frozen backbone every iteration)"
    var lines = ["\(result.protocolName.uppercased()) linear protocol, \(training)",
                 "\(classes) classes; \(result.fitImages) train images fitted for \(result.iterations) iterations, chosen on \(result.heldOutImages) held-out train images, scored on \(result.valImages) val images",
                 "blocks  avgpool  base lr    held-out top-1  val top-1  val top-5"]
    for r in result.rows {
        let pool = (r.setting.averagePool ? "yes" : "no").padding(toLength: 7, withPad: " ", startingAt: 0)
        lines.append(String(format: "%6d  ", r.setting.blocks) + pool
                     + String(format: "  %-9g  %14.2f  %9.2f  %9.2f", r.setting.baseLearningRate, r.heldOut.top1, r.val.top1, r.val.top5))
    }
    let c = result.chosen
    lines.append(String(format: "chosen (%@): last %d block(s), avgpool %@, base lr %g (lr %g): val top-1 %.2f, top-5 %.2f",
                        result.training as NSString, c.setting.blocks, (c.setting.averagePool ? "yes" : "no") as NSString,
                        c.setting.baseLearningRate, c.setting.learningRate, c.val.top1, c.val.top5))
    return lines.joined(separator: "\n")
}

struct EvalSegmentation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segmentation",
        abstract: "Linear semantic segmentation on frozen patch tokens (--recipe linear: DINOv2-style probe; dinov3: DINOv3's ADE20K recipe).",
        discussion: """
        --recipe linear (default): a batch norm and a 1×1 projection to class logits per patch token, \
        upsampled bilinearly to the image size, trained with per-pixel cross-entropy on features \
        computed once (no augmentation); AdamW, poly decay. --recipe dinov3: DINOv3's ADE20K linear \
        recipe (dinov3/eval/segmentation, config-ade20k-linear-training.yaml): random resize 0.5–2 + \
        crop + flip + photometric distortion through the frozen backbone every iteration, Dropout2d \
        0.1, AdamW 1e-3 with weight decay 1e-3, warm-up one-cycle schedule over --iterations, \
        sliding-window inference, and ADE20K's reduce_zero_label (label 0 ignored, the others shifted \
        down; --no-reduce-zero-label for masks whose 0 is a class, as scenes-dev's). Mean IoU and pixel \
        accuracy on val, in percent. --masks DIR mirrors the image folders: the mask of TRAIN/A/x.png \
        is DIR/<name of TRAIN>/A/x.png (or x.png beside an x.jpg image, as ADE20K's \
        annotations/training/x.png), pixel value = class index (255 ignored). With --recipe dinov3 the \
        image folders may be flat (ADE20K: --train images/training --val images/validation \
        --masks annotations).
        """
    )

    @OptionGroup var source: EvalSource

    @Option(help: "Masks folder mirroring the image folders (DIR/train/…, DIR/val/…).")
    var masks: String

    @Option(help: "Recipe: linear (features once, no augmentation) or dinov3 (DINOv3's ADE20K linear recipe).")
    var recipe = "linear"

    @Option(help: "Epochs of the probe (--recipe linear).")
    var epochs = 20

    @Option(help: "Iterations (--recipe dinov3; the reference: 40000 at batch 16, warm-up 1500 scaled with it).")
    var iterations = 1000

    @Option(help: "AdamW learning rate of the probe (default: 1e-3, both recipes).")
    var lr = 1e-3

    @Option(help: "Images per probe step (default: 16, both recipes).")
    var probeBatchSize = 16

    @Option(help: "Save the trained head (.safetensors) for `dino predict --head FILE` (--recipe linear).")
    var saveHead: String?

    @Option(help: "Classes (--recipe dinov3; default: one more than the largest label after reduce_zero_label).")
    var classes: Int?

    @Flag(inversion: .prefixedNo, help: "ADE20K's reduce_zero_label (--recipe dinov3): 0 ignored, other labels minus 1.")
    var reduceZeroLabel = true

    @Option(help: "Probe seed (--recipe dinov3).")
    var seed: UInt64 = 0

    @Option(help: "Write a PNG of image | truth | prediction for the first 8 val images (--recipe dinov3).")
    var picture: String?

    func run() throws {
        guard let kind = SegmentationRecipe(rawValue: recipe) else {
            throw ValidationError("--recipe is \(SegmentationRecipe.allCases.map(\.rawValue).joined(separator: " or ")), got '\(recipe)'")
        }
        if kind == .dinov3 {
            guard saveHead == nil else { throw ValidationError("--save-head goes with --recipe linear (the dinov3 recipe's head is not saved yet)") }
            return try runDINOv3()
        }
        guard picture == nil else { throw ValidationError("--picture goes with --recipe dinov3 (the linear recipe keeps no predictions)") }
        try source.backboneOptions.requireFloat32("segmentation")
        let (model, size) = try source.backbone()
        let train = try SegmentationMasks(images: ImageFileDataset.imageFolder(source.train), masksRoot: masks)
        let val = try SegmentationMasks(images: ImageFileDataset.imageFolder(source.val), masksRoot: masks)
        var options = SegmentationEvaluationOptions()
        options.imageSize = size
        options.batchSize = source.batchSize
        options.probe.epochs = epochs
        options.probe.learningRate = lr
        options.probe.batchSize = probeBatchSize
        let bar = source.json ? nil : ProgressBar(total: epochs, label: "segmentation probe", itemsPerStep: nil)
        var saveError: Error?
        let scores = evaluateSegmentation(model: model, train: train, val: val, options: options, progress: { epoch, loss in
            bar?.update(completed: epoch + 1, metrics: [("loss", loss)])
        }, trainedHead: saveHead.map { file in { head, size in
            do {
                try saveDenseHead(head, info: DenseHeadInfo(kind: .segmentation, imageSize: size, embedDimensions: model.embedDimensions,
                                                            classes: head.classes, backbone: source.backboneOptions.description),
                                  to: URL(fileURLWithPath: file))
            } catch { saveError = error }
        } })
        if let saveError { throw saveError }
        bar?.finish()
        if source.json {
            let out: [String: Any] = ["recipe": "linear", "miou": scores.miou, "pixel_accuracy": scores.pixelAccuracy]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("linear segmentation (recipe linear: cached features) on \(model.embedDimensions)-wide patch tokens at \(size) px, \(scores.classIoU.count) classes")
            print(String(format: "val mIoU %.2f, pixel accuracy %.2f", scores.miou, scores.pixelAccuracy))
        }
    }

    func runDINOv3() throws {
        try source.backboneOptions.requireFloat32("segmentation")
        let (model, size) = try source.backbone()
        let train = try SegmentationMasks(images: ImageFileDataset.open(source.train), masksRoot: masks)
        let val = try SegmentationMasks(images: ImageFileDataset.open(source.val), masksRoot: masks)
        var config = DINOv3SegmentationConfig()
        config.imageSize = size
        config.iterations = iterations
        config.learningRate = lr
        config.batchSize = probeBatchSize
        config.classes = classes
        config.reduceZeroLabel = reduceZeroLabel
        config.seed = seed
        try config.validate()
        let bar = source.json ? nil : ProgressBar(total: iterations, label: "dinov3 segmentation head", itemsPerStep: nil)
        let (head, scores, image) = try evaluateSegmentationDINOv3(model: model, train: train, val: val, config: config,
                                                                   workers: Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2),
                                                                   pictureCount: picture == nil ? 0 : 8) { done, _, loss in
            bar?.update(completed: done, metrics: [("loss", loss)])
        }
        bar?.finish()
        if let picture, let image { try image.writePNG(to: URL(fileURLWithPath: picture)) }
        if source.json {
            let out: [String: Any] = ["recipe": "dinov3", "miou": scores.miou, "pixel_accuracy": scores.pixelAccuracy,
                                      "classes": head.classes, "iterations": iterations, "reduce_zero_label": reduceZeroLabel]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("linear segmentation (recipe dinov3: augmented crops through the frozen backbone, sliding-window inference) on \(model.embedDimensions)-wide patch tokens at \(size) px, \(head.classes) classes, \(iterations) iterations\(reduceZeroLabel ? ", reduce_zero_label" : "")")
            print(String(format: "val mIoU %.2f, pixel accuracy %.2f", scores.miou, scores.pixelAccuracy))
        }
    }
}

extension Precision: ExpressibleByArgument {}
