import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import Foundation
import Testing

@Suite struct DINOConfigTests {
    @Test func defaultsAreTheReferences() {
        let c = DINOConfig()
        #expect(c.epochs == 100 && c.batchSize == 64 && c.dropPathRate == 0.1 && c.studentTemperature == 0.1)
        #expect(c.head.hiddenDimensions == 2048 && c.head.bottleneckDimensions == 256 && c.head.layers == 3 && c.head.normLastLayer)
        #expect(c.teacher.centerMomentum == 0.9)
        #expect(c.optim.lr == nil && DINOConfig.referenceLearningRate == 0.0005)   // automatic; the reference's by name
        #expect(c.optim.minLR == 1e-6 && c.optim.weightDecay == 0.04 && c.optim.weightDecayEnd == 0.4)
        #expect(c.optim.clipGrad == 3.0 && c.optim.clipMode == .perParameter)
        #expect(c.crops.globalScale == [0.4, 1] && c.crops.localScale == [0.05, 0.4])
    }

    @Test func automaticValuesFollowRunLengthAndDataSize() throws {
        var c = DINOConfig()
        c.model = "vit_nano_patch4"
        c.epochs = 10
        // glyphs-dev: 3900 images, batch 64 → 60 steps per epoch.
        let small = try c.resolved(datasetSize: 3900)
        #expect(small.stepsPerEpoch == 60 && small.totalSteps == 600)
        #expect(small.prototypes == 1024)
        #expect(small.warmupSteps == 60)                       // 10 % of the run, not 10 epochs
        #expect(small.teacherTemperatureWarmupSteps == 180 && !small.teacherTemperaturePerEpoch)   // 30 % of the run
        #expect(small.freezeLastLayerSteps == 60)              // 1 epoch = 10 % here
        #expect(small.globalSize == 32 && small.localSize == 16 && small.localCount == 6)
        // Small sets: DINOv2's √-batch rate, 8× the reference's linear one at batch 64.
        #expect(small.peakLearningRate == 0.001 && small.peakLearningRate == 8 * (0.0005 * 64 / 256))
        #expect(small.model.dropPathRate == 0.1 && small.model.layerScaleInit == 1)
        // Small sets: LightlyTrain's sharper teacher and slower momentum.
        #expect(small.teacherTemperature == 0.02 && small.teacherWarmupTemperature == 0.02 && small.teacherMomentum == 0.99)

        c.epochs = 100
        c.model = "dino_vits16"
        let large = try c.resolved(datasetSize: 50_000)
        #expect(large.prototypes == 4096 && large.warmupSteps == 10 * large.stepsPerEpoch)
        #expect(AutomaticSettings.automaticPrototypes(19_999) == 1024 && AutomaticSettings.automaticPrototypes(20_000) == 2048)
        #expect(AutomaticSettings.automaticPrototypes(AutomaticSettings.imageNetImages) == 65_536)
        #expect(large.teacherTemperatureWarmupSteps == 30 * large.stepsPerEpoch && large.teacherTemperaturePerEpoch)
        #expect(large.freezeLastLayerSteps == large.stepsPerEpoch)
        #expect(large.globalSize == 224 && large.localSize == 96 && large.localCount == 8)
        #expect(large.teacherTemperature == 0.02 && large.teacherMomentum == 0.99)   // 50 000 images: barely above 20 000
        let imageNet = try c.resolved(datasetSize: AutomaticSettings.imageNetImages)
        // ImageNet: the reference's values.
        #expect(imageNet.teacherTemperature == 0.07 && imageNet.teacherWarmupTemperature == 0.04 && imageNet.teacherMomentum == 0.996)
        let mid = try c.resolved(datasetSize: 660_000)
        #expect(mid.teacherTemperature == 0.05 && mid.teacherWarmupTemperature == 0.03 && mid.teacherMomentum == 0.993)
        // The learning rate (batch 64): DINOv2's 0.001 on small data, the reference's 1.25e-4 at
        // ImageNet size, linear in the data set size between them.
        func between(_ images: Int) -> Double {
            let t = Double(images - 20_000) / Double(AutomaticSettings.imageNetImages - 20_000)
            return 0.001 + t * (0.0005 * 64 / 256 - 0.001)
        }
        #expect(Swift.abs(large.peakLearningRate - between(50_000)) < 1e-15 && large.peakLearningRate > 0.00097)
        #expect(Swift.abs(mid.peakLearningRate - between(660_000)) < 1e-15)
        #expect(imageNet.peakLearningRate == 0.0005 * 64 / 256)
        c.batchSize = 256
        let batch256 = try c.resolved(datasetSize: 3900).peakLearningRate
        #expect(batch256 == 0.002)                                                   // 0.004 · √(256/1024)
        c.recipe = .reference
        let reference = try c.resolved(datasetSize: 3900).peakLearningRate
        #expect(reference == 0.0005)                                                 // the reference's, whatever the data
        c.recipe = .auto
        c.batchSize = 64

        // Explicit values win.
        c.head.prototypes = 4096
        c.optim.warmupEpochs = 0.5
        c.teacher.warmupTemperatureEpochs = 0
        c.optim.lr = 0.0005
        let explicit = try c.resolved(datasetSize: 50_000)
        #expect(explicit.peakLearningRate == 0.0005 * 64 / 256)
        #expect(explicit.prototypes == 4096 && explicit.warmupSteps == Int((0.5 * Double(explicit.stepsPerEpoch)).rounded()))
        #expect(explicit.teacherTemperatureWarmupSteps == 0 && explicit.teacherTemperaturePerEpoch)
    }

