import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// DINOv3's head (a plain Linear last layer, `DINOHead.LastLayerKind.linear`) against the
/// official dinov3/layers/dino_head.py (Fixtures/dinov3_head.json, from
/// scripts/make_dinov3_fixtures.py): checkpoint keys, output and gradients, initialisation.
@Suite struct DINOv3HeadTests {
    struct Reference: Decodable {
        struct Entry: Decodable { let shape: [Int]; let values: [Double] }
        let state: [String: Entry]
        let x: [Double], upstream: [Double], output: [Double]
        let grad_x: [Double], grad_last_layer: [Double]
        let last_layer_init_std: Double
    }

    static let reference: Reference = try! Fixture.load("dinov3_head")

    static func head() -> DINOHead {
        DINOHead(inputDimensions: 6, prototypes: 5, hiddenDimensions: 7, bottleneckDimensions: 4, layers: 3,
                 lastLayerKind: .linear)
    }

    @Test func keysOutputAndGradientsMatchTheReference() throws {
        let ref = Self.reference
        let head = Self.head()
        #expect(Set(head.namedTensors().map(\.0)) == Set(ref.state.keys))
        #expect(head.lastLayerParameters.count == 1 && head.weightNormalizedLastLayer == nil)
        try head.load(stateDict: ref.state.mapValues { Tensor(doubles: $0.values, shape: $0.shape).to(.float32) })
        // The reference ran in Double; the head computes in Float32.
        let x = Tensor(doubles: ref.x, shape: [3, 6]).to(.float32).contiguousCopy().requiringGrad()
        let y = head(x)
        #expect(y.shape == [3, 5])
        #expect(mismatch(doubles: y.doubles, ref.output, rtol: 1e-5, atol: 1e-6) == nil, "output")
        (y * Tensor(doubles: ref.upstream, shape: [3, 5]).to(.float32)).sum().backward()
        #expect(mismatch(doubles: x.grad!.doubles, ref.grad_x, rtol: 1e-4, atol: 1e-6) == nil, "dL/dx")
        let w = try #require(head.linearLastLayer?.weight.grad)
        #expect(mismatch(doubles: w.doubles, ref.grad_last_layer, rtol: 1e-4, atol: 1e-6) == nil, "dL/dW last")
    }

    @Test func initialisationIsTruncatedNormal002() {
        let big = DINOHead(inputDimensions: 32, prototypes: 4096, bottleneckDimensions: 64, layers: 1, lastLayerKind: .linear)
        big.initializeWeights(generator: RandomGenerator(seed: 1))
        let w = big.linearLastLayer!.weight.value.doubles
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)).squareRoot()
        // 262 144 draws: the standard deviation is within 1 % of 0.02, as the reference's.
        #expect(abs(std - 0.02) < 2e-4 && abs(Self.reference.last_layer_init_std - 0.02) < 2e-4, "std \(std)")
        #expect(abs(mean) < 2e-4)
    }

    @Test func gradientMatchesFiniteDifferences() {
        let head = Self.head()
        head.initializeWeights(generator: RandomGenerator(seed: 2))
        let x = Sample.normal([2, 6], seed: 3, dtype: .float64)
        // The head in Double: x → MLP (the trained weights, cast) → normalise → linear.
        let weights = head.namedTensors().map { ($0.0, $0.1.value.to(.float64)) }
        let problem = gradientMismatch([x]) { xs in
            var h = xs[0]
            for i in [0, 2, 4] {
                let w = weights.first { $0.0 == "mlp.\(i).weight" }!.1, b = weights.first { $0.0 == "mlp.\(i).bias" }!.1
                h = h.linear(weight: w, bias: b)
                if i < 4 { h = h.gelu() }
            }
            return h.l2Normalized(axis: -1).linear(weight: weights.first { $0.0 == "last_layer.weight" }!.1)
        }
        #expect(problem == nil, "\(problem ?? "")")
        // The composition above is the head's forward.
        let ours = head(x.to(.float32)).doubles
        let composed = withNoGrad { () -> [Double] in
            var h = x
            for i in [0, 2, 4] {
                h = h.linear(weight: weights.first { $0.0 == "mlp.\(i).weight" }!.1, bias: weights.first { $0.0 == "mlp.\(i).bias" }!.1)
                if i < 4 { h = h.gelu() }
            }
            return h.l2Normalized(axis: -1).linear(weight: weights.first { $0.0 == "last_layer.weight" }!.1).doubles
        }
        #expect(mismatch(doubles: ours, composed, rtol: 1e-4, atol: 1e-6) == nil)
    }

    @Test func headConfigChoosesTheLastLayerByName() throws {
        let c = try ConfigLoader.decode(DINOConfig.self, from: JSONValue.parse(#"{"head": {"last_layer": "linear"}}"#))
        #expect(c.head.lastLayer == DINOHead.LastLayerKind.linear)
        #expect(HeadConfig().lastLayer == .weightNormalized, "the default is unchanged")
        let head = DINOHead(config: c.head, inputDimensions: 8, prototypes: 16)
        #expect(head.namedTensors().map { $0.0 }.last == "last_layer.weight")
        #expect {
            _ = try ConfigLoader.decode(DINOConfig.self, from: JSONValue.parse(#"{"head": {"last_layer": "plain"}}"#))
        } throws: { error in
            "\(error)".contains("last_layer")
        }
    }
}
