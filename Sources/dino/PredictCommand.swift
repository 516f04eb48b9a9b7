// `dino predict`: apply what `dino finetune` trained to new images.

import ArgumentParser
import DinoEval
import DinoModels
import DinoTensor
import DinoVision
import Foundation

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Apply a fine-tuned classifier (top-k labels: table, JSON, CSV) or a probe's segmentation/depth head (PNG) to images.",
        discussion: """
        --classifier is the model.safetensors that `dino finetune` writes (backbone, fc_norm, head, \
        class names); each image gets the evaluation view of its input size; scores are softmax \
        probabilities. --head is a head saved by `dino eval segmentation|depth --save-head FILE`, \
        applied on the backbone it was trained on (--run, or --weights/--model, as the probe took \
        it); it writes OUT/<name>.mask.png (image | classes) or OUT/<name>.depth.png (image | depth, \
        near dark, far bright) at the probe's input size. Arguments are image files or folders \
        (searched recursively).
        """
    )

    @Option(help: "A fine-tuned classifier (OUT/model.safetensors of `dino finetune`).")
    var classifier: String?

    @Option(help: "A segmentation or depth head saved by `dino eval segmentation|depth --save-head`.")
    var head: String?

    @OptionGroup var backbone: EvalBackbone

    @Option(help: "Folder for the mask/depth pictures of --head.")
    var out: String?

    @Option(help: "Classes per image.")
    var top = 5

    @Option(help: "Write the predictions as CSV (path,label_1,score_1,…).")
    var csv: String?

    @Option(help: "Write the predictions as JSON.")
    var jsonOut: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Argument(help: "Image files or folders.")
    var images: [String]

    func run() throws {
        guard (classifier == nil) != (head == nil) else { throw ValidationError("give --classifier FILE or --head FILE") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        var paths: [String] = []
        for item in images {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) else {
                throw ValidationError("\(item): no such file or folder")
            }
            if isDirectory.boolValue {
                let set = try ImageFileDataset.folder(item)
                paths += (0..<set.count).map { set.path(at: $0) }
            } else {
                paths.append(item)
            }
        }
        guard !paths.isEmpty else { throw ValidationError("no images in \(images.joined(separator: ", "))") }
        if let head { return try applyHead(head, paths: paths) }
        if let threads = backbone.threads { Threads.count = threads }
        let (model, info) = try ImageClassifier.load(from: URL(fileURLWithPath: classifier!))
        let predictions = try predictClasses(model, info: info, paths: paths, k: top)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if let jsonOut { try encoder.encode(predictions).write(to: URL(fileURLWithPath: jsonOut), options: .atomic) }
        if let csv { try predictionsCSV(predictions).write(toFile: csv, atomically: true, encoding: .utf8) }
        if json {
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(predictions), as: UTF8.self))
            return
        }
        let width = Swift.min(60, paths.map(\.count).max() ?? 4)
        print("image".padding(toLength: width, withPad: " ", startingAt: 0) + "  top-\(Swift.min(top, info.classes.count)) (probability)")
        for p in predictions {
            let name = p.path.count > width ? "…" + p.path.suffix(width - 1) : p.path
            print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                  + p.top.map { String(format: "%@ %.3f", $0.label as NSString, $0.probability) }.joined(separator: ", "))
        }
        if let jsonOut { print("json: \(jsonOut)") }
        if let csv { print("csv: \(csv)") }
    }
}

extension PredictCommand {
    /// Masks or depth maps of a probe's saved head, as PNG pictures.
    func applyHead(_ file: String, paths: [String]) throws {
        guard let out else { throw ValidationError("--head writes pictures: give --out DIR") }
        let (dense, info) = try loadDenseHead(from: URL(fileURLWithPath: file))
        let (model, _) = try backbone.loadEmbedding()
        guard model.embedDimensions == info.embedDimensions else {
            throw ValidationError("the head was trained on a \(info.embedDimensions)-wide backbone (\(info.backbone)); this one is \(model.embedDimensions) wide")
        }
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let size = info.imageSize
        var rows: [[String: Any]] = []
        for path in paths {
            let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
            let view = image.width == size && image.height == size ? image : image.resized(width: size, height: size, filter: .bicubic)
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            switch dense {
            case .segmentation(let h):
                let mask = predictMask(model: model, head: h, image: image, size: size)
                let url = dir.appendingPathComponent(name + ".mask.png")
                try RGBImage.sideBySide([view, maskPicture(mask, width: size, height: size)]).writePNG(to: url)
                var counts: [String: Int] = [:]
                for c in mask { counts[String(c), default: 0] += 1 }
                rows.append(["path": path, "picture": url.path, "class_pixels": counts])
            case .depth(let h):
                let depth = predictDepthMap(model: model, head: h, image: image, size: size)
                let url = dir.appendingPathComponent(name + ".depth.png")
                try RGBImage.sideBySide([view, depthMapPicture(depth, width: size, height: size, maxDepth: h.config.maxDepth)]).writePNG(to: url)
                let mean = depth.reduce(0, +) / Float(Swift.max(depth.count, 1))
                rows.append(["path": path, "picture": url.path, "min_m": Double(depth.min() ?? 0), "mean_m": Double(mean),
                             "max_m": Double(depth.max() ?? 0)])
            }
        }
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        } else {
            print("\(info.kind.rawValue) head (\(info.backbone), \(size) px) on \(paths.count) image(s): pictures in \(out)")
            for r in rows { print("  \(r["picture"]!)") }
        }
    }
}
