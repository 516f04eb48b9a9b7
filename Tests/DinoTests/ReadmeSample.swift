// The README's "Use from Swift" sample, compiled here (not run: it needs the official weights
// and a ten-epoch run). `readmeSampleMatchesTheREADME` checks that the README shows exactly
// the lines between the markers.

import Dino
import Foundation
import Testing

func readmeSample() throws {
    // README begin
    // Features of a pretrained backbone (official weights converted with `dino convert`).
    let backbone = try Backbone(preset: "dinov2_vits14", weights: URL(fileURLWithPath: "dinov2_vits14.safetensors"),
                                inputSize: 224)
    let embeddings = try backbone.embed(folder: "photos", patchTokens: true)  // classTokens (N, 384), patchTokens (N, 256, 384)
    for (i, neighbours) in embeddings.nearestNeighbours(count: 3).enumerated() {
        print(embeddings.paths[i], neighbours.map(\.path))
    }

    // Pretraining with a registered method (dino, dinov2, distill), step by step, then k-NN.
    let training = try Pretraining(method: "dino", data: "data/glyphs-mini/train",
                                   runDirectory: URL(fileURLWithPath: "runs/library"),
                                   model: "vit_nano_patch4", epochs: 10, batchSize: 32)
    training.onStep = { report in print("step \(report.step): loss \(report.loss)") }
    let outcome = try training.run()
    let knn = try training.backbone().evaluateKNN(train: "data/glyphs-mini/train", val: "data/glyphs-mini/val")
    print(outcome, "k-NN top-1 \(knn[0].top1) %")
    // README end
}

@Suite struct ReadmeSampleTests {
    @Test func readmeSampleMatchesTheREADME() throws {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try String(contentsOf: here, encoding: .utf8).components(separatedBy: "\n")
        let begin = try #require(source.firstIndex { $0.hasSuffix("// README begin") })
        let end = try #require(source.firstIndex { $0.hasSuffix("// README end") })
        let sample = source[(begin + 1)..<end].map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : $0 }
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Use from Swift"))
        let block = try #require(readme[section.upperBound...].range(of: "```swift\nimport Dino\nimport Foundation\n\n"))
        let rest = readme[block.upperBound...]
        let shown = rest[..<(rest.range(of: "\n```")?.lowerBound ?? rest.endIndex)].components(separatedBy: "\n")
        #expect(shown == Array(sample))
    }
}
