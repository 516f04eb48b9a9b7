// A fine-tuning run end to end on the bundled glyphs-mini set with the tiny `test_dino`
// preset: trains on the Trainer, resumes bit-exactly, exports, reloads and predicts.

@testable import DinoEval
import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import XCTest

final class FinetuneRunTests: XCTestCase {
    static let glyphs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/glyphs-mini")

    func record(_ f: (inout FinetuneConfig) -> Void = { _ in }) -> FinetuneRecord {
        var c = FinetuneConfig()
        c.epochs = 2
        c.batchSize = 16
        c.labelFraction = 0.25          // 4 per class: 104 images, 6 steps per epoch
        c.warmupEpochs = 0.5
        c.blr = 5e-3
        f(&c)
        return FinetuneRecord(config: c, initialization: .random(model: "test_dino"),
                              train: Self.glyphs.appendingPathComponent("train").path,
                              val: Self.glyphs.appendingPathComponent("val").path)
    }

    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("finetune-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func quiet(_ o: inout TrainerOptions) {
        o.progress = false
        o.tensorBoard = false
    }

    func testResumedRunIsBitExactAndExportPredicts() throws {
        let full = try tempDir(), split = try tempDir()
        let a = try FinetuneRun(record: record(), runDirectory: full, configure: quiet)
        XCTAssertEqual(a.trainIndices.count, 104)
        XCTAssertEqual(a.trainer.data.batchesPerEpoch, 6)
        XCTAssertEqual(a.layerDecay, 0.65)
        XCTAssertEqual(a.dropPath, 0.1)
        XCTAssertEqual(try a.run(), .completed)

        let b = try FinetuneRun(record: record(), runDirectory: split) { o in self.quiet(&o); o.maxSteps = 4 }
        guard case .stopped = try b.run() else { return XCTFail("expected a stop at max_steps") }
        XCTAssertThrowsError(try FinetuneRun(record: record(), runDirectory: split, configure: quiet)) { e in
            XCTAssertEqual(e as? FinetuneError, .runExists(split.path))
        }
        let resumed = try FinetuneRun.resume(runDirectory: split, configure: quiet)
        XCTAssertEqual(resumed.trainer.step, 0)
        XCTAssertEqual(try resumed.run(), .completed)
        XCTAssertEqual(resumed.trainer.step, 12)
        let pa = Dictionary(uniqueKeysWithValues: a.model.namedParameters().map { ($0.0, $0.1.value.scalars) })
        var compared = 0
        for (name, p) in resumed.model.namedParameters() {
            XCTAssertEqual(p.value.scalars, pa[name], "parameter \(name) differs after resume")
            compared += 1
        }
        XCTAssertEqual(compared, pa.count)
        // Trained: the head moved away from its 2e-5 initialisation.
        XCTAssertGreaterThan(a.model.head.weight.value.abs().max().item(), 1e-3)

        // Export, reload, same logits; predictions name classes of the set.
        let url = try a.export()
        let (loaded, info) = try ImageClassifier.load(from: url)
        XCTAssertEqual(info.classes.count, 26)
        XCTAssertEqual(info.pooling, .globalPool)
        let val = try ImageFileDataset.imageFolder(a.record.val)
        let mine = classifierLogits(a.model, dataset: val, size: a.inputSize).logits
        let theirs = classifierLogits(loaded, dataset: val, size: info.inputSize).logits
        XCTAssertEqual(mine.scalars, theirs.scalars)
        let acc = try a.evaluate()
        XCTAssertEqual(acc.images, 156)
        XCTAssertGreaterThanOrEqual(acc.top5, acc.top1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: full.appendingPathComponent(FinetuneRun.evalName).path))
        let paths = [val.path(at: 0), val.path(at: 30)]
        let predictions = try predictClasses(loaded, info: info, paths: paths, k: 5)
        XCTAssertEqual(predictions.map(\.path), paths)
        for p in predictions {
            XCTAssertEqual(p.top.count, 5)
            XCTAssertTrue(p.top.allSatisfy { info.classes[$0.index] == $0.label })
            XCTAssertEqual(p.top.map(\.probability), p.top.map(\.probability).sorted(by: >))
        }
        let csv = predictionsCSV(predictions).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[0].hasPrefix("path,label_1,score_1,"))
    }

    func testBackboneOfATrainingRunIsLoaded() throws {
        // A `dino train` run stopped at step 0 (its initial weights in a checkpoint).
        let dir = try tempDir()
        let pretraining = dir.appendingPathComponent("pretrain")
        let train = try TrainingRun(method: "dino", configTree: .object(["model": .string("test_dino"), "batch_size": .integer(16)]),
                                    dataPath: Self.glyphs.appendingPathComponent("train").path, runDirectory: pretraining) { o in
            self.quiet(&o)
            o.maxSteps = 0
        }
        _ = try train.trainer.run()
        let (teacher, _) = try TrainingRun.loadBackbone(run: pretraining)
        let r = record { $0.epochs = 1 }
        let run = try FinetuneRun(record: FinetuneRecord(config: r.config, initialization: .run(pretraining.path),
                                                         train: r.train, val: r.val),
                                  runDirectory: dir.appendingPathComponent("ft"), configure: quiet)
        XCTAssertEqual((run.model.backbone as! VisionTransformer).blocks[1].attn.qkv.weight.value.scalars, teacher.blocks[1].attn.qkv.weight.value.scalars)
        XCTAssertEqual((run.model.backbone as! VisionTransformer).config.dropPathRate, 0.1)
    }

    func testBackboneOfAWeightsFileIsLoaded() throws {
        let dir = try tempDir()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let pretrained = try VisionTransformer.load(preset: "test_dino", weights: nil, seed: 7)
        let file = dir.appendingPathComponent("backbone.safetensors")
        try pretrained.saveWeights(to: file)
        let r = record { $0.epochs = 1 }
        let run = try FinetuneRun(record: FinetuneRecord(config: r.config, initialization: .weights(file.path, model: nil),
                                                         train: r.train, val: r.val),
                                  runDirectory: dir.appendingPathComponent("ft"), configure: quiet)
        XCTAssertEqual((run.model.backbone as! VisionTransformer).blocks[0].attn.qkv.weight.value.scalars,
                       pretrained.blocks[0].attn.qkv.weight.value.scalars)
        XCTAssertEqual((run.model.backbone as! VisionTransformer).config.dropPathRate, 0.1)
    }
}