    @Test func schedulesHaveTheReferenceShapes() throws {
        var c = DINOConfig()
        c.model = "vit_nano_patch4"
        c.epochs = 10
        c.teacher.warmupTemperatureEpochs = 3
        c.teacher.temperature = 0.07
        c.teacher.warmupTemperature = 0.04
        c.teacher.momentum = 0.996
        let r = try c.resolved(datasetSize: 640)          // 10 steps per epoch, 100 in all
        let s = r.schedules
        let lr = s[ScheduleValues.learningRate]!, temp = s[ScheduleValues.teacherTemperature]!
        #expect(lr.value(at: 0) == 0 && lr.value(at: r.warmupSteps - 1) == r.peakLearningRate)
        #expect(lr.value(at: 99) < 1e-5 && lr.value(at: 99) > 1e-6)
        #expect(temp.value(at: 0) == 0.04 && temp.value(at: 9) == 0.04)        // per epoch
        #expect(Swift.abs(temp.value(at: 10) - 0.055) < 1e-12)                  // linspace(0.04, 0.07, 3)[1]
        #expect(temp.value(at: 20) == 0.07 && temp.value(at: 99) == 0.07)
        // Automatic: 30 % of the run, per step.
        c.teacher.warmupTemperatureEpochs = nil
        let auto = try c.resolved(datasetSize: 640).schedules[ScheduleValues.teacherTemperature]!
        #expect(auto.value(at: 0) == 0.04 && auto.value(at: 1) > 0.04 && auto.value(at: 29) == 0.07 && auto.value(at: 30) == 0.07)
        #expect(s[ScheduleValues.teacherMomentum]!.value(at: 0) == 0.996)
        #expect(Swift.abs(s[ScheduleValues.weightDecay]!.value(at: 0) - 0.04) < 1e-15)
    }

    /// A run recorded before the learning rate was automatic holds the reference's 0.0005 in its
    /// config.json and keeps it when it resumes; a config without `lr` takes the automatic one.
    @Test func recordedLearningRateIsKeptAndAMissingOneIsAutomatic() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dino-lr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = dir.appendingPathComponent("old.json"), new = dir.appendingPathComponent("new.json")
        try #"{"model": "vit_nano_patch4", "optim": {"lr": 0.0005}}"#.write(to: old, atomically: true, encoding: .utf8)
        try #"{"model": "vit_nano_patch4", "optim": {"min_lr": 1e-6}}"#.write(to: new, atomically: true, encoding: .utf8)
        let recorded = try ConfigLoader.load(DINOConfig.self, file: old)
        let recordedPeak = try recorded.resolved(datasetSize: 3900).peakLearningRate
        #expect(recorded.optim.lr == 0.0005 && recordedPeak == 0.0005 * 64 / 256)
        let automatic = try ConfigLoader.load(DINOConfig.self, file: new)
        let automaticPeak = try automatic.resolved(datasetSize: 3900).peakLearningRate
        #expect(automatic.optim.lr == nil && automaticPeak == 0.001)
        #expect(try ConfigLoader.load(DINOConfig.self, overrides: ["optim.lr=0.002"]).optim.lr == 0.002)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(DINOConfig.self, overrides: ["optim.lr=0"]).resolved(datasetSize: 3900) }
    }

    @Test func badValuesAndUnknownKeysAreNamed() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(DINOConfig.self, overrides: ["head.protoypes=10"]) }
        do {
            _ = try ConfigLoader.load(DINOConfig.self, overrides: ["teacher.temprature=0.05"])
        } catch let e as ConfigError {
            #expect(e.description.contains("teacher") && e.description.contains("warmup_temperature"))
        } catch { Issue.record("\(error)") }
        var c = DINOConfig()
        c.crops.localSize = 15
        c.model = "vit_nano_patch4"
        #expect(throws: ConfigError.invalidValue(path: "crops.local_size", message: "15 px is not a whole number of 4-px patches")) {
            try c.resolved(datasetSize: 1000)
        }
        c.crops.localSize = nil
        c.model = "vit_huge"
        #expect(throws: ConfigError.self) { try c.resolved(datasetSize: 1000) }
        c.model = "vit_nano_patch4"
        #expect(throws: ConfigError.self) { try c.resolved(datasetSize: 10) }   // smaller than a batch
    }
}

/// DINO's default model is DINO's own ViT at 32 px: no LayerScale, no mask token, and a class
/// token drawn from trunc-normal(0.02) (dino/vision_transformer.py), not DINOv2's N(0, 1e-6²).
@Suite struct DINODefaultModelTests {
    @Test func defaultModelIsDINOsViT() throws {
        let r = try DINOConfig().resolved(datasetSize: 3900)
        #expect(DINOConfig().model == "dino_vit_tiny_patch4")
        #expect(r.model.family == .dino && r.model.layerScaleInit == nil && !r.model.maskToken)
        #expect(r.model.embedDimensions == 192 && r.model.depth == 12 && r.model.imageSize == 32 && r.model.patchSize == 4)
        let vit = VisionTransformer(r.model)
        #expect(!vit.namedTensors().contains { $0.0.contains(".ls1.") || $0.0 == "mask_token" })
        vit.initializeWeights(generator: RandomGenerator(seed: 0))
        let cls = vit.classToken.value.scalars.map(Double.init)
        let std = (cls.map { $0 * $0 }.reduce(0, +) / Double(cls.count)).squareRoot()
        #expect(std > 0.015 && std < 0.025, "class token std \(std): trunc-normal(0.02) on [-2, 2] (timm's absolute bounds) has 0.02; N(0, 1e-6²) would give 1e-6")
    }
}
