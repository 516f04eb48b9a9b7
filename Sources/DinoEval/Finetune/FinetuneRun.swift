// A fine-tuning run on disk: built from a backbone (a training run's, a weights file's or a
// random initialisation), a labelled train/val pair and a `FinetuneConfig`; resumed from its
// folder; exported as one safetensors file that `dino predict` reads back.

import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

/// Where the backbone's initial weights come from.
public enum FinetuneInitialization: Codable, Equatable, Sendable {
    /// A `dino train` run folder: its exported backbone (the teacher; a distillation's student,
    /// `student` naming one of several, nil the first) at its newest checkpoint.
    case run(String, student: String? = nil)
    /// A weights file (official, timm or transformers keys; a preset when it stores no config).
    case weights(String, model: String?)
    /// A randomly initialised preset (the comparison arm), seeded by the config's seed.
    case random(model: String)

    public var description: String {
        switch self {
        case .run(let p, let student): return "run \(p)" + (student.map { " (student \($0))" } ?? "")
        case .weights(let p, let m): return "weights \(p)" + (m.map { " (\($0))" } ?? "")
        case .random(let m): return "random \(m)"
        }
    }
}

/// What a fine-tuning run was built from (OUT/finetune.json).
public struct FinetuneRecord: Codable, Equatable, Sendable {
    public var config: FinetuneConfig
    public var initialization: FinetuneInitialization
    public var train: String
    public var val: String

    public init(config: FinetuneConfig, initialization: FinetuneInitialization, train: String, val: String) {
        self.config = config
        self.initialization = initialization
        self.train = train
        self.val = val
    }
}

/// What the exported file says about its classifier (`dino.classifier` metadata).
public struct ClassifierInfo: Codable, Equatable, Sendable {
    public var classes: [String]
    public var pooling: ClassifierPooling
    public var inputSize: Int

    enum CodingKeys: String, CodingKey { case classes, pooling, inputSize = "input_size" }
}

/// Why a fine-tuning run cannot be built or resumed.
public enum FinetuneError: Error, CustomStringConvertible, Equatable {
    case runExists(String)
    case nothingToResume(String)
    case classesDiffer(train: String, val: String)
    case tooFewImages(kept: Int, batchSize: Int)
    case notAClassifier(String)
    case tooFewForLinearHead(kept: Int)

    public var description: String {
        switch self {
        case .runExists(let p): return "\(p) already holds checkpoints; pass --resume to continue it or choose another --out"
        case .nothingToResume(let p): return "\(p) holds no \(FinetuneRun.recordName) to resume"
        case .classesDiffer(let t, let v): return "the class folders of \(t) and \(v) differ"
        case .tooFewImages(let k, let b): return "only \(k) training images are kept, fewer than one batch of \(b); lower --batch-size"
        case .tooFewForLinearHead(let k): return "head_init linear needs at least 3 readable labelled images to fit the probe and hold a fifth out to choose its rate, got \(k); use head_init=random"
        case .notAClassifier(let p): return "\(p) holds no 'dino.classifier' metadata: is it the model.safetensors of `dino finetune`?"
        }
    }
}

/// A fine-tuning run: the classifier, the Trainer and the data.
public final class FinetuneRun {
    public static let recordName = "finetune.json", modelName = "model.safetensors", evalName = "eval.json"
    /// With a label fraction: the training images kept, one path a line.
    public static let subsetName = "train_subset.txt"

    public let record: FinetuneRecord
    public let runDirectory: URL
    public let method: FinetuneMethod
    public let trainer: Trainer<FinetuneMethod, FinetuneBatchSource>
    public let trainSet: ImageFileDataset
    public let valSet: ImageFileDataset
    /// Training images used (all, or the class-balanced label subset).
    public let trainIndices: [Int]
    public let inputSize: Int
    public let layerDecay: Double
    public let dropPath: Double
    /// With `head_init: linear` on a new run: the linear probe the head was copied from.
    public let linearHead: LinearHeadFit?
    public var model: ImageClassifier { method.model }

