@testable import DinoEval
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// Linearly separable data: class c around a random centre, plus noise.
private func blobs(classes: Int, perClass: Int, dim: Int, noise: Double, seed: UInt64) -> (Tensor, [Int]) {
    let centres = Sample.normal([classes, dim], seed: seed) * 3
    let labels = (0..<(classes * perClass)).map { $0 % classes }
    let x = centres.indexSelect(axis: 0, indices: labels) + Sample.normal([labels.count, dim], seed: seed + 1) * noise
    return (x, labels)
}

@Suite struct LinearProbeTests {
    @Test func learnsSeparableClassesAndChoosesARate() {
        let (train, trainY) = blobs(classes: 4, perClass: 40, dim: 8, noise: 0.5, seed: 10)
        let (val, valY) = blobs(classes: 4, perClass: 10, dim: 8, noise: 0.5, seed: 10)
        var options = LinearProbeOptions()
        options.epochs = 15
        options.batchSize = 32
        options.learningRates = [1e-4, 1]
        var calls: [(Int, Int)] = []
        let probe = LinearProbe(options: options) { done, total, _ in calls.append((done, total)) }
        let result = probe.run(trainFeatures: train, trainLabels: trainY, evalFeatures: val, evalLabels: valY, classes: 4)
        #expect(result.sweep.count == 2)
        #expect(result.learningRate == 1)   // 1e-4 barely moves weights of scale 0.01 in 15 epochs
        #expect(result.sweep[0].heldOut.top1 < result.sweep[1].heldOut.top1)
        #expect(result.accuracy.top1 >= 95)
        #expect(result.accuracy.top5 == 100)
        #expect(calls.count == 45 && calls.last! == (45, 45))
    }

    @Test func accuracyCountsRanksLikeTopK() {
        // Logits: identity weight on 3 classes, so logits = features.
        let clf = LinearClassifier(weight: Tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], shape: [3, 3]), bias: Tensor.zeros([3]))
        let x = Tensor([0.9, 0.1, 0.0,   0.2, 0.3, 0.5,   0.5, 0.5, 0.0], shape: [3, 3])
        let a = clf.accuracy(features: x, labels: [0, 1, 1])
        // Row 0 right; row 1 ranks class 1 second; row 2 ties 0 and 1, class 0 first by index.
        #expect(mismatch([Float(a.top1)], [100.0 / 3], rtol: 1e-6) == nil)
        #expect(a.top5 == 100)
    }

    @Test func trainingIsReproducible() {
        let (x, y) = blobs(classes: 3, perClass: 12, dim: 5, noise: 1, seed: 3)
        var options = LinearProbeOptions()
        options.epochs = 3
        options.batchSize = 8
        let a = LinearProbe(options: options).train(features: x, labels: y, classes: 3, learningRate: 0.1)
        let b = LinearProbe(options: options).train(features: x, labels: y, classes: 3, learningRate: 0.1)
        #expect(a.weight.scalars == b.weight.scalars && a.bias.scalars == b.bias.scalars)
        var adam = options
        adam.optimizer = .adamw
        let c = LinearProbe(options: adam).train(features: x, labels: y, classes: 3, learningRate: 0.1)
        #expect(c.weight.scalars != a.weight.scalars)
    }
}
