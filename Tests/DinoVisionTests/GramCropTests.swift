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

/// DINOv3's `share_color_jitter` and `localcrops_subset_of_globalcrops`.
@Suite struct DINOv3CropOptionTests {
    static func isGray(_ v: RGBImage) -> Bool {
        let p = v.pixels
        for i in stride(from: 0, to: p.count, by: 3) where p[i] != p[i + 1] || p[i + 1] != p[i + 2] { return false }
        return true
    }

    @Test func sharedColourJitterIsOneDrawPerImage() {
        func grayness(shared: Bool, seed: UInt64) -> [Bool] {
            var c = MultiCropConfig.preset(.dinov3, globalSize: 32, localSize: 16, localCount: 2)
            c.shareColorJitter = shared
            c.grayscaleProbability = 0.5
            let v = MultiCropAugmentation(c)(GramCropTests.image, generator: RandomGenerator(seed: seed))
            return (v.global + v.local).map(Self.isGray)
        }
        #expect((0..<16).allSatisfy { Set(grayness(shared: true, seed: $0)).count == 1 })
        #expect((0..<16).contains { Set(grayness(shared: false, seed: $0)).count == 2 })
    }

    @Test func localViewsAreWholePatchWindowsOfTheGlobalViews() {
        var c = MultiCropConfig.preset(.dinov3, globalSize: 32, localSize: 16, localCount: 4)
        c.localCropsFromGlobalCrops = 4
        c.jitter.probability = 0
        c.grayscaleProbability = 0
        c.solarizeProbability = 0
        c.blur = .init(probabilities: [0, 0, 0])
        for seed in 0..<4 {
            let v = MultiCropAugmentation(c)(GramCropTests.image, generator: RandomGenerator(seed: UInt64(seed)))
            #expect(v.local.count == 4 && v.local.allSatisfy { $0.width == 16 && $0.height == 16 })
            for (k, local) in v.local.enumerated() {
                let global = v.global[k < 2 ? 0 : 1]
                // Offsets randint(0, (32 − 16) / 4) · 4: 0, 4, 8 or 12 (never 16).
                let found = (0..<4).contains { top in (0..<4).contains { left in
                    global.cropped(top: 4 * top, left: 4 * left, height: 16, width: 16) == local } }
                #expect(found, "seed \(seed), local view \(k)")
            }
        }
    }
}
