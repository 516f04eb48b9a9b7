import DinoModels
import DinoTensor
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

    @Test func pngHasValidStructure() throws {
        var r = RGBRaster(width: 3, height: 2)
        r.pixels[0] = 255
        let png = PNGWriter.encode(r.upscaled(by: 2))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(String(decoding: png[12..<16], as: UTF8.self) == "IHDR")
        #expect(png[16..<24] == Data([0, 0, 0, 6, 0, 0, 0, 4]))
        // CRC-32 of "IEND" is the well-known AE 42 60 82.
        #expect(Array(png.suffix(4)) == [0xAE, 0x42, 0x60, 0x82])
        // Decompressed size: 4 rows of (1 + 6·3) bytes in one stored block.
        let idatLength = Int(png[33]) << 24 | Int(png[34]) << 16 | Int(png[35]) << 8 | Int(png[36])
        #expect(idatLength == 2 + 5 + 4 * 19 + 4)
    }
}