    /// Builds a run. A new run (`resume` false) writes OUT/finetune.json and must not have
    /// checkpoints; a resumed run reads the record and continues from the newest checkpoint.
    ///
    /// - Throws: `FinetuneError`, `ConfigError`, `DatasetError`, checkpoint and weights errors.
    public init(record: FinetuneRecord, runDirectory: URL, resume: Bool = false, workers: Int = 1,
                stopSignal: StopSignal? = nil, issues: DataIssueLog = DataIssueLog(),
                configure: (inout TrainerOptions) -> Void = { _ in }) throws {
        try record.config.validate()
        let hasCheckpoints = !CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints")).list().isEmpty
        if !resume && hasCheckpoints { throw FinetuneError.runExists(runDirectory.path) }
        self.record = record
        self.runDirectory = runDirectory
        let config = record.config
        let trainSet = try ImageFileDataset.imageFolder(record.train)
        self.trainSet = trainSet
        valSet = try ImageFileDataset.imageFolder(record.val)
        guard trainSet.classes == valSet.classes else { throw FinetuneError.classesDiffer(train: record.train, val: record.val) }
        let labels = (0..<trainSet.count).map { trainSet.label(at: $0)! }
        let trainIndices = config.labelFraction.map { balancedLabelSubset(labels: labels, fraction: $0, seed: config.seed) }
            ?? Array(0..<trainSet.count)
        guard trainIndices.count >= config.batchSize else {
            throw FinetuneError.tooFewImages(kept: trainIndices.count, batchSize: config.batchSize)
        }
        self.trainIndices = trainIndices

        let root = RandomGenerator(seed: config.seed)
        let dropPathGenerator = root.fork(1)
        let (backbone, size, decay, rate) = try FinetuneRun.backbone(record.initialization, config: config, generator: dropPathGenerator,
                                                                     initGenerator: root.fork(3))
        inputSize = size
        layerDecay = decay
        dropPath = rate
        let classifier = ImageClassifier(backbone: backbone, classes: trainSet.classes.count, pooling: config.pooling,
                                         generator: root.fork(2))
        // LP-FT: the head starts from the linear probe on the frozen backbone (a resumed run
        // reads it from its checkpoint instead).
        linearHead = config.headInit == .linear && !hasCheckpoints
            ? try fitLinearHead(classifier, dataset: trainSet, indices: trainIndices, size: size, seed: config.seed,
                                workers: workers, issues: issues)
            : nil
        method = FinetuneMethod(model: classifier, layerDecay: decay, generator: dropPathGenerator)
        let source = try FinetuneBatchSource(dataset: trainSet, indices: trainIndices, size: size, classes: trainSet.classes.count,
                                             config: config, workers: workers, issues: issues)
        var options = TrainerOptions()
        options.epochs = config.epochs
        options.clipGrad = config.clipGrad
        options.clipMode = .totalNorm
        configure(&options)
        let schedules = ScheduleSet([
            ScheduleValues.learningRate: MAELearningRateSchedule(peak: config.peakLearningRate, minimum: config.minLR,
                                                                 epochs: config.epochs, warmupEpochs: config.resolvedWarmupEpochs,
                                                                 iterationsPerEpoch: source.batchesPerEpoch),
            ScheduleValues.weightDecay: ConstantSchedule(config.weightDecay),
        ])
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let tree = try JSONValue(encoding: record)
        if !resume {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(record).write(to: runDirectory.appendingPathComponent(Self.recordName), options: .atomic)
            if config.labelFraction != nil {
                // The labelled images kept, one path a line, so that other probes can use the same ones.
                try trainIndices.map { trainSet.path(at: $0) + "\n" }.joined()
                    .write(to: runDirectory.appendingPathComponent(Self.subsetName), atomically: true, encoding: .utf8)
            }
        }
        trainer = try Trainer(method: method, data: source, schedules: schedules, options: options,
                              runDirectory: runDirectory, config: tree, stopSignal: stopSignal)
    }

    /// Reads OUT/finetune.json and rebuilds the run to resume it.
    public static func resume(runDirectory: URL, workers: Int = 1, stopSignal: StopSignal? = nil,
                              configure: (inout TrainerOptions) -> Void = { _ in }) throws -> FinetuneRun {
        let url = runDirectory.appendingPathComponent(recordName)
        guard FileManager.default.fileExists(atPath: url.path) else { throw FinetuneError.nothingToResume(runDirectory.path) }
        let record: FinetuneRecord
        do { record = try JSONDecoder().decode(FinetuneRecord.self, from: Data(contentsOf: url)) } catch {
            throw ConfigError.unreadable(file: url.path, message: "\(error)")
        }
        return try FinetuneRun(record: record, runDirectory: runDirectory, resume: true, workers: workers,
                               stopSignal: stopSignal, configure: configure)
    }

