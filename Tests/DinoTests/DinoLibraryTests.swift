// The `Dino` surface, through `import Dino` only: what a program sees.

import Dino
import Foundation
import Testing

/// The bundled demo set (data/glyphs-mini).
let glyphsMini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("data/glyphs-mini")

func temporaryFolder(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("dino-lib-\(name)-\(UUID().uuidString)")
}

@Suite struct BackboneTests {
    @Test func embedsAFolderWithClassAndPatchTokens() throws {
        let backbone = try Backbone(preset: "test_dino")
        #expect(backbone.inputSize == 32 && backbone.patchSize == 8 && backbone.embedDimensions == 32)
        var calls = 0
        let embeddings = try backbone.embed(folder: glyphsMini.appendingPathComponent("val/A").path, batchSize: 4,
                                            patchTokens: true) { _, total in calls += 1; #expect(total == 6) }
        #expect(calls == 2)
        #expect(embeddings.paths.count == 6 && embeddings.failures.isEmpty)
        #expect(embeddings.classTokens.shape == [6, 32])
        #expect(embeddings.patchTokens?.shape == [6, 16, 32])
        // The class tokens are the model's, batch by batch.
        let (cls, patches) = backbone.tokens(Tensor.zeros([1, 3, 32, 32]))
        #expect(cls.shape == [1, 32] && patches.shape == [1, 16, 32])
    }

    @Test func nearestNeighboursRankByCosineSimilarityAndSkipTheImageItself() throws {
        // Rows 0 and 2 point the same way, row 1 is orthogonal to them, row 3 opposite to row 0.
        let tokens = Tensor([1, 0, 0, 1, 2, 0, -1, 0], shape: [4, 2])
        let e = ImageEmbeddings(paths: ["a", "b", "c", "d"], classTokens: tokens, patchTokens: nil, failures: [])
        let n = e.nearestNeighbours(count: 2)
        #expect(n.count == 4)
        #expect(n[0].map(\.path) == ["c", "b"])
        #expect(abs(n[0][0].similarity - 1) < 1e-6 && abs(n[0][1].similarity) < 1e-6)
        #expect(n[3].map(\.index) == [1, 0])          // b (0) before a and c (-1); a before c by row
        #expect(e.nearestNeighbours(count: 10)[1].count == 3)
    }

    @Test func savedWeightsLoadBackWithTheirArchitecture() throws {
        let dir = temporaryFolder("save")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Backbone(preset: "test_dinov2", seed: 3)
        let file = dir.appendingPathComponent("w.safetensors")
        try original.save(to: file)
        let loaded = try Backbone(weights: file)
        #expect(loaded.config == original.config)
        let x = Tensor.ones([1, 3, 32, 32])
        #expect(loaded.tokens(x).classToken.scalars == original.tokens(x).classToken.scalars)
    }

    @Test func badRequestsNameWhatIsWrong() throws {
        #expect(Backbone.presets.contains("dinov2_vits14"))
        do {
            _ = try Backbone(preset: "dinov2_vits15")
            Issue.record("an unknown preset loaded")
        } catch {
            #expect("\(error)".contains("dinov2_vits15") && "\(error)".contains("dinov2_vits14"))
        }
        #expect(throws: DinoError.invalidArgument("input size 30 is not a positive multiple of the patch size 8")) {
            try Backbone(preset: "test_dino", inputSize: 30)
        }
        let backbone = try Backbone(preset: "test_dino")
        #expect(throws: DinoError.self) {
            try backbone.evaluateKNN(train: glyphsMini.appendingPathComponent("train").path,
                                     val: glyphsMini.appendingPathComponent("val").path, ks: [0])
        }
    }
}

@Suite struct PretrainingTests {
    /// Two steps of DINO on glyphs-mini with the test model, reported step by step, then the
    /// run's backbone evaluated with k-NN.
    @Test func trainsWithProgressCallbacksAndEvaluates() throws {
        #expect(Pretraining.methods.map(\.name).starts(with: ["dino", "dinov2", "distill"]))
        let run = temporaryFolder("run")
        defer { try? FileManager.default.removeItem(at: run) }
        let training = try Pretraining(method: "dino", data: glyphsMini.appendingPathComponent("train").path,
                                       runDirectory: run, model: "test_dino", epochs: 1, batchSize: 32, seed: 1,
                                       settings: ["head.hidden_dimensions=32", "head.bottleneck_dimensions=16",
                                                  "data.workers=1"],
                                       maxSteps: 3, tensorBoard: false)
        #expect(training.method == "dino" && training.imageCount == 416)
        var reports: [StepReport] = []
        training.onStep = { report in
            reports.append(report)
            if report.step == 2 { training.requestStop() }
        }
        var messages: [String] = []
        training.onMessage = { messages.append($0) }
        let outcome = try training.run()
        #expect(outcome == .stopped(reason: "stop requested by the program"))
        #expect(reports.map(\.step) == [1, 2] && reports.map(\.batchInEpoch) == [1, 2])
        #expect(reports.allSatisfy { $0.epoch == 0 && $0.epochs == 1 && $0.batchesPerEpoch == 13 })
        #expect(reports.allSatisfy { $0.loss.isFinite && $0.values["lr"] != nil })
        #expect(messages.contains { $0.contains("checkpoint") })
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.json").path))

        let backbone = try training.backbone()
        #expect(backbone.inputSize == 32)
        let results = try backbone.evaluateKNN(train: glyphsMini.appendingPathComponent("train").path,
                                               val: glyphsMini.appendingPathComponent("val").path, ks: [20, 10])
        #expect(results.map(\.k) == [20, 10])
        #expect(results.allSatisfy { (0...100).contains($0.top1) && $0.top5 >= $0.top1 })

        // The folder now holds a run: a second new run there is refused, naming it.
        #expect(throws: (any Error).self) {
            try Pretraining(data: glyphsMini.appendingPathComponent("train").path, runDirectory: run)
        }
    }

    @Test func unknownMethodsAndKeysAreRefused() throws {
        let run = temporaryFolder("bad")
        defer { try? FileManager.default.removeItem(at: run) }
        do {
            _ = try Pretraining(method: "byol", data: glyphsMini.path, runDirectory: run)
            Issue.record("an unknown method was accepted")
        } catch { #expect("\(error)".contains("byol")) }
        do {
            _ = try Pretraining(data: glyphsMini.path, runDirectory: run, settings: ["optim.learning_rate=1"])
            Issue.record("an unknown key was accepted")
        } catch { #expect("\(error)".contains("learning_rate")) }
    }
}
