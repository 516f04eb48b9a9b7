import DinoModels
import DinoTensor
import DinoVision
import DinoTestSupport
import Foundation
import Testing

@Suite struct VisualizationTests {
    @Test func principalComponentsFindTheSpreadDirections() {
        // Points spread mostly along (1, 1, 0)/√2, less along (0, 0, 1), none along (1, −1, 0).
        var rows: [Float] = []
        for t in [-2, -1, 0, 1, 2] as [Float] {
            for s in [-0.1, 0.1] as [Float] { rows += [t + 1, t - 2, s + 3] }
        }
        let (mean, pcs) = principalComponents(rows, dimensions: 3, count: 2)
        #expect(abs(mean[0] - (mean[1] + 3)) < 1e-9)
        #expect(abs(abs(pcs[0][0]) - 0.5.squareRoot()) < 1e-6 && abs(pcs[0][0] - pcs[0][1]) < 1e-6)
        #expect(abs(abs(pcs[1][2]) - 1) < 1e-6)
    }

    @Test func pcaColoursSpanTheRange() {
        let tokens = Sample.normal([2, 6, 8], seed: 1)
        let maps = FeatureMaps.pca(tokens, grid: (2, 3))
        #expect(maps.count == 2 && maps[0].width == 3 && maps[0].height == 2)
        for k in 0..<3 {
            let channel = maps.flatMap { m in stride(from: k, to: m.pixels.count, by: 3).map { m.pixels[$0] } }
            #expect(channel.min() == 0 && channel.max() == 255)
        }
    }

    @Test func classAttentionSkipsRegistersAndScalesToMax() {
        // One image, one head, N = 1 + 1 register + 4 patches; class row = [.1, .5, .1, .2, .05, .05].
        var a = [Float](repeating: 0, count: 36)
        for (j, v) in [Float(0.1), 0.5, 0.1, 0.2, 0.05, 0.05].enumerated() { a[j] = v }
        let maps = FeatureMaps.classAttention(Tensor(a, shape: [1, 1, 6, 6]), registers: 1, grid: (2, 2))
        // Patches [.1, .2, .05, .05] over the maximum .2 → [.5, 1, .25, .25] on the ramp
        // black (0) → red (1/3) → yellow (2/3) → white (1).
        #expect(maps[0][0].pixels == [255, 128, 0, 255, 255, 255, 191, 0, 0, 191, 0, 0])
    }

    @Test func imagesSideBySide() {
        let a = RGBImage(width: 2, height: 1, red: 255), b = RGBImage(width: 1, height: 1, blue: 9)
        let row = RGBImage.sideBySide([a, b], gap: 1)
        #expect(row.width == 4 && row.pixels == [255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 9])
    }
}