    /// The backbone with the fine-tuning's drop path, its input size, layer decay and drop path:
    /// a ViT, or a DINOv3 ConvNeXt for a `ConvNeXtPresets` name or a run whose exported backbone
    /// is a ConvNeXt student (its depth for the automatic settings: Σ depths, 18 for ConvNeXt-T).
    static func backbone(_ initialization: FinetuneInitialization, config: FinetuneConfig, generator: RandomGenerator,
                         initGenerator: RandomGenerator) throws -> (any EmbeddingBackbone, Int, Double, Double) {
        if let convnext = try convNeXtBackbone(initialization, config: config, generator: generator, initGenerator: initGenerator) {
            return convnext
        }
        var model: VisionTransformerConfig
        var weights: [String: Tensor]? = nil
        var weightsFile: URL? = nil
        var size: Int
        switch initialization {
        case .run(let path, let student):
            let w = try TrainingRun.backboneWeights(run: URL(fileURLWithPath: path), student: student)
            (model, weights, size) = (w.config, w.weights, w.inputSize)
        case .weights(let path, let preset):
            let url = URL(fileURLWithPath: path)
            if let preset {
                model = try presetConfig(preset)
            } else if let stored = try VisionTransformer.storedConfig(in: url) {
                model = stored
            } else {
                throw CheckpointLayoutError("\(path) stores no model config; name a preset with --model")
            }
            weightsFile = url
            size = model.imageSize
        case .random(let preset):
            model = try presetConfig(preset)
            size = model.imageSize
        }
        size = config.inputSize ?? size
        let decay = config.layerDecay ?? FinetuneConfig.automaticLayerDecay(depth: model.depth)
        let rate = config.dropPath ?? FinetuneConfig.automaticDropPath(depth: model.depth)
        model.dropPathRate = rate
        let vit = VisionTransformer(model, generator: generator)
        if let weights {
            try vit.load(stateDict: weights, takingOwnership: true)
        } else if let weightsFile {
            try vit.loadWeights(from: weightsFile)
        } else {
            vit.initializeWeights(generator: initGenerator)
        }
        vit.train()
        return (vit, size, decay, rate)
    }

    /// A ConvNeXt backbone for `backbone`, or nil when the initialisation names a ViT.
    static func convNeXtBackbone(_ initialization: FinetuneInitialization, config: FinetuneConfig, generator: RandomGenerator,
                                 initGenerator: RandomGenerator) throws -> (any EmbeddingBackbone, Int, Double, Double)? {
        var model: ConvNeXtConfig
        var weights: [String: Tensor]? = nil
        var weightsFile: URL? = nil
        var size: Int
        switch initialization {
        case .run(let path, let student):
            guard let w = try TrainingRun.convNeXtBackboneWeights(run: URL(fileURLWithPath: path), student: student) else { return nil }
            (model, weights, size) = (w.config, w.weights, w.inputSize)
        case .weights(let path, let preset?):
            guard let c = ConvNeXtPresets.all[preset] else { return nil }
            (model, weightsFile, size) = (c, URL(fileURLWithPath: path), c.imageSize)
        case .random(let preset):
            guard let c = ConvNeXtPresets.all[preset] else { return nil }
            (model, size) = (c, c.imageSize)
        case .weights(_, nil):
            return nil
        }
        let depth = model.depths.reduce(0, +)
        size = config.inputSize ?? size
        let decay = config.layerDecay ?? FinetuneConfig.automaticLayerDecay(depth: depth)
        let rate = config.dropPath ?? FinetuneConfig.automaticDropPath(depth: depth)
        model.dropPathRate = rate
        let convnext = ConvNeXt(model, generator: generator)
        if let weights {
            try convnext.load(stateDict: weights, takingOwnership: true)
        } else if let weightsFile {
            try convnext.loadWeights(from: weightsFile)
        } else {
            convnext.initializeWeights(generator: initGenerator)
        }
        convnext.train()
        return (convnext, size, decay, rate)
    }

    static func presetConfig(_ name: String) throws -> VisionTransformerConfig {
        do { return try ModelPresets.config(named: name) } catch let e as PresetError {
            throw ConfigError.invalidValue(path: "model", message: e.description)
        }
    }

