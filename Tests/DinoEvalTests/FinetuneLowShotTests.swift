// The low-shot fine-tuning recipe: how `recipe` resolves (auto by the labelled images per
// class, explicit keys winning over the recipe's values), config strictness for the new keys,
// and LP-FT's head — copied from the linear probe, so that before the first fine-tuning step
// the classifier predicts exactly what the probe predicts.

@testable import DinoEval
import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import XCTest

final class FinetuneLowShotTests: XCTestCase {
    static let glyphs = FinetuneRunTests.glyphs

    func load(_ overrides: [String], perClass: Double) throws -> FinetuneConfig {
        try FinetuneConfig.load(file: nil, overrides: overrides) { _ in perClass }
    }

    func testLowShotRecipeValuesAreTheDocumentedOnes() {
        let c = FinetuneConfig.lowShot
        XCTAssertEqual(c.recipe, .lowShot)
        XCTAssertEqual(c.headInit, .linear)
        XCTAssertEqual(c.mixup.mixupAlpha, 0)
        XCTAssertEqual(c.mixup.cutmixAlpha, 0)
        XCTAssertFalse(c.mixup.isActive)
        XCTAssertEqual(c.autoAugment, "")
        XCTAssertEqual(c.randomErasing, 0)
        XCTAssertEqual(c.smoothing, 0)
        XCTAssertEqual(c.weightDecay, 0)
        XCTAssertEqual(c.dropPath, 0)
        XCTAssertEqual(c.blr, 1e-3)
        XCTAssertEqual(c.layerDecay, 0.5)
        XCTAssertEqual(c.cropScaleMin, 0.6)
        XCTAssertEqual(c.pooling, .classToken)
        XCTAssertEqual(c.hflip, 0.5)
        // Everything else is MAE's.
        var mae = FinetuneConfig()
        (mae.recipe, mae.headInit, mae.mixup, mae.autoAugment, mae.randomErasing, mae.smoothing) =
            (c.recipe, c.headInit, c.mixup, c.autoAugment, c.randomErasing, c.smoothing)
        (mae.weightDecay, mae.dropPath, mae.blr, mae.layerDecay, mae.cropScaleMin, mae.pooling) =
            (c.weightDecay, c.dropPath, c.blr, c.layerDecay, c.cropScaleMin, c.pooling)
        XCTAssertEqual(mae, c)
        XCTAssertEqual(FinetuneConfig().headInit, .random)
    }

    func testRecipeResolvesByLabelledImagesPerClassAndExplicitKeysWin() throws {
        // auto: low_shot up to 128 labelled images per class (ImageNet's 10 %), mae above.
        XCTAssertEqual(try load([], perClass: 2), FinetuneConfig.lowShot)
        XCTAssertEqual(try load([], perClass: 128).recipe, .lowShot)
        var mae = FinetuneConfig()
        mae.recipe = .mae
        XCTAssertEqual(try load([], perClass: 128.5), mae)
        // Named recipes ignore the count (and never ask for it).
        XCTAssertEqual(try FinetuneConfig.load(file: nil, overrides: ["recipe=mae"]) { _ in XCTFail("counted"); return 1 }, mae)
        XCTAssertEqual(try load(["recipe=low_shot"], perClass: 1000), FinetuneConfig.lowShot)
        // Keys given explicitly win over the recipe's values, the rest stay the recipe's.
        let c = try load(["blr=0.01", "mixup.mixup=0.2", "head_init=random"], perClass: 2)
        var expected = FinetuneConfig.lowShot
        expected.blr = 0.01
        expected.mixup.mixupAlpha = 0.2
        expected.headInit = .random
        XCTAssertEqual(c, expected)
        XCTAssertEqual(try load(["recipe=mae", "head_init=linear"], perClass: 2).headInit, .linear)
        // The count is taken after the label fraction: glyphs-mini keeps 4 of 16 per class at 0.25.
        let train = Self.glyphs.appendingPathComponent("train").path
        XCTAssertEqual(try FinetuneConfig.load(overrides: ["label_fraction=0.25"], train: train).recipe, .lowShot)
        // A record replays its resolved recipe.
        let replay = try ConfigLoader.decode(FinetuneConfig.self, from: try JSONValue(encoding: c))
        XCTAssertEqual(replay, c)
    }

