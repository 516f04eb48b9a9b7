import DinoTensor
import DinoVision
import Foundation
import Testing

/// Statistics of the random transforms and the multi-crop presets.
@Suite struct RandomTransformTests {
    @Test func randomResizedCropParametersFollowTorchvisionsDistribution() {
        let g = RandomGenerator(seed: 11)
        let (width, height) = (500, 375)
        let scale = [0.32, 1.0], ratio = [3.0 / 4.0, 4.0 / 3.0]
        var areas: [Double] = [], logRatios: [Double] = []
        for _ in 0..<4000 {
            let b = RandomResizedCrop.parameters(width: width, height: height, scale: scale, ratio: ratio, generator: g)
            #expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= height && b.left + b.width <= width)
            areas.append(Double(b.width * b.height) / Double(width * height))
            logRatios.append(log(Double(b.width) / Double(b.height)))
        }
        // Rounding to integers widens the ranges by at most a pixel's worth.
        #expect(areas.min()! >= 0.31 && areas.max()! <= 1.0)
        #expect(logRatios.allSatisfy { abs($0) <= log(4.0 / 3.0) + 0.01 })
        // Boxes that do not fit are redrawn, so the area distribution is U(0.32, 1) cut where
        // the box overflows: its mean lies below the unconstrained 0.66, well above 0.32.
        let mean = areas.reduce(0, +) / Double(areas.count)
        #expect(mean > 0.5 && mean < 0.66, "mean area fraction \(mean)")
        // Small scales always fit: the area is uniform in [0.05, 0.32].
        var small: [Double] = []
        for _ in 0..<4000 {
            let b = RandomResizedCrop.parameters(width: width, height: height, scale: [0.05, 0.32], ratio: ratio, generator: g)
            small.append(Double(b.width * b.height) / Double(width * height))
        }
        let smallMean = small.reduce(0, +) / Double(small.count)
        #expect(abs(smallMean - 0.185) < 0.01, "mean \(smallMean)")
        let lowQuarter = Double(small.filter { $0 < 0.05 + 0.27 / 4 }.count) / Double(small.count)
        #expect(abs(lowQuarter - 0.25) < 0.03, "fraction in the lowest quarter \(lowQuarter)")
    }

    @Test func randomResizedCropFallsBackToTheCentralCrop() {
        // A 1000×10 strip: no box with ratio ≤ 4/3 and area ≥ 90 % fits, so after 10 tries the
        // fallback crops the width to 10 · 4/3 = 13 (rounded), centred.
        let b = RandomResizedCrop.parameters(width: 1000, height: 10, scale: [0.9, 1], ratio: [3.0 / 4.0, 4.0 / 3.0],
                                             generator: RandomGenerator(seed: 3))
        #expect(b == CropBox(top: 0, left: (1000 - 13) / 2, height: 10, width: 13))
        let tall = RandomResizedCrop.parameters(width: 10, height: 1000, scale: [0.9, 1], ratio: [3.0 / 4.0, 4.0 / 3.0],
                                                generator: RandomGenerator(seed: 3))
        #expect(tall == CropBox(top: (1000 - 13) / 2, left: 0, height: 13, width: 10))
        let square = RandomResizedCrop.parameters(width: 50, height: 50, scale: [2, 3], ratio: [0.5, 2],
                                                  generator: RandomGenerator(seed: 3))
        #expect(square == CropBox(top: 0, left: 0, height: 50, width: 50))
    }

    @Test func colorJitterDrawsEachFactorInItsRangeAndEveryOrder() {
        let jitter = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1)
        let g = RandomGenerator(seed: 5)
        var orders = Set<[Int]>()
        for _ in 0..<2000 {
            let (order, f) = jitter.parameters(g)
            orders.insert(order)
            #expect(Set(order) == [0, 1, 2, 3])
            #expect((0.6...1.4).contains(f[0]!) && (0.6...1.4).contains(f[1]!))
            #expect((0.8...1.2).contains(f[2]!) && (-0.1...0.1).contains(f[3]!))
        }
        #expect(orders.count == 24)
        #expect(ColorJitter(brightness: 0.4).parameters(g).factors[1] == nil)
    }

    @Test func transformsAreDeterministicGivenTheGenerator() {
        let img = RGBImage(width: 40, height: 30) { p in for i in 0..<3600 { p[i] = UInt8((i * 37) % 251) } }
        let aug = MultiCropAugmentation(.preset(.dinov2, globalSize: 32, localSize: 16, localCount: 4))
        let a = aug(img, generator: RandomGenerator(seed: 9))
        let b = aug(img, generator: RandomGenerator(seed: 9))
        let c = aug(img, generator: RandomGenerator(seed: 10))
        #expect(a.global == b.global && a.local == b.local)
        #expect(a.global != c.global)
        #expect(a.global.count == 2 && a.local.count == 4)
        #expect(a.global.allSatisfy { $0.width == 32 && $0.height == 32 })
        #expect(a.local.allSatisfy { $0.width == 16 && $0.height == 16 })
    }

    @Test func presetsCarryTheOfficialParameters() {
        let v1 = MultiCropConfig.preset(.dino)
        #expect(v1.global.scale == [0.4, 1.0] && v1.local.scale == [0.05, 0.4] && v1.local.count == 8)
        #expect(v1.blur.probabilities == [1.0, 0.1, 0.5] && v1.blur.kind == .pil)
        let v2 = MultiCropConfig.preset(.dinov2)
        #expect(v2.global.scale == [0.32, 1.0] && v2.local.scale == [0.05, 0.32])
        #expect(v2.blur.probabilities == [0.0, 0.9, 0.5] && v2.blur.kind == .torchvision(kernelSize: 9))
        #expect(MultiCropConfig.preset(.dinov2Paper).blur.probabilities == [1.0, 0.1, 0.5])
        #expect(MultiCropConfig.preset(.dinov3).blur.probabilities == [0.0, 0.9, 0.5])
        for p in MultiCropConfig.Method.allCases {
            let c = MultiCropConfig.preset(p, globalSize: 32, localSize: 16, localCount: 6)
            #expect(c.global.size == 32 && c.local.size == 16 && c.local.count == 6)
            #expect(c.jitter.probability == 0.8 && c.jitter.brightness == 0.4 && c.jitter.hue == 0.1)
            #expect(c.grayscaleProbability == 0.2 && c.solarizeProbability == 0.2 && c.filter == .bicubic)
            #expect(c.normalization == .imageNet)
        }
        // Crops never need more than this shorter side: 96 / √(0.05 · 0.75) ≈ 496.
        #expect(v2.decodeShorterSide == 496)
    }

    @Test func blurProbabilitiesAreAppliedAsConfigured() {
        // A 2-level checkerboard changes under any blur; count how often each view is blurred.
        var px = [UInt8](repeating: 0, count: 24 * 24 * 3)
        for i in 0..<(24 * 24) where (i % 24 + i / 24) % 2 == 0 { px[3 * i] = 255; px[3 * i + 1] = 255; px[3 * i + 2] = 255 }
        let board = RGBImage(width: 24, height: 24, pixels: px)
        for (probability, expected) in [(0.0, 0.0), (0.9, 0.9), (1.0, 1.0)] {
            let blur = RandomGaussianBlur(probability: probability, sigma: [1.0, 2.0])
            let g = RandomGenerator(seed: 1)
            let blurred = (0..<400).filter { _ in blur.apply(board, g) != board }.count
            #expect(abs(Double(blurred) / 400 - expected) < 0.05, "p \(probability): \(blurred) / 400")
        }
    }
}
