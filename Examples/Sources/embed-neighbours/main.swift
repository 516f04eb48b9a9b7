// Embeds a folder of images with a backbone and prints each image's nearest neighbours by
// cosine similarity of the class tokens.
//
//   embed-neighbours FOLDER [--preset NAME] [--weights FILE.safetensors] [--run RUN]
//                           [--input-size S] [--neighbours K]
//
// The backbone: a training run's (--run), a preset with a weights file, a weights file that
// stores its architecture, or a preset with random weights (to try the pipeline).

import Dino
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("embed-neighbours: \(message)\n".utf8))
    exit(2)
}

/// The command line; `option` takes `--name VALUE` out of it.
struct Arguments {
    var rest = Array(CommandLine.arguments.dropFirst())

    mutating func option(_ name: String) -> String? {
        guard let i = rest.firstIndex(of: name) else { return nil }
        guard i + 1 < rest.count else { fail("\(name) needs a value") }
        defer { rest.removeSubrange(i...(i + 1)) }
        return rest[i + 1]
    }

    mutating func integer(_ name: String) -> Int? {
        guard let value = option(name) else { return nil }
        guard let n = Int(value) else { fail("\(name) must be an integer, got '\(value)'") }
        return n
    }
}
var arguments = Arguments()
let preset = arguments.option("--preset"), weights = arguments.option("--weights"), run = arguments.option("--run")
let inputSize = arguments.integer("--input-size")
let count = arguments.integer("--neighbours") ?? 3
guard arguments.rest.count == 1, !arguments.rest[0].hasPrefix("--") else {
    fail("usage: embed-neighbours FOLDER [--preset NAME] [--weights FILE] [--run RUN] [--input-size S] [--neighbours K]")
}
let folder = arguments.rest[0]

do {
    let backbone: Backbone
    if let run {
        backbone = try Backbone(run: URL(fileURLWithPath: run))
    } else if let preset {
        backbone = try Backbone(preset: preset, weights: weights.map { URL(fileURLWithPath: $0) }, inputSize: inputSize)
    } else if let weights {
        backbone = try Backbone(weights: URL(fileURLWithPath: weights), inputSize: inputSize)
    } else {
        fail("give --run RUN, --preset NAME (with --weights FILE, or alone for random weights) or --weights FILE")
    }
    let embeddings = try backbone.embed(folder: folder)
    print("\(embeddings.paths.count) images, \(backbone.embedDimensions)-d class tokens at \(backbone.inputSize) px")
    // Paths relative to the folder, as given or absolute.
    let roots = [folder, URL(fileURLWithPath: folder).standardizedFileURL.path].map { $0.hasSuffix("/") ? $0 : $0 + "/" }
    func short(_ path: String) -> String {
        roots.first(where: path.hasPrefix).map { String(path.dropFirst($0.count)) } ?? path
    }
    for (i, neighbours) in embeddings.nearestNeighbours(count: count).enumerated() {
        let list = neighbours.map { "\(short($0.path)) (\(String(format: "%.3f", $0.similarity)))" }
        print("\(short(embeddings.paths[i])) → \(list.joined(separator: ", "))")
    }
    for failure in embeddings.failures { print("skipped \(failure.path): \(failure.reason)") }
} catch {
    fail("\(error)")
}
