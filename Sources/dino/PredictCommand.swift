// `dino predict`: apply what `dino finetune` trained to new images.

import ArgumentParser
import DinoEval
import DinoTensor
import DinoVision
import Foundation

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images with a fine-tuned classifier: top-k labels as a table, JSON and CSV.",
        discussion: """
        --classifier is the model.safetensors that `dino finetune` writes (backbone, fc_norm, head, \
        class names). Arguments are image files or folders (searched recursively). Each image gets \
        the evaluation view of the classifier's input size; scores are softmax probabilities.
        """
    )

    @Option(help: "A fine-tuned classifier (OUT/model.safetensors of `dino finetune`).")
    var classifier: String

    @Option(help: "Classes per image.")
    var top = 5

    @Option(help: "Write the predictions as CSV (path,label_1,score_1,…).")
    var csv: String?

    @Option(help: "Write the predictions as JSON.")
    var jsonOut: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Argument(help: "Image files or folders.")
    var images: [String]

    func run() throws {
        if let threads { Threads.count = threads }
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
        let (model, info) = try ImageClassifier.load(from: URL(fileURLWithPath: classifier))
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
