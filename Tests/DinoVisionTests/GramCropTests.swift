import DinoTensor
import DinoVision
import Testing

/// DINOv3's Gram teacher crops (dinov3/data/augmentations.py): one crop at max(global, gram)
/// pixels, resized to both sizes, before the distortions (`no_distortions`) or after them.
@Suite struct GramCropTests {
    static let image = RGBImage(width: 80, height: 60) { p in for i in 0..<(80 * 60 * 3) { p[i] = UInt8((i * 37 + i / 240) % 251) } }

    static func views(_ gram: MultiCropConfig.GramCrops?, jitter: Double = 0.8, seed: UInt64 = 3) -> MultiCropViews {
        var c = MultiCropConfig.preset(.dinov3, globalSize: 32, localSize: 16, localCount: 2)
        c.gramCrops = gram
        c.jitter.probability = jitter
        return MultiCropAugmentation(c)(image, generator: RandomGenerator(seed: seed))
    }

    @Test func gramCropsOfTheGlobalSizeWithDistortionsAreTheGlobalViews() {
        let plain = Self.views(nil)
        let same = Self.views(.init(size: 32, noDistortions: false))
        #expect(plain.gram.isEmpty && same.gram.count == 2)
        #expect(same.global == plain.global && same.gram == plain.global && same.local == plain.local)
    }

    @Test func largerGramCropsHaveTheirSizeAndDistortionsOnlyWhenShared() {
        for noDistortions in [false, true] {
            let a = Self.views(.init(size: 64, noDistortions: noDistortions), jitter: 0)
            let b = Self.views(.init(size: 64, noDistortions: noDistortions), jitter: 1)
            #expect(a.gram.allSatisfy { $0.width == 64 && $0.height == 64 } && a.gram.count == 2)
            #expect(a.global.allSatisfy { $0.width == 32 && $0.height == 32 })
            // Colour jitter reaches the Gram views only when they share the distortions.
            #expect((a.gram == b.gram) == noDistortions, "no_distortions \(noDistortions)")
            #expect(a.global != b.global)
        }
    }
}
