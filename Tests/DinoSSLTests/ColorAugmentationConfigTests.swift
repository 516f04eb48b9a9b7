// `crops.hue`, `crops.grayscale_probability`, the other colour keys and `crops.blur_sigma`: read from overrides
// by every method, set on the multi-crop augmentation, the preset's values kept where a key is
// not given, and values outside their ranges refused with the key named.

@testable import DinoSSL
import DinoNN
import DinoVision
import Testing

@Suite struct ColorAugmentationConfigTests {
    static let overrides = ["crops.hue=0.5", "crops.grayscale_probability=1", "crops.color_jitter_probability=0.9",
                            "crops.solarize_probability=0", "crops.blur_sigma=[0.05,0.3]"]

    static func expectApplied(_ m: MultiCropConfig) {
        #expect(m.jitter.hue == 0.5 && m.jitter.probability == 0.9)
        #expect(m.grayscaleProbability == 1 && m.solarizeProbability == 0)
        #expect(m.blur.sigma == [0.05, 0.3])
        // Not given: the preset's.
        #expect(m.jitter.brightness == 0.4 && m.jitter.contrast == 0.4 && m.jitter.saturation == 0.2)
    }

    @Test func everyMethodSetsTheGivenColourDistortions() throws {
        let dino = try ConfigLoader.load(DINOConfig.self, overrides: Self.overrides).resolved(datasetSize: 64)
        Self.expectApplied(DINO.multiCrop(dino))
        let v2 = try ConfigLoader.load(DINOv2Config.self, overrides: Self.overrides).resolved(datasetSize: 64)
        Self.expectApplied(v2.multiCrop)
        let v3 = try ConfigLoader.load(DINOv3Config.self, overrides: Self.overrides).resolved(datasetSize: 64)
        Self.expectApplied(v3.multiCrop)
        // Without the keys every method keeps its preset (DINO's: hue 0.1, grayscale 0.2).
        let plain = DINO.multiCrop(try DINOConfig().resolved(datasetSize: 64))
        #expect(plain.jitter.hue == 0.1 && plain.grayscaleProbability == 0.2 && plain.solarizeProbability == 0.2)
        #expect(plain.blur.sigma == [0.1, 2.0])
    }

    @Test func outOfRangeValuesAreRefusedWithTheirKey() throws {
        for (override, key) in [("crops.hue=0.6", "crops.hue"), ("crops.grayscale_probability=1.5", "crops.grayscale_probability"),
                                ("crops.brightness=-1", "crops.brightness"), ("crops.blur_sigma=[0.5,0.1]", "crops.blur_sigma"),
                                ("crops.blur_sigma=[0,1]", "crops.blur_sigma"), ("crops.blur_sigma=[1]", "crops.blur_sigma")] {
            do {
                try ConfigLoader.load(DINOConfig.self, overrides: [override]).validate()
                Issue.record("\(override) was accepted")
            } catch let ConfigError.invalidValue(path, _) {
                #expect(path == key)
            }
        }
        try DINOConfig().validate()
    }
}
