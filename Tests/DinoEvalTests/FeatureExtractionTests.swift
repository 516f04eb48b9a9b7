import DinoEval
import DinoModels
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

private let glyphsMini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("data/glyphs-mini")

@Suite struct FeatureExtractionTests {
    @Test func featuresOfALabelledFolderInOrder() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"))
        model.initializeWeights(generator: RandomGenerator(seed: 1))
        let val = try ImageFileDataset.imageFolder(glyphsMini.appendingPathComponent("val").path)
        let extractor = FeatureExtractor(model: model, transform: .forInput(size: 32), batchSize: 50, workers: 2)
        var calls = 0
        let f = extractor.extract(val, kind: .cls) { _, _ in calls += 1 }
        #expect(f.features.shape == [156, 32] && f.labels.count == 156 && f.skipped == 0 && calls == 4)
        #expect(f.labels == (0..<156).map { val.label(at: $0)! })
        #expect(f.classes.count == 26 && f.classes.first == "A")
        // The same as a forward pass of the first image alone.
        let first = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: val.path(at: 0)))
        let alone = withNoGrad { model(ImageNormalization.imageNet.tensor(first).unsqueeze(0)) }
        #expect(mismatch(alone.scalars, Array(f.features.scalars[0..<32]), rtol: 1e-4, atol: 1e-5) == nil)
        for kind in FeatureKind.allCases {
            let batch = extractor.features(Sample.normal([2, 3, 32, 32], seed: 3), kind: kind)
            #expect(batch.shape == [2, kind.dimensions(embedDimensions: 32, depth: 2)])
        }
        #expect(model.training)   // restored
    }

    @Test func evaluationViewResizesAndCrops() {
        let image = RGBImage(width: 300, height: 200, red: 10, green: 20, blue: 30)
        let big = EvaluationTransform.forInput(size: 224)
        #expect(big.resizeSize == 256)
        let v = big.view(image)
        #expect(v.width == 224 && v.height == 224 && v[0, 0] == (10, 20, 30))
        let small = EvaluationTransform.forInput(size: 32)
        #expect(small.resizeSize == 32)
        let same = RGBImage(width: 32, height: 32) { p in for i in 0..<(32 * 32 * 3) { p[i] = UInt8(i % 251) } }
        #expect(small.view(same) == same)
        let w = small.view(RGBImage(width: 40, height: 32, red: 1, green: 2, blue: 3))
        #expect(w.width == 32 && w.height == 32)
    }
}
