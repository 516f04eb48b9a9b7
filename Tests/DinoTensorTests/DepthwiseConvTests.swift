import CDinoKernels
@testable import DinoTensor
import DinoTestSupport
import Testing

@Suite struct DepthwiseConvTests {
    /// The convolution written with padding, shifted slices and products: one term per tap.
    static func composed(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, padding p: Int) -> Tensor {
        let (h, w, c) = (x.shape[1], x.shape[2], x.shape[3])
        let k = weight.shape[2]
        let (ho, wo) = (h + 2 * p - k + 1, w + 2 * p - k + 1)
        let padded = x.pad([(0, 0), (p, p), (p, p), (0, 0)])           // (B, H+2p, W+2p, C)
        var out: Tensor? = nil
        for u in 0..<k {
            for v in 0..<k {
                let window = padded.slice(axis: 1, start: u, end: u + ho).slice(axis: 2, start: v, end: v + wo)
                let tap = weight.slice(axis: 2, start: u, end: u + 1).slice(axis: 3, start: v, end: v + 1).reshape([c])
                let term = window * tap
                out = out.map { $0 + term } ?? term
            }
        }
        return bias.map { out! + $0 } ?? out!
    }

    /// The Float32 C kernels (depthwise.c) against the scalar loops they port, instantiated for
    /// Float: bit for bit, in every variant this CPU runs, for channel counts that reach the
    /// 16-lane blocks and the tail (40 = 2·16 + 8, and 7), filters with and without padding,
    /// with and without a bias.
    @Test func kernelsMatchTheScalarLoopsBitForBitInEveryVariant() {
        let widest = FusedKernels.supportedInstructionSets[0]
        defer { FusedKernels.use(instructionSet: widest) }
        for (c, k, p, h, w) in [(40, 7, 3, 5, 6), (7, 3, 1, 4, 4), (40, 3, 0, 6, 5)] {
            let (b, ho, wo) = (3, h + 2 * p - k + 1, w + 2 * p - k + 1)
            let g = DepthwiseGeometry(b: b, h: h, w: w, c: c, k: k, p: p, ho: ho, wo: wo)
            let x = Sample.normal([b * h * w * c], seed: 21).scalars, wt = Sample.normal([k * k * c], seed: 22).scalars
            let bias = Sample.normal([c], seed: 23).scalars, dy = Sample.normal([b * ho * wo * c], seed: 24).scalars
            let blocks = (b * ho + DepthwiseKernels.block - 1) / DepthwiseKernels.block
            /// y, dx, the filter and bias partial sums, computed by `forward` and `backward`.
            func run(bias: [Float]?, _ forward: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>?, UnsafeMutablePointer<Float>) -> Void,
                     _ backward: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                  UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [[UInt32]] {
                var y = [Float](repeating: .nan, count: b * ho * wo * c), dx = [Float](repeating: .nan, count: x.count)
                var dw = [Float](repeating: 0, count: blocks * k * k * c), db = [Float](repeating: 0, count: blocks * c)
                if let bias { forward(x, wt, bias, &y) } else { forward(x, wt, nil, &y) }
                backward(x, wt, dy, &dx, &dw, &db)
                return [y, dx, dw, db].map { $0.map(\.bitPattern) }
            }
            for withBias in [true, false] {
                let want = run(bias: withBias ? bias : nil, { DepthwiseKernels.forward($0, $1, $2, $3, g) },
                               { DepthwiseKernels.backward($0, $1, $2, $3, $4, $5, g) })
                for isa in FusedKernels.supportedInstructionSets {
                    FusedKernels.use(instructionSet: isa)
                    let got = run(bias: withBias ? bias : nil, { DepthwiseKernels.forwardFloat32($0, $1, $2, $3, g) },
                                  { DepthwiseKernels.backwardFloat32($0, $1, $2, $3, $4, $5, g) })
                    for (i, name) in ["y", "dx", "dw", "db"].enumerated() {
                        #expect(got[i] == want[i], "\(isa), C \(c), k \(k), padding \(p), bias \(withBias): \(name)")
                    }
                }
            }
        }
    }

    @Test func forwardMatchesTheComposition() {
        for (k, p, side) in [(7, 3, 5), (3, 1, 4), (3, 0, 6)] {
            let x = Sample.normal([2, side, side + 1, 5], seed: 1)
            let weight = Sample.normal([5, 1, k, k], seed: 2)
            let bias = Sample.normal([5], seed: 3)
            let y = x.depthwiseConv2d(weight: weight, bias: bias, padding: p)
            #expect(y.shape == [2, side + 2 * p - k + 1, side + 2 * p - k + 2, 5])
            #expect(mismatch(y, Self.composed(x, weight, bias, padding: p), rtol: 1e-5, atol: 1e-5) == nil)
            // A strided (non-contiguous) input gives the same result.
            let strided = x.permute([0, 3, 1, 2]).contiguousCopy().permute([0, 2, 3, 1])
            #expect(mismatch(strided.depthwiseConv2d(weight: weight, bias: nil, padding: p),
                             Self.composed(x, weight, nil, padding: p), rtol: 1e-5, atol: 1e-5) == nil)
        }
    }

    /// Central differences in Float64 for the input, the filters and the bias; the 7 × 7
    /// filter on a 4 × 5 image exercises every border case (taps falling off each side).
    @Test func depthwiseConvGradient() {
        let inputs = [Sample.normal([2, 4, 5, 3], seed: 4), Sample.normal([3, 1, 7, 7], seed: 5), Sample.normal([3], seed: 6)]
        #expect(gradientMismatch(inputs) { $0[0].depthwiseConv2d(weight: $0[1], bias: $0[2], padding: 3) } == nil)
        // No bias, a 3 × 3 filter without padding (the output smaller than the input).
        #expect(gradientMismatch([inputs[0], Sample.normal([3, 1, 3, 3], seed: 7)]) { $0[0].depthwiseConv2d(weight: $0[1], bias: nil, padding: 0) } == nil)
    }

    /// The Float32 loops give the Float64 loops' gradients (the finite-difference check runs in Float64).
    @Test func float32GradientsMatchFloat64() {
        let seeds = (x: Sample.normal([2, 6, 5, 4], seed: 8), w: Sample.normal([4, 1, 7, 7], seed: 9), b: Sample.normal([4], seed: 10))
        let upstream = Sample.normal([2, 6, 5, 4], seed: 11)
        var grads: [[Tensor]] = []
        for dtype in [DType.float32, .float64] {
            func leaf(_ t: Tensor) -> Tensor { withNoGrad { t.to(dtype).contiguousCopy() }.requiringGrad() }
            let (x, w, b) = (leaf(seeds.x), leaf(seeds.w), leaf(seeds.b))
            x.depthwiseConv2d(weight: w, bias: b, padding: 3).backward(withNoGrad { upstream.to(dtype).contiguousCopy() })
            grads.append([x.grad!, w.grad!, b.grad!].map { $0.to(.float32) })
        }
        for i in 0..<3 { #expect(mismatch(grads[0][i], grads[1][i], rtol: 1e-4, atol: 1e-5) == nil, "input \(i)") }
    }
}