    /// One line for the start of `dino finetune`.
    public var summary: String {
        let c = record.config
        let blocks = (model.backbone as? ConvNeXt).map { "ConvNeXt, \($0.config.depths.reduce(0, +)) blocks in 4 stages" }
            ?? "\(model.backbone.blockCount) blocks"
        return "fine-tuning \(record.initialization.description) (\(blocks), \(model.backbone.embedDimensions) wide) "
            + "on \(trainIndices.count)/\(trainSet.count) train images" + (c.labelFraction.map { " (label fraction \($0))" } ?? "")
            + ", \(trainSet.classes.count) classes, \(inputSize) px; \(c.epochs) epochs × \(trainer.data.batchesPerEpoch) steps of \(c.batchSize); "
            + String(format: "recipe %@, lr %.3g (warm-up %g epochs), layer decay %.2f, drop path %.2f, %@, head %@",
                     c.recipe.rawValue as NSString, c.peakLearningRate, c.resolvedWarmupEpochs, layerDecay, dropPath,
                     c.pooling.rawValue as NSString, c.headInit.rawValue as NSString)
            + (linearHead.map { String(format: " (linear probe: lr %g, held-out top-1 %.1f)", $0.probe.learningRate, $0.heldOutTop1) } ?? "")
    }

    /// Trains to the end or a stop (the Trainer's `run`).
    public func run() throws -> TrainOutcome { try trainer.run() }

    // MARK: Export and evaluation

    /// Writes OUT/model.safetensors: the classifier's state dict (the backbone's official keys,
    /// `fc_norm.*`, `head.*`; MAE's fine-tuned layout, which timm's ViT loads with
    /// `global_pool='avg', fc_norm=True` — drop `norm.*` there), the backbone's config
    /// (`dino.model_config`) and the classes (`dino.classifier`).
    @discardableResult
    public func export(to url: URL? = nil) throws -> URL {
        let url = url ?? runDirectory.appendingPathComponent(Self.modelName)
        try model.save(to: url, info: ClassifierInfo(classes: trainSet.classes, pooling: model.pooling, inputSize: inputSize),
                       source: "dino finetune of \(record.initialization.description)")
        return url
    }

    /// Top-1/top-5 on val; writes OUT/eval.json.
    @discardableResult
    public func evaluate(batchSize: Int = 64, workers: Int = 1) throws -> FinetuneAccuracy {
        let acc = evaluateClassifier(model, dataset: valSet, size: inputSize, batchSize: batchSize, workers: workers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(acc).write(to: runDirectory.appendingPathComponent(Self.evalName), options: .atomic)
        return acc
    }
}

extension ImageClassifier {
    static let infoKey = "dino.classifier", configKey = "dino.model_config", convNeXtConfigKey = "dino.convnext_config"

    /// Saves the classifier with its backbone config (a ViT's under `dino.model_config`, a
    /// ConvNeXt's under `dino.convnext_config`) and class names.
    public func save(to url: URL, info: ClassifierInfo, source: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var metadata = [Self.infoKey: String(decoding: try encoder.encode(info), as: UTF8.self), "dino.source": source]
        if let vit = backbone as? VisionTransformer {
            var config = vit.config
            config.dropPathRate = 0
            metadata[Self.configKey] = String(decoding: try encoder.encode(config), as: UTF8.self)
        } else if let convnext = backbone as? ConvNeXt {
            var config = convnext.config
            config.dropPathRate = 0
            metadata[Self.convNeXtConfigKey] = String(decoding: try encoder.encode(config), as: UTF8.self)
        }
        try SafeTensors.write(stateDict(), metadata: metadata, to: url)
    }

