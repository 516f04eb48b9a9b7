// Fine-tuning a DINOv3 ConvNeXt (`test_convnext`) with a linear head: timm's layer-wise lr decay
// groups (convnext_layer_decay.json, scripts/make_convnext_finetune_fixtures.py), the head's input,
// and a run that trains, exports and reloads.

@testable import DinoEval
import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

@Suite struct FinetuneConvNeXtTests {
    struct LayerDecay: Decodable {
        struct Group: Decodable { let lr_scale: Double; let weight_decay: Double }
        let layer_decay: Double
        let weight_decay: Double
        let groups: [String: Group]
    }

    /// Every parameter's lr scale and weight decay as timm's `param_groups_layer_decay` gives its
    /// ConvNeXt (stem layer 0, one layer per block, the downsampling layer with the next stage's
    /// first block, final norm and head scale 1; no weight decay for 1-D tensors), and the layer ids.
    @Test func layerDecayGroupsMatchTimm() throws {
        let f: LayerDecay = try Fixture.load("convnext_layer_decay")
        let backbone = ConvNeXt(try ConvNeXtPresets.config(named: "test_convnext"))
        #expect(backbone.namedParameters().allSatisfy { $0.1.layerIndex == nil }, "a ConvNeXt has no layer ids until fine-tuning sets them")
        let model = ImageClassifier(backbone: backbone, classes: 5, pooling: .globalPool, generator: RandomGenerator(seed: 0))
        #expect(model.fcNorm == nil)
        var checked = Set<String>()
        for g in model.parameterGroups(layerDecay: f.layer_decay) {
            for name in g.names {
                let e = try #require(f.groups[name], "\(name) is not in timm's groups")
                #expect(abs(g.lrMultiplier - e.lr_scale) < 1e-12, "\(name): \(g.lrMultiplier) vs \(e.lr_scale)")
                #expect(abs(g.weightDecayMultiplier * f.weight_decay - e.weight_decay) < 1e-15, "\(name)")
                checked.insert(name)
            }
        }
        #expect(checked == Set(f.groups.keys))
        let ids = backbone.assignLayerDecayIndices()
        #expect(ids["downsample_layers.0.0.weight"] == 0 && ids["stages.0.0.dwconv.weight"] == 1)
        #expect(ids["downsample_layers.1.1.weight"] == 2 && ids["stages.1.0.gamma"] == 2)
        #expect(ids["stages.2.1.pwconv2.weight"] == 4 && ids["downsample_layers.3.0.bias"] == 5 && ids["norm.weight"] == 6)
    }

    /// The head reads the ConvNeXt's normed global pool (its class token) with either pooling.
    @Test func headReadsTheNormedGlobalPool() throws {
        let backbone = try ConvNeXt.load(preset: "test_convnext", weights: nil, seed: 2)
        let x = Sample.normal([2, 3, 64, 64], seed: 4)
        let expected = withNoGrad { backbone.norm(backbone.forwardMap(x).mean(axes: [1, 2])) }        // (B, 32)
        for pooling in ClassifierPooling.allCases {
            let model = ImageClassifier(backbone: backbone, classes: 3, pooling: pooling, generator: RandomGenerator(seed: 0))
            model.train(false)
            #expect(mismatch(withNoGrad { model.features(x) }, expected, rtol: 1e-5, atol: 1e-6) == nil, "\(pooling)")
        }
    }

    /// A run from random weights on two colours with the automatic recipe (low-shot: LP-FT's
    /// linear-probe head, the class token — a ConvNeXt's normed global pool): trains, scores above
    /// chance, exports a file that loads back as a ConvNeXt classifier giving the same logits.
    @Test func aConvNeXtFinetunesExportsAndReloads() throws {
        let root = try ConvNeXtEvaluationTests.colourFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let c = try FinetuneConfig.load(overrides: ["epochs=2", "batch_size=8"], train: root.appendingPathComponent("train").path)
        #expect(c.recipe == .lowShot && c.headInit == .linear)
        let record = FinetuneRecord(config: c, initialization: .random(model: "test_convnext"),
                                    train: root.appendingPathComponent("train").path, val: root.appendingPathComponent("val").path)
        let dir = root.appendingPathComponent("ft")
        let run = try FinetuneRun(record: record, runDirectory: dir) { o in
            o.progress = false
            o.tensorBoard = false
        }
        #expect(run.model.backbone is ConvNeXt && run.inputSize == 64 && run.linearHead != nil)
        #expect(run.summary.contains("ConvNeXt, 5 blocks in 4 stages"), "\(run.summary)")
        #expect(try run.run() == .completed)
        let acc = try run.evaluate()
        #expect(acc.images == 8 && acc.top1 > 75, "\(acc)")
        let file = try run.export()
        let (loaded, info) = try ImageClassifier.load(from: file)
        #expect(loaded.backbone is ConvNeXt && info.classes == ["blue", "red"])
        run.model.train(false)
        let x = Sample.normal([2, 3, 64, 64], seed: 6)
        #expect(mismatch(withNoGrad { loaded(x) }, withNoGrad { run.model(x) }, rtol: 1e-5, atol: 1e-6) == nil)
    }

    /// A finetune.json written before `--student` existed still reads as the run's default student.
    @Test func recordsWithoutAStudentDecode() throws {
        let old = try JSONDecoder().decode(FinetuneInitialization.self, from: Data(#"{"run":{"_0":"RUN"}}"#.utf8))
        #expect(old == .run("RUN") && old == .run("RUN", student: nil))
        let new = try JSONDecoder().decode(FinetuneInitialization.self, from: JSONEncoder().encode(FinetuneInitialization.run("RUN", student: "s")))
        #expect(new == .run("RUN", student: "s") && new.description == "run RUN (student s)")
    }
}
