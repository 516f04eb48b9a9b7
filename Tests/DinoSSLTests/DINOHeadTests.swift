import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

@Suite struct DINOHeadTests {
    @Test func keysShapesAndRolesAreTheReferences() {
        let head = DINOHead(inputDimensions: 12, prototypes: 40, hiddenDimensions: 16, bottleneckDimensions: 8)
        let tensors = Dictionary(uniqueKeysWithValues: head.namedTensors().map { ($0.0, $0.1) })
        #expect(Set(tensors.keys) == ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "mlp.4.weight", "mlp.4.bias",
                                      "last_layer.weight_g", "last_layer.weight_v"])
        #expect(tensors["mlp.0.weight"]!.shape == [16, 12] && tensors["mlp.4.weight"]!.shape == [8, 16])
        #expect(tensors["last_layer.weight_g"]!.shape == [40, 1] && tensors["last_layer.weight_v"]!.shape == [40, 8])
        // norm_last_layer: g is fixed (not trained), v is.
        #expect(!head.namedParameters().map(\.0).contains("last_layer.weight_g"))
        #expect(head.lastLayerParameters.count == 1)
        let free = DINOHead(inputDimensions: 12, prototypes: 40, hiddenDimensions: 16, bottleneckDimensions: 8, normLastLayer: false)
        #expect(free.namedParameters().map(\.0).contains("last_layer.weight_g"))
        #expect(free.lastLayerParameters.count == 2)
        let single = DINOHead(inputDimensions: 12, prototypes: 40, bottleneckDimensions: 8, layers: 1)
        #expect(single.namedParameters().map(\.0) == ["mlp.0.weight", "mlp.0.bias", "last_layer.weight_v"])
    }

    @Test func forwardIsMLPThenNormaliseThenWeightNormalisedLinear() {
        let head = DINOHead(inputDimensions: 6, prototypes: 5, hiddenDimensions: 7, bottleneckDimensions: 4, normLastLayer: false)
        head.initializeWeights(generator: RandomGenerator(seed: 3))
        head.lastLayer.scale.fillUniform(low: 0.5, high: 2, generator: RandomGenerator(seed: 4))
        let x = Sample.normal([3, 6], seed: 5)
        let y = head(x)
        #expect(y.shape == [3, 5])
        // The same computation on plain arrays.
        func linear(_ x: [Double], _ w: Tensor, _ b: Tensor?) -> [Double] {
            let wd = w.doubles, o = w.shape[0], i = w.shape[1]
            let bd: [Double] = b?.doubles ?? [Double](repeating: 0, count: o)
            var out = [Double](repeating: 0, count: o)
            for r in 0..<o {
                var acc = bd[r]
                for j in 0..<i { acc += wd[r * i + j] * x[j] }
                out[r] = acc
            }
            return out
        }
        func gelu(_ v: Double) -> Double { 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot())) }
        let ls = head.mlp.compactMap { $0 as? Linear }
        let v = head.lastLayer.direction.value.doubles, g = head.lastLayer.scale.value.doubles
        for row in 0..<3 {
            let xr = Array(x.doubles[(row * 6)..<(row * 6 + 6)])
            var h = linear(xr, ls[0].weight.value, ls[0].bias?.value).map(gelu)
            h = linear(h, ls[1].weight.value, ls[1].bias?.value).map(gelu)
            h = linear(h, ls[2].weight.value, ls[2].bias?.value)
            let n = h.map { $0 * $0 }.reduce(0, +).squareRoot()
            h = h.map { $0 / n }
            let expected = (0..<5).map { k -> Double in
                let vk = Array(v[(k * 4)..<(k * 4 + 4)])
                let vn = vk.map { $0 * $0 }.reduce(0, +).squareRoot()
                return g[k] * zip(vk, h).map { $0 * $1 }.reduce(0, +) / vn
            }
            #expect(mismatch(Array(y.scalars[(row * 5)..<(row * 5 + 5)]), expected.map { Float($0) }, rtol: 1e-4, atol: 1e-5) == nil)
        }
    }

    @Test func initialisationFollowsTheReference() {
        let head = DINOHead(inputDimensions: 64, prototypes: 300, hiddenDimensions: 256, bottleneckDimensions: 32)
        head.initializeWeights(generator: RandomGenerator(seed: 1))
        let w = (head.mlp[2] as! Linear).weight.value.doubles
        let std = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(Swift.abs(std - 0.02) < 0.001)
        #expect((head.mlp[0] as! Linear).bias!.value.doubles.allSatisfy { $0 == 0 })
        let v = head.lastLayer.direction.value.doubles
        let bound = 1 / 32.0.squareRoot()
        #expect(v.allSatisfy { Swift.abs($0) <= bound } && v.map { Swift.abs($0) }.max()! > 0.9 * bound)
        #expect(head.lastLayer.scale.value.doubles.allSatisfy { $0 == 1 })
        // With g = 1 every prototype is a unit vector: outputs are cosines, within [−1, 1].
        let y = head(Sample.normal([10, 64], seed: 2) * 5)
        #expect(y.scalars.allSatisfy { Swift.abs($0) <= 1.0001 })
    }

    @Test func emaMovesTheTeacherTowardsTheStudent() {
        let t = Tensor([1, 2, 3, 4], shape: [2, 2]), s = Tensor([3, 2, 1, 0], shape: [2, 2])
        t.updateExponentialMovingAverage(toward: s.transposed().transposed(), momentum: 0.75)
        #expect(mismatch(t.scalars, [1.5, 2, 2.5, 3], rtol: 1e-7) == nil)
        #expect(s.scalars == [3, 2, 1, 0])
    }
}