    /// Reads a classifier written by `save` (evaluation mode).
    ///
    /// - Throws: `FinetuneError.notAClassifier`, `StateDictError`, safetensors errors.
    public static func load(from url: URL) throws -> (ImageClassifier, ClassifierInfo) {
        let file = try SafeTensors.read(from: url)
        guard let infoText = file.metadata[infoKey],
              let configText = file.metadata[configKey] ?? file.metadata[convNeXtConfigKey] else {
            throw FinetuneError.notAClassifier(url.path)
        }
        let info = try JSONDecoder().decode(ClassifierInfo.self, from: Data(infoText.utf8))
        let backbone: any EmbeddingBackbone
        if file.metadata[configKey] != nil {
            backbone = VisionTransformer(try ConfigLoader.decode(VisionTransformerConfig.self, from: try JSONValue.parse(configText)))
        } else {
            backbone = ConvNeXt(try JSONDecoder().decode(ConvNeXtConfig.self, from: Data(configText.utf8)))
        }
        let model = ImageClassifier(backbone: backbone, classes: info.classes.count, pooling: info.pooling,
                                    generator: RandomGenerator(seed: 0))
        var rest = file.tensors
        var own: [String: Tensor] = [:]
        for (k, t) in file.tensors where k.hasPrefix(fcNormPrefix) || k.hasPrefix(headPrefix) {
            own[k] = t
            rest[k] = nil
        }
        try backbone.load(stateDict: rest, takingOwnership: true)
        if let fcNorm = model.fcNorm {
            try fcNorm.load(stateDict: Dictionary(uniqueKeysWithValues: own.filter { $0.key.hasPrefix(fcNormPrefix) }
                .map { (String($0.key.dropFirst(fcNormPrefix.count)), $0.value) }))
        }
        try model.head.load(stateDict: Dictionary(uniqueKeysWithValues: own.filter { $0.key.hasPrefix(headPrefix) }
            .map { (String($0.key.dropFirst(headPrefix.count)), $0.value) }))
        model.train(false)
        return (model, info)
    }
}

// MARK: - LP-FT

/// The linear probe a `head_init: linear` head was copied from.
public struct LinearHeadFit {
    /// The sweep (held-out part of the labelled images), the chosen rate, and the accuracy of
    /// the probe trained with it on all labelled images, measured on those images.
    public var probe: LinearProbeResult
    /// The fitted head (C, D), (C).
    public var classifier: LinearClassifier
    /// Held-out top-1 of the chosen rate (nan without a sweep).
    public var heldOutTop1: Double {
        probe.sweep.first { $0.learningRate == probe.learningRate }?.heldOut.top1 ?? .nan
    }
}

/// The linear probe's settings for LP-FT's first stage: `LinearProbe`'s defaults (DINO's
/// `eval_linear.py` classifier, SGD, 100 epochs, rates 1e-3…1 per 256 images) with a fifth
/// of the labelled images held out to choose the rate (as scripts/bench_finetune.sh's probe).
public func linearHeadProbeOptions(seed: UInt64) -> LinearProbeOptions {
    var o = LinearProbeOptions()
    o.heldOutFraction = 0.2
    o.seed = seed
    return o
}

/// LP-FT's first stage: fits `LinearProbe` on the classifier's own head input
/// (`classifierFeatures`: evaluation view, evaluation mode, frozen backbone) of the labelled
/// images, and copies its weight and bias into `model.head`, so that before the first
/// fine-tuning step the classifier predicts what the probe predicts.
///
/// Reference: Kumar et al., "Fine-Tuning can Distort Pretrained Features and Underperform
/// Out-of-Distribution" (ICLR 2022), §3 (LP-FT: "first train a linear probe, then fine-tune
/// the entire model starting from it").
public func fitLinearHead(_ model: ImageClassifier, dataset: ImageFileDataset, indices: [Int], size: Int, seed: UInt64,
                          workers: Int = 1, issues: DataIssueLog = DataIssueLog()) throws -> LinearHeadFit {
    let (features, kept) = classifierFeatures(model, dataset: dataset, indices: indices, size: size, workers: workers, issues: issues)
    let labels = kept.map { dataset.label(at: $0)! }
    let options = linearHeadProbeOptions(seed: seed)
    let heldOut = Int((Double(labels.count) * options.heldOutFraction).rounded())
    guard labels.count - heldOut >= 1, heldOut >= 1 else {
        throw FinetuneError.tooFewForLinearHead(kept: labels.count)
    }
    let probe = LinearProbe(options: options)
    let result = probe.run(trainFeatures: features, trainLabels: labels, evalFeatures: features, evalLabels: labels,
                           classes: model.classes)
    let classifier = probe.train(features: features, labels: labels, classes: model.classes, learningRate: result.learningRate)
    model.head.weight.value = classifier.weight.to(model.head.weight.dtype).contiguousCopy()
    model.head.bias!.value = classifier.bias.to(model.head.bias!.dtype).contiguousCopy()
    return LinearHeadFit(probe: result, classifier: classifier)
}
