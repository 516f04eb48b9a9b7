// `dino eval report` runs the evaluation suite on a run's backbone and writes RUN/eval/report.md,
// report.json and the pictures; `dino eval compare` puts two reports side by side. Thin: every
// evaluation is the library's (the same functions as `dino eval knn|linear|segmentation|depth|video`).

import ArgumentParser
import DinoEval
import DinoModels
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

struct EvalReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Run the evaluation suite on a run's backbone; write RUN/eval/report.md, report.json and pictures.",
        discussion: """
        Each evaluation of --suite needs its data: knn and linear --data-train/--data-val (labelled \
        ImageFolders); segmentation --data-seg-train/--data-seg-val/--data-masks; depth \
        --data-depth-train/--data-depth-val/--data-depth (16-bit mm PNGs); video --data-videos (DAVIS-2017). \
        Settings are those of the single commands (k-NN k = 20, T = 0.07; the linear protocol as \
        --protocol dinov2|dinov3 trains; segmentation --recipe linear|dinov3; depth lin.4 with the \
        dinov2 recipe, lin.1 below 4 blocks and on a ConvNeXt; video DINO's propagation, on a ConvNeXt its stride-32 map), \
        with the epochs given here.
        """
    )

    @Option(name: .customLong("run"), help: "Run directory of `dino train` (its exported backbone is evaluated).")
    var runDirectory: String

    @Option(help: "With a multi-student distillation run: the student to evaluate (its preset; default: the first). A ConvNeXt student takes every evaluation.")
    var student: String?

    @Option(help: "Evaluations, comma-separated: knn, linear, segmentation, depth, video.")
    var suite = "knn,linear,segmentation,depth,video"

    @Option(help: "Report folder (default: RUN/eval).")
    var out: String?

    @Option(help: "Labelled training images for knn and linear (ImageFolder).")
    var dataTrain: String?
    @Option(help: "Labelled validation images for knn and linear (ImageFolder).")
    var dataVal: String?
    @Option(help: "Segmentation training images (their masks under --data-masks).")
    var dataSegTrain: String?
    @Option(help: "Segmentation validation images.")
    var dataSegVal: String?
    @Option(help: "Masks folder mirroring the segmentation image folders.")
    var dataMasks: String?
    @Option(help: "Depth training images (their depth maps under --data-depth).")
    var dataDepthTrain: String?
    @Option(help: "Depth validation images.")
    var dataDepthVal: String?
    @Option(help: "Depth maps folder mirroring the depth image folders (16-bit PNG, mm).")
    var dataDepth: String?
    @Option(help: "DAVIS-2017-style folder for video.")
    var dataVideos: String?

    @Option(help: "Linear protocol: dinov2 or dinov3.")
    var linearProtocol = "dinov2"
    @Flag(help: "Linear protocol on cached features (one centre view; not the references' training).")
    var linearCached = false
    @Option(help: "Epochs of the linear protocol.")
    var linearEpochs = 10
    @Option(help: "Segmentation recipe: linear or dinov3.")
    var segmentationRecipe = "linear"
    @Option(help: "Epochs of the linear segmentation probe (--segmentation-recipe linear).")
    var segmentationEpochs = 20
    @Option(help: "Iterations of the dinov3 segmentation recipe.")
    var segmentationIterations = 1000
    @Flag(inversion: .prefixedNo, help: "reduce_zero_label for the dinov3 segmentation recipe (ADE20K: yes; scenes-dev: no).")
    var reduceZeroLabel = false
    @Option(help: "Epochs of the depth probe.")
    var depthEpochs = 10
    @Option(help: "Largest depth in metres (NYU: 10; scenes-dev: 16).")
    var maxDepth = 10.0

    @Option(help: "Seed of the probes (linear, segmentation, depth): their initial weights, splits and batch order.")
    var probeSeed: UInt64 = 0

    @Option(help: "Images per forward pass.")
    var batchSize = 128
    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    static let known = ["knn", "linear", "segmentation", "depth", "video"]

    func need(_ values: [String?], _ names: [String], for evaluation: String) throws -> [String] {
        let missing = zip(values, names).filter { $0.0 == nil }.map { "--\($0.1)" }
        guard missing.isEmpty else { throw ValidationError("--suite \(evaluation) needs \(missing.joined(separator: ", "))") }
        return values.map { $0! }
    }

    func run() throws {
        if let threads { Threads.count = threads }
        let evaluations = suite.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for e in evaluations where !Self.known.contains(e) {
            throw ValidationError("unknown evaluation '\(e)' in --suite; use \(Self.known.joined(separator: ", "))")
        }
        guard !evaluations.isEmpty else { throw ValidationError("--suite lists no evaluation") }
        guard let protocolKind = LinearProtocolKind(rawValue: linearProtocol) else {
            throw ValidationError("--linear-protocol is dinov2 or dinov3, got '\(linearProtocol)'")
        }
        guard let recipe = SegmentationRecipe(rawValue: segmentationRecipe) else {
            throw ValidationError("--segmentation-recipe is linear or dinov3, got '\(segmentationRecipe)'")
        }
        // Check every evaluation's data before running any.
        if evaluations.contains("knn") || evaluations.contains("linear") {
            _ = try need([dataTrain, dataVal], ["data-train", "data-val"], for: "knn/linear")
        }
        if evaluations.contains("segmentation") {
            _ = try need([dataSegTrain, dataSegVal, dataMasks], ["data-seg-train", "data-seg-val", "data-masks"], for: "segmentation")
        }
        if evaluations.contains("depth") {
            _ = try need([dataDepthTrain, dataDepthVal, dataDepth], ["data-depth-train", "data-depth-val", "data-depth"], for: "depth")
        }
        if evaluations.contains("video") { _ = try need([dataVideos], ["data-videos"], for: "video") }

        let runURL = URL(fileURLWithPath: runDirectory)
        let (model, size) = try TrainingRun.loadEmbeddingBackbone(run: runURL, student: student)
        let outURL = URL(fileURLWithPath: out ?? runURL.appendingPathComponent("eval").path)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let workers = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        var sections: [EvaluationReportSection] = []
        func timed(_ body: () throws -> EvaluationReportSection) rethrows -> EvaluationReportSection {
            let start = Date()
            var s = try body()
            s.seconds = Date().timeIntervalSince(start)
            print("\(s.name): " + s.metrics.prefix(3).map { "\($0.name) \($0.formatted)" }.joined(separator: ", "))
            return s
        }

        for evaluation in evaluations {
            switch evaluation {
            case "knn":
                sections.append(try timed {
                    let trainSet = try ImageFileDataset.imageFolder(dataTrain!), valSet = try ImageFileDataset.imageFolder(dataVal!)
                    let extractor = FeatureExtractor(model: model, transform: .forInput(size: size), batchSize: batchSize, workers: workers)
                    let train = extractor.extract(trainSet, kind: .cls), val = extractor.extract(valSet, kind: .cls)
                    let r = WeightedKNN(ks: [20], temperature: 0.07).evaluate(
                        trainFeatures: train.features, trainLabels: train.labels, testFeatures: val.features, testLabels: val.labels,
                        classes: train.classes.count)[0]
                    return EvaluationReportSection(name: "knn", setting: "weighted k-NN, k = 20, T = 0.07, class token, \(train.labels.count) train / \(val.labels.count) val images",
                                                   metrics: [.init("top-1", r.top1), .init("top-5", r.top5)], seconds: 0)
                })
            case "linear":
                sections.append(try timed {
                    let trainSet = try ImageFileDataset.imageFolder(dataTrain!), valSet = try ImageFileDataset.imageFolder(dataVal!)
                    var options = LinearProtocolOptions(protocolKind)
                    options.epochs = linearEpochs
                    options.cached = linearCached
                    options.seed = probeSeed
                    let r = runLinearProtocol(model: model, train: trainSet, val: valSet, imageSize: size, options: options,
                                              protocolName: protocolKind.rawValue, featureBatchSize: batchSize, workers: workers)
                    try JSONEncoder().encode(r).write(to: outURL.appendingPathComponent("linear.json"))
                    let c = r.chosen.setting
                    return EvaluationReportSection(
                        name: "linear",
                        setting: "\(protocolKind.rawValue) linear protocol, \(r.training) training, \(linearEpochs) epochs; chosen on \(r.heldOutImages) held-out train images: last \(c.blocks) block(s), avgpool \(c.averagePool), base lr \(c.baseLearningRate) (every classifier in linear.json)",
                        metrics: [.init("top-1", r.chosen.val.top1), .init("top-5", r.chosen.val.top5)], seconds: 0)
                })
            case "segmentation":
                sections.append(try timed {
                    let train = try SegmentationMasks(images: ImageFileDataset.open(dataSegTrain!), masksRoot: dataMasks!)
                    let val = try SegmentationMasks(images: ImageFileDataset.open(dataSegVal!), masksRoot: dataMasks!)
                    let scores: SegmentationScores
                    let setting: String
                    var pictures: [String] = []
                    switch recipe {
                    case .linear:
                        var options = SegmentationEvaluationOptions()
                        options.imageSize = size
                        options.batchSize = batchSize
                        options.probe.epochs = segmentationEpochs
                        options.probe.seed = probeSeed
                        scores = evaluateSegmentation(model: model, train: train, val: val, options: options)
                        setting = "linear recipe (features once, no augmentation), \(segmentationEpochs) epochs"
                    case .dinov3:
                        var config = DINOv3SegmentationConfig()
                        config.imageSize = size
                        config.iterations = segmentationIterations
                        config.reduceZeroLabel = reduceZeroLabel
                        config.seed = probeSeed
                        let r = try evaluateSegmentationDINOv3(model: model, train: train, val: val, config: config, workers: workers, pictureCount: 8)
                        scores = r.scores
                        if let p = r.picture {
                            try p.writePNG(to: outURL.appendingPathComponent("segmentation.png"))
                            pictures.append("segmentation.png")
                        }
                        setting = "dinov3 recipe (augmented crops, sliding windows), \(segmentationIterations) iterations, reduce_zero_label \(reduceZeroLabel)"
                    }
                    return EvaluationReportSection(name: "segmentation", setting: setting + ", \(scores.classIoU.count) classes, probe seed \(probeSeed)",
                                                   metrics: [.init("mIoU", scores.miou), .init("pixel accuracy", scores.pixelAccuracy)],
                                                   pictures: pictures, seconds: 0)
                })
            case "depth":
                sections.append(try timed {
                    let train = try DepthMaps(images: ImageFileDataset.open(dataDepthTrain!), depthRoot: dataDepth!)
                    let val = try DepthMaps(images: ImageFileDataset.open(dataDepthVal!), depthRoot: dataDepth!)
                    var options = DepthEvaluationOptions()
                    options.imageSize = size
                    options.batchSize = batchSize
                    // lin.4 needs 4 blocks on one grid; smaller backbones and a ConvNeXt (stages at 4 strides) get lin.1.
                    let layers = (try? depthHeadBlocks(model: model, head: .recipe(.dinov2, layers: 4))) != nil ? 4 : 1
                    options.head = .recipe(.dinov2, layers: layers)
                    options.head.maxDepth = maxDepth
                    options.probe.epochs = depthEpochs
                    options.probe.seed = probeSeed
                    let r = evaluateDepth(model: model, train: train, val: val, options: options)
                    var pictures: [String] = []
                    if let p = r.picture {
                        try p.writePNG(to: outURL.appendingPathComponent("depth.png"))
                        pictures.append("depth.png")
                    }
                    func metrics(_ m: DepthMetrics) -> [EvaluationMetric] {
                        [.init("δ1", 100 * m.delta1), .init("abs rel", m.absRel, higherIsBetter: false, unit: ""),
                         .init("RMSE", m.rmse, higherIsBetter: false, unit: "m")]
                    }
                    return EvaluationReportSection(
                        name: "depth", setting: "DINOv2 lin.\(layers) linear depth head, \(depthEpochs) epochs, max depth \(maxDepth) m, \(r.trainCount) train / \(r.valCount) val images; baseline: train mean depth \(String(format: "%.2f", r.trainMeanDepth)) m (the train mean depth map, position only: RMSE \(String(format: "%.3f", r.mapBaseline.rmse)) m)",
                        metrics: metrics(r.metrics), baselines: metrics(r.baseline), pictures: pictures, seconds: 0)
                })
            case "video":
                sections.append(try timed {
                    let dataset = try DAVISDataset(root: dataVideos!, set: "val")
                    var options = VideoEvaluationOptions()
                    options.overlayFrames = 8
                    let r = try evaluateVideo(model: model, dataset: dataset, options: options)
                    let dir = outURL.appendingPathComponent("video")
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    var pictures: [String] = []
                    for (sequence, picture) in r.overlays.prefix(4) {
                        try picture.writePNG(to: dir.appendingPathComponent("\(sequence).png"))
                        pictures.append("video/\(sequence).png")
                    }
                    func metrics(_ s: DAVISScores) -> [EvaluationMetric] {
                        [.init("J&F", 100 * s.jAndF), .init("J mean", 100 * s.jMean), .init("F mean", 100 * s.fMean)]
                    }
                    return EvaluationReportSection(name: "video", setting: "DINO label propagation, \(dataset.sequences.count) clips; baseline: copying the first mask",
                                                   metrics: metrics(r.scores), baselines: metrics(r.copyFirstMask), pictures: pictures, seconds: 0)
                })
            default: break
            }
        }
        let backbone: String
        if let c = (model as? VisionTransformer)?.config {
            backbone = "\(c.embedDimensions) wide, \(c.depth) blocks, patch \(c.patchSize), \(size) px input"
        } else {
            backbone = "\(type(of: model)) \(model.blockDimensions.map(String.init).joined(separator: "/")) wide stages, stride \(model.patchSize), \(size) px input"
        }
        let report = EvaluationReport(run: runURL.path + (student.map { " (student \($0))" } ?? ""), backbone: backbone,
                                      created: ISO8601DateFormatter().string(from: Date()), sections: sections)
        try report.json().write(to: outURL.appendingPathComponent("report.json"))
        try Data(report.markdown.utf8).write(to: outURL.appendingPathComponent("report.md"))
        print("report: \(outURL.appendingPathComponent("report.md").path)")
    }
}

struct EvalCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Two runs' evaluation reports side by side (RUN/eval/report.json), with the change of each metric.",
        discussion: "Prints a Markdown table (▲ better, ▼ worse); --out writes compare.md and compare.json there; --json prints the JSON."
    )

    @Argument(help: "First run folder (or its report.json).")
    var first: String

    @Argument(help: "Second run folder (or its report.json).")
    var second: String

    @Option(help: "Folder to write compare.md and compare.json into.")
    var out: String?

    @Flag(help: "Print JSON instead of the table.")
    var json = false

    static func reportURL(_ path: String) -> URL {
        path.hasSuffix(".json") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: path).appendingPathComponent("eval/report.json")
    }

    func run() throws {
        let comparison = EvaluationComparison(try EvaluationReport.read(Self.reportURL(first)), try EvaluationReport.read(Self.reportURL(second)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(comparison)
        if let out {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try data.write(to: dir.appendingPathComponent("compare.json"))
            try Data(comparison.markdown.utf8).write(to: dir.appendingPathComponent("compare.md"))
        }
        print(json ? String(decoding: data, as: UTF8.self) : comparison.markdown)
    }
}
