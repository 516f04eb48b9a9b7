import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

@Suite struct PositionTests {
    /// A 4×4 grid x[i, j] = (4i + j)^1.5 resized by torch.nn.functional.interpolate
    /// (values printed by PyTorch 2.13, float64).
    static let grid: Tensor = Tensor(doubles: (0..<16).map { Foundation.pow(Double($0), 1.5) }, shape: [4, 4, 1])

    @Test func antialiasedResizeMatchesTorch() {
        // F.interpolate(x, size=(2, 3), mode="bicubic", antialias=True)
        let expected: [Double] = [5.229418457872146, 8.445549754941101, 12.456533932654281,
                                  31.299902143705342, 37.67150941155904, 44.403057419688906]
        let y = resizePositionGrid(Self.grid, height: 2, width: 3, interpolation: .antialiasedSize)
        #expect(y.shape == [2, 3, 1])
        #expect(mismatch(doubles: y.doubles, expected, rtol: 1e-12, atol: 1e-12) == nil)
    }

    @Test func offsetResizeMatchesTorchScaleFactor() {
        // F.interpolate(x, scale_factor=(5.1/4, 3.1/4), mode="bicubic"): DINO's +0.1 offset.
        let expected: [Double] = [-0.4323957895688717, 0.9867810029867071, 3.8363315782504, 4.196797720276048,
                                  7.544159734400248, 11.768180391184725, 14.266360999429265, 19.519663342541474,
                                  25.261300376105975, 28.868205391533305, 35.2448535070497, 42.05572728785954,
                                  42.543548611537936, 49.743217089965505, 57.327960570831046]
        let y = resizePositionGrid(Self.grid, height: 5, width: 3, interpolation: .dinoOffset)
        #expect(y.shape == [5, 3, 1])
        #expect(mismatch(doubles: y.doubles, expected, rtol: 1e-12, atol: 1e-12) == nil)
    }

    @Test func bicubicWeightsAreInterpolating() {
        // Same size, no scale factor: the identity; every row sums to one.
        let identity = bicubicWeights(inputSize: 5, outputSize: 5, antialias: false)
        for i in 0..<5 { for j in 0..<5 { #expect(abs(identity[i][j] - (i == j ? 1 : 0)) < 1e-15) } }
        for aa in [false, true] {
            for (m, n) in [(4, 7), (7, 4), (37, 16), (16, 37)] {
                for row in bicubicWeights(inputSize: m, outputSize: n, antialias: aa) {
                    #expect(abs(row.reduce(0, +) - 1) < 1e-12)
                }
            }
        }
    }

    @Test func resizeIsDifferentiable() {
        #expect(gradientMismatch([Sample.normal([3, 3, 2], seed: 1)]) { xs in
            resizePositionGrid(xs[0], height: 4, width: 2, interpolation: .dinoOffset)
        } == nil)
    }

    @Test func ropePeriodsAndAngles() {
        let rope = RotaryEmbedding(headDimensions: 8, base: 100, generator: RandomGenerator(seed: 1))
        // base^(4k/Dh), k < Dh/4.
        #expect(mismatch(rope.periods.value.scalars, [1, 10], rtol: 1e-6) == nil)
        rope.eval()
        let table = rope(height: 2, width: 1)                             // 2 patches
        // Patch (0, 0): row coordinate −0.5, column 0 (one column: centre at 0).
        let theta: [Float] = [2 * .pi * -0.5 / 1, 2 * .pi * -0.5 / 10, 0, 0]
        let expectedSin = (theta + theta).map { Foundation.sin($0) }
        #expect(mismatch(Array(table.sin.scalars[0..<8]), expectedSin, rtol: 1e-5, atol: 1e-6) == nil)
        #expect(mismatch(Array(table.cos.scalars[8..<16]), (theta.map { -$0 } + theta.map { -$0 }).map { Foundation.cos($0) },
                         rtol: 1e-5, atol: 1e-6) == nil)
    }

    @Test func ropeRotatesPatchesOnlyAndKeepsNorms() {
        let rope = RotaryEmbedding(headDimensions: 8, generator: RandomGenerator(seed: 2))
        rope.eval()
        let table = rope(height: 2, width: 3)
        let x = Sample.normal([1, 2, 1 + 6, 8], seed: 3)                  // 1 prefix token + 6 patches
        let y = table.apply(x)
        #expect(y.slice(axis: 2, start: 0, end: 1).scalars == x.slice(axis: 2, start: 0, end: 1).scalars)
        // Pairs (i, i + Dh/2) rotate by one angle: their norms are kept.
        for t in 1..<7 {
            for i in 0..<4 {
                let a = x[0, 1, t, i] * x[0, 1, t, i] + x[0, 1, t, i + 4] * x[0, 1, t, i + 4]
                let b = y[0, 1, t, i] * y[0, 1, t, i] + y[0, 1, t, i + 4] * y[0, 1, t, i + 4]
                #expect(abs(a - b) < 1e-4 * max(1, a))
            }
        }
    }

    @Test func ropeAugmentsCoordinatesOnlyInTraining() {
        let rope = RotaryEmbedding(headDimensions: 8, jitter: 2, rescale: 2, generator: RandomGenerator(seed: 4))
        let a = rope.coordinates(height: 2, width: 2), b = rope.coordinates(height: 2, width: 2)
        #expect(a.map(\.0) != b.map(\.0))
        rope.eval()
        #expect(rope.coordinates(height: 2, width: 2).map(\.1) == [-0.5, 0.5, -0.5, 0.5])
    }
}
