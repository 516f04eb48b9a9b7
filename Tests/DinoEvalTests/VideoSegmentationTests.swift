import DinoEval
import DinoModels
import DinoTensor
import DinoVision
import Foundation
import Testing

/// Label propagation against DINO's eval_video_segmentation.py and the DAVIS scores against
/// davis2017-evaluation (scripts/make_eval_fixtures.py: propagation.json, davis.json, the
/// DAVIS-2017 fixture davis/ and the predictions davis-results/).
@Suite struct VideoSegmentationTests {
    static func fixture(_ name: String) throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }
    static var davisRoot: String { Bundle.module.url(forResource: "davis", withExtension: nil, subdirectory: "Fixtures")!.path }
    static var resultsRoot: String { Bundle.module.url(forResource: "davis-results", withExtension: nil, subdirectory: "Fixtures")!.path }

    @Test func readsTheDAVIS2017Layout() throws {
        let davis = try DAVISDataset(root: Self.davisRoot)
        #expect(davis.sequences == ["clip000", "clip001"])
        #expect(davis.framesRoot.hasSuffix("JPEGImages/480p"))
        let frames = try davis.frames(of: "clip000")
        #expect(frames.count == 8 && frames[0].hasSuffix("00000.jpg"))
        let a = try DAVISDataset.labels(davis.annotationPath(sequence: "clip000", frame: frames[0]))
        #expect(a.width == 64 && a.height == 64 && Set(a.labels) == [0, 1, 2])   // palette indices, not colours
        #expect(throws: DatasetError.self) { try DAVISDataset(root: Self.davisRoot + "/Annotations") }
    }

    @Test func davisScoresMatchDavis2017Evaluation() throws {
        let f = try Self.fixture("davis")
        let davis = try DAVISDataset(root: Self.davisRoot)
        var objects: [DAVISObjectScores] = []
        for s in davis.sequences {
            let frames = try davis.frames(of: s)
            let truth = try frames.map { try DAVISDataset.labels(davis.annotationPath(sequence: s, frame: $0)).labels }
            let predicted = try frames.map { path -> [UInt8] in
                let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                return try DAVISDataset.labels("\(Self.resultsRoot)/\(s)/\(name).png").labels
            }
            objects += davisSequenceScores(name: s, truth: truth, prediction: predicted, width: 64, height: 64)
        }
        let expected = f["objects"] as! [[String: Any]]
        #expect(objects.map(\.name) == expected.map { $0["name"] as! String })
        for (o, e) in zip(objects, expected) {
            let got = [o.jMean, o.jRecall, o.jDecay, o.fMean, o.fRecall, o.fDecay]
            let want = ["j_mean", "j_recall", "j_decay", "f_mean", "f_recall", "f_decay"].map { (e[$0] as! NSNumber).doubleValue }
            for (g, w) in zip(got, want) { #expect(abs(g - w) < 1e-9, "\(o.name): \(got) vs \(want)") }
        }
        let scores = DAVISScores(objects: objects)
        #expect(abs(scores.jAndF - (f["jf_mean"] as! NSNumber).doubleValue) < 1e-9)
        let stats = davisStatistics([0.9, 0.2, .nan, 0.7, 0.6, 0.4, 0.8])
        let want = (f["statistics_of_0.9_0.2_nan_0.7_0.6_0.4_0.8"] as! [NSNumber]).map(\.doubleValue)
        #expect(abs(stats.mean - want[0]) < 1e-12 && abs(stats.recall - want[1]) < 1e-12 && abs(stats.decay - want[2]) < 1e-12)
    }

    @Test func boundaryFByHand() {
        // A 4×4 square in an 8×8 image against the same square moved one pixel: boundaries within
        // the 1-px tolerance (⌈0.008 · 11.3⌉ = 1), so F = 1; moved three pixels, F < 1.
        func square(_ x0: Int) -> [Bool] { (0..<64).map { p in (2..<6).contains(p / 8) && (x0..<(x0 + 4)).contains(p % 8) } }
        #expect(davisBoundaryF(truth: square(1), prediction: square(2), width: 8, height: 8) == 1)
        #expect(davisBoundaryF(truth: square(0), prediction: square(3), width: 8, height: 8) < 1)
        #expect(davisRegionSimilarity(truth: square(1), prediction: square(1)) == 1)
        #expect(davisRegionSimilarity(truth: [false, false], prediction: [false, false]) == 1)
    }

    @Test func propagationMatchesDINOsEvalVideoSegmentation() throws {
        let f = try Self.fixture("propagation")
        let (size, grid, patch, d, frames) = (f["size"] as! Int, f["grid"] as! Int, f["patch"] as! Int, f["dimensions"] as! Int, f["frames"] as! Int)
        let all = (f["features"] as! [NSNumber]).map(\.floatValue)
        let features = (0..<frames).map { Tensor(Array(all[($0 * grid * grid * d)..<(($0 + 1) * grid * grid * d)]), shape: [grid * grid, d]) }
        let first = (f["first_mask"] as! String).map { UInt8(String($0))! }
        let (oneHot, classes) = patchOneHot(first, width: size, height: size, gridWidth: grid, gridHeight: grid)
        #expect(classes == f["first_one_hot_classes"] as! Int)
        #expect(oneHot == (f["first_one_hot"] as! [NSNumber]).map(\.floatValue))
        var config = LabelPropagationConfig()
        config.queueLength = f["n_last_frames"] as! Int
        config.neighborhood = f["size_mask_neighborhood"] as! Int
        config.topK = f["topk"] as! Int
        let predicted = propagateLabels(features: features, firstLabels: oneHot, classes: classes, grid: (grid, grid),
                                        patchSize: patch, outputSize: (size, size), config: config)
        let expected = (f["predicted"] as! [String]).map { $0.map { UInt8(String($0))! } }
        #expect(predicted.count == expected.count)
        for (t, (p, e)) in zip(predicted, expected).enumerated() {
            let wrong = zip(p, e).filter { $0 != $1 }.count
            #expect(wrong == 0, "frame \(t + 1): \(wrong) of \(e.count) pixels differ")
        }
    }

    @Test func windowScalesToThePatchGrid() {
        #expect(LabelPropagationConfig().radius(gridHeight: 30, gridWidth: 52) == 12)   // 480p, 16-px patches
        #expect(LabelPropagationConfig().radius(gridHeight: 16, gridWidth: 16) == 6)    // 64 px, 4-px patches
        #expect(dinoVideoFrameSize(width: 854, height: 480, shortSide: 480) == (832, 480))
        #expect(dinoVideoMaskSize(width: 854, height: 480, shortSide: 480) == (832, 480))
        #expect(dinoVideoFrameSize(width: 64, height: 64, shortSide: 64) == (64, 64))
    }

    /// Features built from the truth: with 1-px "patches", each pixel's feature is the one-hot code
    /// of its object in that frame's annotation (plus a constant). Propagation (window r = 3) must
    /// then be near perfect: J&F ≥ 0.95, far above copying the first mask. (With 4-px patches the
    /// thin letters of videos-dev cannot be drawn finer than their patches, whatever the features.)
    @Test func propagationOnGroundTruthFeaturesIsNearlyPerfect() throws {
        let davis = try DAVISDataset(root: Self.davisRoot)
        var options = VideoEvaluationOptions()
        options.overlayFrames = 4
        options.propagation.neighborhood = 3
        let patch = 1
        let r = try evaluateVideoPropagation(dataset: davis, patchSize: patch, options: options) { sequence, frames in
            let paths = try davis.frames(of: sequence)
            return try paths.map { path -> Tensor in
                let a = try DAVISDataset.labels(davis.annotationPath(sequence: sequence, frame: path))
                let (gw, gh) = (a.width / patch, a.height / patch)
                var rows: [Float] = []
                for y in 0..<gh {
                    for x in 0..<gw {
                        let l = Int(a.labels[y * a.width + x])
                        var one = [Float](repeating: 0, count: 5)
                        one[Swift.min(l, 3)] = 1
                        one[4] = 0.5
                        rows += one
                    }
                }
                return Tensor(rows, shape: [gw * gh, 5])
            }
        }
        #expect(r.scores.jAndF >= 0.95, "\(r.scores.jAndF) \(r.scores.objects)")
        #expect(r.scores.jAndF > r.copyFirstMask.jAndF + 0.1, "\(r.scores.jAndF) vs copy \(r.copyFirstMask.jAndF)")
        #expect(r.overlays.count == 2 && r.overlays[0].picture.width == 4 * 64 + 3 * 2 && r.overlays[0].picture.height == 2 * 64 + 2)
    }

    /// A ConvNeXt propagates on its final map resized to the pseudo patch grid (8-px patches: 8×8
    /// on the 64-px frames, where its own map is 2×2), normed after the resize as the reference's
    /// `get_intermediate_layers` with `patch_size`; a pseudo patch size on a ViT is refused.
    @Test func aConvNeXtPropagatesOnItsPseudoPatchGrid() throws {
        let convNeXt = try ConvNeXt.load(preset: "test_convnext", weights: nil, seed: 3)
        let davis = try DAVISDataset(root: Self.davisRoot)
        var options = VideoEvaluationOptions()
        options.overlayFrames = 0
        let r = try evaluateVideo(model: convNeXt, patchSize: 8, dataset: davis, options: options)
        var grids: [Int] = []
        let expected = try evaluateVideoPropagation(dataset: davis, patchSize: 8, options: options) { _, frames in
            let x = stackViews(frames, normalization: options.normalization)
            let tokens = withNoGrad { convNeXt.forwardFeatures(x, patchGrid: (8, 8)).patchTokens }
            grids.append(tokens.shape[1])
            return (0..<frames.count).map { tokens.slice(axis: 0, start: $0, end: $0 + 1).reshape([64, 32]) }
        }
        #expect(grids == [64, 64])
        #expect(r.scores.jAndF == expected.scores.jAndF && r.scores.objects.map(\.jMean) == expected.scores.objects.map(\.jMean))
        // Its own stride-32 map (2×2 patches) propagates differently.
        let own = try evaluateVideo(model: convNeXt, dataset: davis, options: options)
        #expect(own.scores.objects.map(\.jMean) != r.scores.objects.map(\.jMean))
        let vit = VisionTransformer(try ModelPresets.config(named: "test_dinov2"), generator: RandomGenerator(seed: 1))
        #expect(throws: EvaluationError.self) { try evaluateVideo(model: vit, patchSize: vit.patchSize * 2, dataset: davis, options: options) }
    }

    @Test func evaluatesABackboneEndToEnd() throws {
        let model = VisionTransformer(try ModelPresets.config(named: "test_dinov2"), generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        var options = VideoEvaluationOptions()
        options.overlayFrames = 0
        let r = try evaluateVideo(model: model, dataset: DAVISDataset(root: Self.davisRoot), options: options)
        #expect(r.scores.objects.count == 4 && r.scores.jAndF.isFinite && r.scores.jAndF > 0)
        #expect(r.overlays.isEmpty)
    }
}
