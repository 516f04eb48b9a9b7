// Pretrains a small Vision Transformer with a self-supervised method for N steps on an
// ImageFolder's train/ images (labels unused), then measures the backbone with DINO's k-NN
// protocol on train/ and val/.
//
//   pretrain-knn [--data DIR] [--out RUN] [--steps N] [--method dino|dinov2|…]
//                [--model vit_nano_patch4] [--batch-size B] [key=value …]
//
// DIR holds train/ and val/ with one folder per class (default: data/glyphs-mini). RUN is a
// `dino train` run folder (default: a new temporary folder): `dino eval --run RUN` reads it.

import Dino
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("pretrain-knn: \(message)\n".utf8))
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
let data = arguments.option("--data") ?? "data/glyphs-mini"
let steps = arguments.integer("--steps") ?? 100
let method = arguments.option("--method") ?? "dino"
let model = arguments.option("--model") ?? "vit_nano_patch4"
let batchSize = arguments.integer("--batch-size") ?? 32
let out = arguments.option("--out").map { URL(fileURLWithPath: $0) }
    ?? FileManager.default.temporaryDirectory.appendingPathComponent("pretrain-knn-\(UUID().uuidString)")
if let bad = arguments.rest.first(where: { !$0.contains("=") }) { fail("unexpected argument '\(bad)'") }
let settings = arguments.rest   // key=value overrides of the method's config

do {
    print("methods: " + Pretraining.methods.map(\.name).joined(separator: ", "))
    let training = try Pretraining(method: method, data: data + "/train", runDirectory: out, model: model,
                                   batchSize: batchSize, settings: settings, maxSteps: steps)
    print(training.summary)
    training.onMessage = { (_: String) in }
    let every = Swift.max(1, steps / 10)
    training.onStep = { (report: StepReport) in
        if report.step % every == 0 || report.step == steps {
            print(String(format: "step %4d  epoch %d  batch %3d/%d  loss %.4f", report.step, report.epoch + 1,
                         report.batchInEpoch, report.batchesPerEpoch, report.loss))
        }
    }
    let outcome = try training.run()
    print("training: \(outcome)")
    let backbone = try training.backbone()
    let results = try backbone.evaluateKNN(train: data + "/train", val: data + "/val", ks: [20, 10])
    print("k-NN of the trained backbone (\(out.path)):")
    print("     k   top-1   top-5")
    for r in results { print(String(format: "%6d  %6.2f  %6.2f", r.k, r.top1, r.top5)) }
} catch {
    fail("\(error)")
}
