import DinoEval
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// Bilinear resizing, segmentation scores and the linear segmentation probe.
@Suite struct SegmentationProbeTests {
    @Test func resizeMatricesFollowPyTorchsHalfPixelConvention() {
        // Upsampling 2 → 4 reads positions −¼ (clamped to 0), ¼, ¾, 1¼ (the edge repeated).
        let up = linearResizeMatrix(from: 2, to: 4, dtype: .float64).doubles
        #expect(up == [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1])
        // Downsampling 4 → 2 reads positions ½ and 2½: means of neighbour pairs.
        let down = linearResizeMatrix(from: 4, to: 2, dtype: .float64).doubles
        #expect(down == [0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5])
        #expect(linearResizeMatrix(from: 3, to: 3, dtype: .float64).doubles == [1, 0, 0, 0, 1, 0, 0, 0, 1])
    }

    @Test func resizeBilinearMatchesAPlainLoop() {
        let x = RandomGenerator(seed: 1).normal([2, 3, 3, 5], dtype: .float64)
        let y = resizeBilinear(x, height: 7, width: 4)
        #expect(y.shape == [2, 3, 7, 4])
        func source(_ i: Int, _ n: Int, _ m: Int) -> (Int, Int, Double) {
            let s = Swift.max((Double(i) + 0.5) * Double(n) / Double(m) - 0.5, 0)
            let i0 = Swift.min(Int(s), n - 1)
            return (i0, Swift.min(i0 + 1, n - 1), s - Double(i0))
        }
        let xs = x.doubles, ys = y.doubles
        var worst = 0.0
        for b in 0..<2 { for c in 0..<3 { for i in 0..<7 { for j in 0..<4 {
            let (y0, y1, ly) = source(i, 3, 7), (x0, x1, lx) = source(j, 5, 4)
            func at(_ r: Int, _ q: Int) -> Double { xs[((b * 3 + c) * 3 + r) * 5 + q] }
            let expected = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1))
            worst = Swift.max(worst, abs(ys[((b * 3 + c) * 7 + i) * 4 + j] - expected))
        } } } }
        #expect(worst < 1e-12)
    }

    @Test func pixelLogitsResizedChannelsLastMatchTheChannelsFirstResize() {
        // pixelLogits resizes (N, h, w, C) logits without transposing them; the numbers must be
        // those of resizing the head's (N, C, h, w) logits, as mmseg's `resize` does.
        let head = LinearSegmentationHead(dimensions: 6, classes: 4, generator: RandomGenerator(seed: 3))
        head.bias.copyIn(RandomGenerator(seed: 4).normal([4]))
        let x = RandomGenerator(seed: 5).normal([2, 3, 5, 6])
        let a = head.pixelLogits(x, height: 7, width: 11, training: false)
        let b = resizeBilinear(head.logits(x, training: false), height: 7, width: 11).permute([0, 2, 3, 1]).contiguous().reshape([-1, 4])
        #expect(a.shape == [2 * 7 * 11, 4] && a.shape == b.shape)
        let worst = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst < 1e-6, "\(worst)")
    }

    @Test func resizeBilinearGradientCheck() {
        let x = RandomGenerator(seed: 2).normal([1, 2, 3, 2], dtype: .float64)
        #expect(gradientMismatch([x]) { resizeBilinear($0[0], height: 5, width: 4) } == nil)
    }

    @Test func scoresByHand() {
        var m = ConfusionMatrix(classes: 3)
        // labels    0 0 0 1 1 2 255
        // predicted 0 0 1 1 2 2 0
        m.add(predictions: [0, 0, 1, 1, 2, 2, 0], labels: [0, 0, 0, 1, 1, 2, 255])
        let s = m.scores
        // IoU: class 0 = 2/3, class 1 = 1/3 (∩ 1, ∪ {2,3,4}), class 2 = 1/2 (∩ 1, ∪ {4,5}).
        #expect(abs(s.classIoU[0]! - 200.0 / 3) < 1e-9)
        #expect(abs(s.classIoU[1]! - 100.0 / 3) < 1e-9)
        #expect(abs(s.classIoU[2]! - 50) < 1e-9)
        #expect(abs(s.miou - (200.0 / 3 + 100.0 / 3 + 50) / 3) < 1e-9)
        #expect(abs(s.pixelAccuracy - 400.0 / 6) < 1e-9)
        // A class neither labelled nor predicted is left out of the mean.
        var n = ConfusionMatrix(classes: 4)
        n.add(predictions: [0, 1], labels: [0, 1])
        #expect(n.scores.classIoU[2] == nil && n.scores.miou == 100)
        let json = String(decoding: try! JSONEncoder().encode(s), as: UTF8.self)
        #expect(json.contains("\"pixel_accuracy\"") && json.contains("\"miou\""))
    }

    /// Patch features that carry the class of their patch linearly (plus noise and an offset that
    /// batch norm removes); labels at twice the grid resolution.
    static func synthetic(images: Int, seed: UInt64) -> SegmentationFeatures {
        let (h, w, d, classes) = (4, 4, 6, 3)
        let g = RandomGenerator(seed: seed)
        let noise = g.normal([images, h, w, d]).scalars
        let classOf = g.uniform([images, h, w]).scalars.map { Swift.min(Int($0 * Float(classes)), classes - 1) }
        var features = [Float](repeating: 0, count: images * h * w * d)
        var labels: [Int] = []
        for i in 0..<images {
            for p in 0..<(h * w) {
                let c = classOf[i * h * w + p]
                for k in 0..<d {
                    let o = (i * h * w + p) * d + k
                    features[o] = 5 + 0.3 * noise[o] + (k == c ? 2 : 0)
                }
            }
            for y in 0..<(2 * h) { for x in 0..<(2 * w) { labels.append(classOf[i * h * w + (y / 2) * w + x / 2]) } }
        }
        return SegmentationFeatures(features: Tensor(features, shape: [images, h, w, d]), labels: labels, height: 2 * h, width: 2 * w)
    }

    @Test func probeLearnsLinearlyEncodedClasses() {
        let train = Self.synthetic(images: 48, seed: 3), val = Self.synthetic(images: 16, seed: 4)
        var config = SegmentationProbeConfig()
        config.epochs = 15
        config.batchSize = 8
        config.learningRate = 3e-2
        var losses: [Double] = []
        let head = trainSegmentationProbe(train, classes: 3, config: config) { _, loss in losses.append(loss) }
        #expect(losses.last! < losses.first! * 0.5, "\(losses)")
        let scores = evaluateSegmentationProbe(head, on: val)
        // Block edges are upsampled smoothly, so a few border pixels may flip; the rest is right.
        #expect(scores.pixelAccuracy > 85, "\(scores)")
        #expect(scores.miou > 75, "\(scores)")
        // Batch norm's running mean has moved to the feature mean: 5 + 2/3 on the class
        // channels 0..<3, 5 on the others.
        let mean = head.runningMean.scalars
        #expect(mean.enumerated().allSatisfy { abs($0.element - ($0.offset < 3 ? 5.67 : 5)) < 0.2 }, "\(mean)")
    }

    /// The probe's fused loss (crossEntropy with an ignore index) trains the same head, bit for
    /// bit, as the loop it replaced: the kept pixels' logits copied by indexSelect, then
    /// crossEntropy; with ignored (255) and out-of-range (7) labels, and a last short batch.
    @Test func fusedIgnoreIndexLossTrainsTheSameHeadAsTheKeptRowsCopy() {
        let base = Self.synthetic(images: 12, seed: 6)
        let train = SegmentationFeatures(features: base.features,
                                         labels: base.labels.enumerated().map { $0.offset % 5 == 0 ? 255 : $0.offset % 7 == 3 ? 7 : $0.element },
                                         height: base.height, width: base.width)
        var config = SegmentationProbeConfig()
        config.epochs = 2
        config.batchSize = 5
        config.learningRate = 3e-2
        let fused = trainSegmentationProbe(train, classes: 3, config: config)
        // The former loop of trainSegmentationProbe.
        let generator = RandomGenerator(seed: config.seed)
        let head = LinearSegmentationHead(dimensions: 6, classes: 3, momentum: config.batchNormMomentum,
                                          eps: config.batchNormEps, generator: generator.fork(0))
        let named = head.namedParameters
        let optimizer = AdamW(groups: [ParameterGroup(role: "segmentation_head", parameters: named.map(\.1), names: named.map(\.0))])
        let steps = (train.count + config.batchSize - 1) / config.batchSize
        var iteration = 0
        for epoch in 0..<config.epochs {
            let order = generator.fork(UInt64(epoch + 1)).permutation(train.count)
            for s in 0..<steps {
                let (features, labels) = train.subset(Array(order[(s * config.batchSize)..<min((s + 1) * config.batchSize, train.count)]))
                let keep = labels.indices.filter { labels[$0] != 255 && labels[$0] >= 0 && labels[$0] < 3 }
                iteration += 1
                for (_, p) in named { p.zeroGrad() }
                let logits = head.pixelLogits(features, height: train.height, width: train.width, training: true)
                Tensor.crossEntropy(logits: logits.indexSelect(axis: 0, indices: keep), labels: keep.map { labels[$0] }).backward()
                optimizer.step(learningRate: config.learningRate * (1 - Double(iteration - 1) / Double(steps * config.epochs)),
                               weightDecay: config.weightDecay)
            }
        }
        for ((name, a), (_, b)) in zip(fused.namedParameters, head.namedParameters) {
            #expect(a.scalars == b.scalars, "\(name) differs")
        }
        #expect(fused.runningMean.scalars == head.runningMean.scalars && fused.runningVariance.scalars == head.runningVariance.scalars)
    }

    @Test func ignoredPixelsLeaveScoresAlone() {
        let set = Self.synthetic(images: 4, seed: 5)
        let head = LinearSegmentationHead(dimensions: 6, classes: 3, generator: RandomGenerator(seed: 1))
        let all = evaluateSegmentationProbe(head, on: set)
        let masked = SegmentationFeatures(features: set.features, labels: set.labels.enumerated().map { $0.offset % 2 == 0 ? 255 : $0.element },
                                          height: set.height, width: set.width)
        var m = ConfusionMatrix(classes: 3)
        let predictions = head.predict(set.features, height: set.height, width: set.width)
        m.add(predictions: predictions.enumerated().filter { $0.offset % 2 == 1 }.map(\.element),
              labels: set.labels.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        #expect(evaluateSegmentationProbe(head, on: masked) == m.scores)
        #expect(all.classIoU.count == 3)
    }
}
