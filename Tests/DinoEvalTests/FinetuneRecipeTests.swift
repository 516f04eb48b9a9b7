// The fine-tuning recipe against MAE and timm (scripts/make_finetune_fixtures.py): layer-wise
// learning-rate decay, the per-iteration schedule, label smoothing and soft-target losses with
// their gradients, CutMix boxes and mixed batches.

@testable import DinoEval
import DinoModels
import DinoNN
import DinoTensor
import Foundation
import XCTest

final class FinetuneRecipeTests: XCTestCase {
    struct Recipe: Decodable {
        struct LLRD: Decodable {
            struct Entry: Decodable { let lr_scale: Double; let weight_decay: Double }
            let layer_decay: Double
            let weight_decay: Double
            let depth: Int
            let groups: [String: Entry]
        }
        struct Sched: Decodable {
            let peak: Double, min: Double, warmup_epochs: Double, epochs: Int, iterations_per_epoch: Int
            let values: [Double]
        }
        struct Losses: Decodable {
            struct Value: Decodable { let loss: Double; let grad: [Double]; let targets: [Double]?; let lambda: Double? }
            let logits: [Double], shape: [Int], labels: [Int], smoothing: Double
            let label_smoothing: Value
            let soft_target: Value
        }
        struct Mix: Decodable {
            struct Box: Decodable { let height: Int, width: Int, lambda: Double, cy: Int, cx: Int, box: [Int], corrected: Double }
            struct Batch: Decodable {
                struct Case: Decodable { let lambda: Double, cutmix: Bool, cy: Int, cx: Int, images: [Double], targets: [Double] }
                let images: [Double], shape: [Int], labels: [Int], classes: Int, smoothing: Double, cases: [Case]
            }
            let boxes: [Box]
            let batch: Batch
        }
        let llrd: LLRD
        let schedule: Sched
        let losses: Losses
        let mixup: Mix
    }

    func recipe() throws -> Recipe { try Fixture.load("finetune") }

    func testLayerDecayGroupsMatchMAEParamGroupsLRD() throws {
        let r = try recipe().llrd
        var config = try ModelPresets.config(named: "vit_nano_patch4")
        XCTAssertEqual(config.depth, r.depth)
        config.dropPathRate = 0
        var checked = Set<String>()
        for pooling in ClassifierPooling.allCases {
            let model = ImageClassifier(backbone: VisionTransformer(config), classes: 26, pooling: pooling,
                                        generator: RandomGenerator(seed: 0))
            for g in model.parameterGroups(layerDecay: r.layer_decay) {
                for name in g.names {
                    guard let e = r.groups[name] else { continue }
                    XCTAssertEqual(g.lrMultiplier, e.lr_scale, accuracy: 1e-12, name)
                    XCTAssertEqual(g.weightDecayMultiplier * r.weight_decay, e.weight_decay, accuracy: 1e-15, name)
                    checked.insert(name)
                }
            }
        }
        // Every name of MAE's groups is one of ours: tokens, patch embedding, 6 blocks, norm, fc_norm, head.
        XCTAssertEqual(checked, Set(r.groups.keys))
        XCTAssertEqual(FinetuneConfig.automaticLayerDecay(depth: 12), 0.65)
        XCTAssertEqual(FinetuneConfig.automaticLayerDecay(depth: 24), 0.75)
    }

    func testScheduleMatchesMAEAdjustLearningRate() throws {
        let s = try recipe().schedule
        let ours = MAELearningRateSchedule(peak: s.peak, minimum: s.min, epochs: s.epochs, warmupEpochs: s.warmup_epochs,
                                           iterationsPerEpoch: s.iterations_per_epoch)
        XCTAssertEqual(s.values.count, s.epochs * s.iterations_per_epoch)
        for (i, v) in s.values.enumerated() {
            XCTAssertEqual(ours(i), v, accuracy: 1e-15, "iteration \(i)")
        }
    }

    func testLossesAndGradientsMatchTimm() throws {
        let l = try recipe().losses
        let (b, k) = (l.shape[0], l.shape[1])
        func check(targets: Tensor, _ expected: Recipe.Losses.Value, _ label: String) {
            let logits = Tensor(doubles: l.logits, shape: [b, k])
            logits.requiresGrad = true
            let loss = softTargetCrossEntropy(logits: logits, targets: targets.to(.float64))
            XCTAssertEqual(Double(loss.doubles[0]), expected.loss, accuracy: 1e-6, label)
            loss.backward()
            let grad = logits.grad!.doubles
            for (g, e) in zip(grad, expected.grad) { XCTAssertEqual(g, e, accuracy: 1e-6, label) }
        }
        // Label smoothing = the soft-target loss of the smoothed one-hot (λ = 1).
        check(targets: mixupTargets(labels: l.labels, classes: k, lambda: 1, smoothing: l.smoothing), l.label_smoothing,
              "LabelSmoothingCrossEntropy(0.1)")
        let mixed = mixupTargets(labels: l.labels, classes: k, lambda: l.soft_target.lambda!, smoothing: l.smoothing)
        for (a, e) in zip(mixed.doubles, l.soft_target.targets!) { XCTAssertEqual(a, e, accuracy: 1e-6) }
        check(targets: mixed, l.soft_target, "SoftTargetCrossEntropy of mixup_target(λ 0.7)")
    }

