import DinoEval
import DinoModels
import DinoTensor
import DinoVision
import Foundation
import Testing

/// The depth evaluation on the committed NYU-style fixture (Fixtures/depth-nyu: 4 train and 2 val
/// scenes of scenes-dev with their 16-bit millimetre depth PNGs).
@Suite struct DepthEvaluationTests {
    static var root: String { Bundle.module.url(forResource: "depth-nyu", withExtension: nil, subdirectory: "Fixtures")!.path }

    static func maps(_ split: String) throws -> DepthMaps {
        try DepthMaps(images: ImageFileDataset.imageFolder("\(root)/images/\(split)"), depthRoot: "\(root)/depth")
    }

    @Test func readsSixteenBitMillimetresAsPILDoes() throws {
        let url = try #require(Bundle.module.url(forResource: "depth_layout", withExtension: "json", subdirectory: "Fixtures"))
        let record = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [String: Any]])
        for split in ["train", "val"] {
            let maps = try Self.maps(split)
            for i in 0..<maps.images.count {
                let name = ((maps.images.path(at: i) as NSString).lastPathComponent as NSString).deletingPathExtension
                let r = try #require(record["\(split)/\(name)"])
                let shape = (r["shape"] as! [NSNumber]).map(\.intValue)
                let d = try maps.depth(at: i, width: shape[1], height: shape[0])
                let mm = d.map { Int(($0 * 1000).rounded()) }
                #expect(mm.reduce(0, +) == (r["sum_mm"] as! NSNumber).intValue, "\(split)/\(name)")
                #expect(mm.min() == (r["min_mm"] as! NSNumber).intValue && mm.max() == (r["max_mm"] as! NSNumber).intValue)
                #expect(Array(mm.prefix(shape[1])) == (r["first_row_mm"] as! [NSNumber]).map(\.intValue))
            }
        }
    }

    @Test func missingDepthMapIsNamed() throws {
        let images = try ImageFileDataset.imageFolder("\(Self.root)/images/train")
        let maps = try DepthMaps(images: images, depthRoot: "\(Self.root)/depth/val")   // the val mirror: train names absent
        #expect(throws: ImageDecodingError.self) { try maps.depth(at: 0, width: 8, height: 8) }
        do { _ = try maps.depth(at: 0, width: 8, height: 8) } catch {
            #expect("\(error)".contains("train00000.png") && "\(error)".contains("no depth map"))
        }
        #expect(throws: DatasetError.self) { try DepthMaps(images: images, depthRoot: "\(Self.root)/nowhere") }
    }

    /// Tokens built from the truth: the depth maps sampled to 32 px, each pixel's token the one-hot
    /// code (scaled by 100, a confident feature) of its log-depth among 48 log-spaced buckets over
    /// 1–16 m (ratio 1.06 between buckets). The linear head (DINOv2's lin.1 without class token,
    /// 256 bins over 0.001–16 m, no upsampling: the tokens are per pixel) trained on these
    /// tokens must then read the depth back almost perfectly: δ1 ≥ 0.95. (A capacity check of the
    /// head, its loss and its training: trained and scored on the two val images, to keep it short.)
    @Test func probeOnGroundTruthTokensIsNearlyPerfect() throws {
        let size = 32, patch = 1, grid = 32, codes = 48
        func tokens(_ maps: DepthMaps) throws -> DepthFeatures {
            var depths: [Float] = [], rows: [Float] = []
            for i in 0..<maps.images.count {
                let d = try maps.depth(at: i, width: size, height: size)
                depths += d
                for py in 0..<grid {
                    for px in 0..<grid {
                        var s = 0.0
                        for y in 0..<patch { for x in 0..<patch { s += log(Double(d[(py * patch + y) * size + px * patch + x])) } }
                        let z = (s / Double(patch * patch)) / log(16.0)
                        var one = [Float](repeating: 0, count: codes)
                        one[Swift.min(codes - 1, Swift.max(0, Int(z * Double(codes))))] = 100
                        rows += one
                    }
                }
            }
            let n = maps.images.count
            return DepthFeatures(patchTokens: [Tensor(rows, shape: [n, grid, grid, codes])], classTokens: [], depths: depths,
                                 height: size, width: size)
        }
        let train = try tokens(Self.maps("train")), val = try tokens(Self.maps("val"))
        var head = DepthHeadConfig.dinov2(layers: 1)
        head.useClassToken = false
        head.upsample = 1
        head.maxDepth = 16
        var probe = DepthProbeConfig()
        probe.epochs = 50
        probe.batchSize = 2
        probe.learningRate = 0.03
        probe.warmUpFraction = 0.1
        probe.sigLossWarmUpIterations = 3
        let trained = trainDepthProbe(val, head: head, config: probe)
        let m = evaluateDepthProbe(trained, on: val)
        #expect(m.delta1 >= 0.95, "\(m)")
        let (_, baseline) = meanDepthBaseline(trainDepths: train.depths, val: val.depths, pixelsPerImage: size * size, maxDepth: 16)
        #expect(m.rmse < 0.5 * baseline.rmse, "\(m) vs mean depth \(baseline)")
    }

    @Test func meanDepthMapBaselineKnowsOnlyWhereAPixelIs() {
        // Depth that depends on the row only (a tilted ground): the per-pixel mean map predicts it
        // exactly, the single mean does not; an invalid pixel in every training image falls back
        // to the overall mean.
        let (side, per) = (4, 16)
        func image(_ shift: Float) -> [Float] { (0..<per).map { Float(2 + $0 / side) + shift } }
        var train = image(0) + image(0) + image(0)
        for i in 0..<3 { train[i * per + 5] = 0 }                                   // pixel 5 never valid
        let val = image(0)
        let map = meanDepthMapBaseline(trainDepths: train, val: val, pixelsPerImage: per, maxDepth: 16)
        let (mean, constant) = meanDepthBaseline(trainDepths: train, val: val, pixelsPerImage: per, maxDepth: 16)
        // Pixel 5 (row 1, depth 3) is predicted as the overall mean; every other pixel exactly.
        let expectedRMSE = Double((Float(3) - Float(mean)).magnitude) / Double(per).squareRoot()
        #expect(abs(map.rmse - expectedRMSE) < 1e-5, "\(map.rmse) vs \(expectedRMSE)")
        #expect(constant.rmse > 1 && map.rmse < 0.5 * constant.rmse)
    }

    @Test func evaluatesABackboneEndToEndWithAPicture() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"), generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        var options = DepthEvaluationOptions()
        options.imageSize = 32
        options.head = .dinov2(layers: 1)
        options.head.maxDepth = 16
        options.probe.epochs = 2
        options.probe.batchSize = 2
        options.pictureCount = 2
        let r = evaluateDepth(model: model, train: try Self.maps("train"), val: try Self.maps("val"), options: options)
        #expect(r.trainCount == 4 && r.valCount == 2)
        #expect(r.metrics.rmse.isFinite && r.metrics.rmse > 0 && r.baseline.rmse > 0 && r.mapBaseline.rmse > 0)
        #expect(r.trainMeanDepth > 1 && r.trainMeanDepth < 16)
        let picture = try #require(r.picture)
        #expect(picture.width == 3 * 32 + 2 * 2 && picture.height == 2 * 32 + 2)
        // DINOv3's variant (batch norm, backbone norm, no class token) runs on the same data.
        options.head = .dinov3()
        options.head.maxDepth = 16
        let v3 = evaluateDepth(model: model, train: try Self.maps("train"), val: try Self.maps("val"), options: options)
        #expect(v3.metrics.rmse.isFinite)
    }
}