    func testNewKeysAreStrict() {
        func fails(_ overrides: [String], _ key: String) {
            XCTAssertThrowsError(try load(overrides, perClass: 2)) { e in XCTAssertTrue("\(e)".contains(key), "\(e)") }
        }
        fails(["recipe=few_shot"], "recipe")
        fails(["head_init=zeros"], "head_init")
        fails(["head_inti=linear"], "head_inti")
        fails(["recipe=low_shot", "batch_size=3"], "batch_size")
        fails(["hflip=1.5"], "hflip")
    }

    func record(_ f: (inout FinetuneConfig) -> Void = { _ in }) -> FinetuneRecord {
        var c = FinetuneConfig.lowShot
        c.epochs = 1
        c.batchSize = 16
        c.labelFraction = 0.25          // 104 images, 6 steps per epoch
        c.warmupEpochs = 0
        f(&c)
        return FinetuneRecord(config: c, initialization: .random(model: "test_dino"),
                              train: Self.glyphs.appendingPathComponent("train").path,
                              val: Self.glyphs.appendingPathComponent("val").path)
    }

    func tempDir() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testLinearHeadPredictsAsTheLinearProbeBeforeFineTuningAndResumesBitExactly() throws {
        let quiet: (inout TrainerOptions) -> Void = { o in o.progress = false; o.tensorBoard = false }
        let dir = tempDir()
        let run = try FinetuneRun(record: record(), runDirectory: dir, configure: quiet)
        let fit = try XCTUnwrap(run.linearHead)
        XCTAssertEqual(run.trainer.step, 0)
        // The probe, recomputed here on the classifier's frozen head input of the labelled images.
        let (features, kept) = classifierFeatures(run.model, dataset: run.trainSet, indices: run.trainIndices, size: run.inputSize)
        XCTAssertEqual(kept, run.trainIndices)
        let labels = kept.map { run.trainSet.label(at: $0)! }
        let probe = LinearProbe(options: linearHeadProbeOptions(seed: 0))
        let again = probe.run(trainFeatures: features, trainLabels: labels, evalFeatures: features, evalLabels: labels, classes: 26)
        XCTAssertEqual(again.learningRate, fit.probe.learningRate)
        let probeLogits = probe.train(features: features, labels: labels, classes: 26, learningRate: again.learningRate)(features)
        let modelLogits = classifierLogits(run.model, dataset: run.trainSet, indices: run.trainIndices, size: run.inputSize).logits
        XCTAssertEqual(modelLogits.shape, [104, 26])
        let (a, b) = (modelLogits.scalars, probeLogits.scalars)
        XCTAssertEqual(zip(a, b).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-5)
        let argmax: ([Float]) -> [Int] = { v in (0..<104).map { i in (0..<26).max { v[i * 26 + $0] < v[i * 26 + $1] }! } }
        XCTAssertEqual(argmax(a), argmax(b))
        // Not MAE's 2e-5 head: the probe learned something on the labelled images.
        XCTAssertGreaterThan(run.model.head.weight.value.abs().max().item(), 1e-3)
        XCTAssertEqual(fit.probe.accuracy, fit.classifier.accuracy(features: features, labels: labels))

        // Fine-tuning moves the head from there; a run stopped and resumed ends identical
        // (the resumed run takes the head from its checkpoint, not from a new probe).
        XCTAssertEqual(try run.run(), .completed)
        XCTAssertNotEqual(run.model.head.weight.value.scalars, fit.classifier.weight.scalars)
        let split = tempDir()
        let stopped = try FinetuneRun(record: record(), runDirectory: split) { o in quiet(&o); o.maxSteps = 3 }
        guard case .stopped = try stopped.run() else { return XCTFail("expected a stop at max_steps") }
        let resumed = try FinetuneRun.resume(runDirectory: split, configure: quiet)
        XCTAssertNil(resumed.linearHead)
        XCTAssertEqual(try resumed.run(), .completed)
        let full = Dictionary(uniqueKeysWithValues: run.model.namedParameters().map { ($0.0, $0.1.value.scalars) })
        for (name, p) in resumed.model.namedParameters() {
            XCTAssertEqual(p.value.scalars, full[name], "parameter \(name) differs after resume")
        }
    }
}