    func testCutMixBoxesMatchTimm() throws {
        for c in try recipe().mixup.boxes {
            let (box, lam) = cutMixBox(height: c.height, width: c.width, lambda: c.lambda, centerY: c.cy, centerX: c.cx)
            XCTAssertEqual([box.top, box.bottom, box.left, box.right], c.box, "\(c.height)×\(c.width) λ \(c.lambda)")
            XCTAssertEqual(lam, c.corrected, accuracy: 1e-12)
        }
    }

    func testMixedBatchesMatchTimmMixup() throws {
        let m = try recipe().mixup.batch
        let images = Tensor(m.images.map(Float.init), shape: m.shape)
        for c in m.cases {
            var draw = MixupDraw(lambda: c.lambda, box: nil)
            if c.cutmix {
                let (box, lam) = cutMixBox(height: m.shape[2], width: m.shape[3], lambda: c.lambda, centerY: c.cy, centerX: c.cx)
                draw = MixupDraw(lambda: lam, box: box)
            }
            let mixed = applyMixup(images, draw)
            for (a, e) in zip(mixed.scalars, c.images) { XCTAssertEqual(Double(a), e, accuracy: 1e-6, "cutmix \(c.cutmix)") }
            let targets = mixupTargets(labels: m.labels, classes: m.classes, lambda: draw.lambda, smoothing: m.smoothing)
            for (a, e) in zip(targets.doubles, c.targets) { XCTAssertEqual(a, e, accuracy: 1e-6, "cutmix \(c.cutmix)") }
        }
    }

    func testMixupDrawsAreReproducibleAndCoverBothKinds() {
        let o = MixupOptions()
        var cut = 0, lambdas: [Double] = []
        for seed in 0..<200 as Range<UInt64> {
            let a = o.draw(height: 32, width: 32, generator: RandomGenerator(seed: seed))
            XCTAssertEqual(a, o.draw(height: 32, width: 32, generator: RandomGenerator(seed: seed)))
            if a.box != nil { cut += 1 }
            XCTAssertTrue((0...1).contains(a.lambda))
            lambdas.append(a.lambda)
        }
        XCTAssertTrue((70...130).contains(cut), "switch probability 0.5: \(cut) of 200")
        let mean = lambdas.reduce(0, +) / 200
        XCTAssertEqual(mean, 0.5, accuracy: 0.07, "Beta(α, α) is symmetric")
        var off = MixupOptions()
        off.mixupAlpha = 0
        off.cutmixAlpha = 0
        XCTAssertEqual(off.draw(height: 8, width: 8, generator: RandomGenerator(seed: 0)), MixupDraw(lambda: 1, box: nil))
    }

    func testBalancedLabelSubsetIsDeterministicAndBalanced() {
        let labels = (0..<260).map { $0 % 26 }   // 10 per class
        let a = balancedLabelSubset(labels: labels, fraction: 0.1, seed: 3)
        XCTAssertEqual(a, balancedLabelSubset(labels: labels, fraction: 0.1, seed: 3))
        XCTAssertEqual(a.count, 26)
        XCTAssertEqual(Set(a.map { labels[$0] }).count, 26)
        XCTAssertNotEqual(a, balancedLabelSubset(labels: labels, fraction: 0.1, seed: 4))
        // 1 % of 10 rounds to 0: at least one per class.
        XCTAssertEqual(balancedLabelSubset(labels: labels, fraction: 0.01, seed: 0).count, 26)
        XCTAssertEqual(balancedLabelSubset(labels: labels, fraction: 0.5, seed: 0).count, 130)
    }

    func testConfigRejectsBadValuesByKey() throws {
        func fails(_ overrides: [String], _ key: String) {
            XCTAssertThrowsError(try ConfigLoader.decode(FinetuneConfig.self, from: try ConfigLoader.apply(
                overrides: overrides, to: try FinetuneConfig.defaults(under: .object([:]))))) { e in
                XCTAssertTrue("\(e)".contains(key), "\(e)")
            }
        }
        fails(["batch_size=3"], "batch_size")
        fails(["label_fraction=0"], "label_fraction")
        fails(["auto_augment=\"rand-m9\""], "auto_augment")
        fails(["warmup_epochs=200"], "warmup_epochs")
        fails(["mixup.alpha=1"], "alpha")
        // A policy that is not RandAugment's names the way to turn it off, which decodes.
        fails(["auto_augment=none"], "an empty value (`auto_augment=`) turns RandAugment off")
        let off = try ConfigLoader.decode(FinetuneConfig.self, from: try ConfigLoader.apply(
            overrides: ["auto_augment="], to: try FinetuneConfig.defaults(under: .object([:]))))
        XCTAssertEqual(off.autoAugment, "")
    }
}
