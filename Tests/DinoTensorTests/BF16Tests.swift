// Mixed precision (`withPrecision(.bf16)`, Autocast.swift) against PyTorch's CPU autocast, from
// Fixtures/bf16.safetensors (scripts/make_bf16_fixtures.py).
//
// Tolerances. A bf16 value has 8 significant bits: one unit in the last place (ulp) is 2⁻⁷ of
// the value at most (2⁻⁸ · 2 just below a power of two). Ours and torch's products see the
// same bf16 inputs and both accumulate in Float32; only the order of the sums differs, so their
// Float32 sums agree to ~1e-6 relative, and after the output rounding they are equal or one bf16
// ulp apart (when the two sums straddle a rounding boundary). Single products: |a − b| ≤ 2⁻⁷ |b|
// + 1e-6. Gradients of a product pass through two roundings (the incoming gradient, the result)
// and so may differ by 2 ulps: 2⁻⁶ |b|. The block chains six products, layer norms, GELU and
// attention; a one-ulp difference in an early output moves later values by about the same
// relative amount, and torch's attention rounds P before P·V (ours keeps it Float32: that alone
// is up to 2⁻⁹ relative on every P entry). We compare the block with an error relative to each
// tensor's largest magnitude: max |a − b| ≤ 2⁻⁵ max |b| (4 ulps of the largest; measured ≤ 0.76 %
// = 2⁻⁷ on the 13 gradients). That bound alone also admits the Float32 block (the gradients of a
// block in bf16 and Float32 differ by the same bf16 noise), so the output's mean relative error
// mean |a − b| / mean |b| ≤ 2⁻⁹ is checked too: ours 0.10 %, Float32's 0.31 % (torch 2.15).

import CDinoKernels
@testable import DinoTensor
import DinoTestSupport
import Foundation
import Testing

@Suite struct BF16Tests {
    static let fixtures: Result<[String: OpFixture], Error> = Result {
        guard let folder = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw FixtureError("the test bundle has no Fixtures folder")
        }
        return try OpFixture.load(folder.appendingPathComponent("bf16.safetensors"))
    }

    func fixture(_ name: String) throws -> OpFixture {
        try #require(try Self.fixtures.get()[name], "no case '\(name)' in bf16.safetensors")
    }

    /// max |a − b| / max |b| over the tensor.
    func relativeToMax(_ a: Tensor, _ b: Tensor) -> Float {
        let (x, y) = (a.scalars, b.scalars)
        precondition(x.count == y.count)
        let scale = y.map(abs).max() ?? 1
        return zip(x, y).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
    }

    /// mean |a − b| / mean |b|.
    func meanRelative(_ a: Tensor, _ b: Tensor) -> Float {
        let (x, y) = (a.scalars, b.scalars)
        return zip(x, y).map { abs($0 - $1) }.reduce(0, +) / max(y.map(abs).reduce(0, +), 1e-30)
    }

    /// Whether every |a − b| ≤ rel · |b| + abs.
    func elementwise(_ a: Tensor, _ b: Tensor, rel: Float, abs absTol: Float = 1e-6) -> String? {
        for (i, (x, y)) in zip(a.scalars, b.scalars).enumerated() where !(abs(x - y) <= rel * abs(y) + absTol) {
            return "element \(i): \(x) vs \(y)"
        }
        return nil
    }

    func isBF16(_ t: Tensor) -> Bool { t.scalars.allSatisfy { $0.bitPattern & 0xFFFF == 0 } }

    @Test func roundingIsBitExactAgainstTorch() throws {
        let f = try fixture("round_edges")
        let ours = f.inputs[0].roundedToBFloat16().scalars.map(\.bitPattern)
        let torch = f.outputs[0].scalars.map(\.bitPattern)
        #expect(ours.count == torch.count && ours.count > 4096)
        for i in ours.indices where ours[i] != torch[i] {
            Issue.record("input \(String(f.inputs[0].scalars[i].bitPattern, radix: 16)): ours \(String(ours[i], radix: 16)), torch \(String(torch[i], radix: 16))")
            break
        }
        // Spot checks that the fixture holds what it claims: a tie to even, a subnormal kept, NaN → 0xFFFF.
        let x = Tensor([Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x0001_8000),
                        .nan, Float(bitPattern: 0x7F7F_FFFF)], shape: [5])
        #expect(x.roundedToBFloat16().scalars.map(\.bitPattern)
                == [0x3F80_0000, 0x3F82_0000, 0x0002_0000, 0xFFFF_0000, 0x7F80_0000])
    }

    /// c10::BFloat16's round to nearest even on the bit pattern, NaN → 0xFFFF (bf16.c's `round_bits`).
    static func roundBits(_ u: UInt32) -> UInt32 {
        if u & 0x7FFF_FFFF > 0x7F80_0000 { return 0xFFFF_0000 }
        return ((u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16) << 16
    }

    @Test func roundingAndPackingAreBitExactInEveryKernelVariant() {
        // Every high half (every bf16 value, the infinities and NaNs included) with the low halves
        // that decide the rounding: exact, just below, at and just above the tie, the largest.
        // (An exhaustive run over all 2³² patterns, 2026-12-07, found no difference either.)
        var patterns: [UInt32] = []
        for high in 0..<UInt32(1 << 16) {
            for low: UInt32 in [0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF] { patterns.append(high << 16 | low) }
        }
        let x = patterns.map { Float(bitPattern: $0) }
        let expected = patterns.map(Self.roundBits)
        // Packing reads rows of 37 (tails after the 16-lane blocks) at a row stride of 41.
        let (rows, cols, stride) = (x.count / 41, 37, 41)
        let widest = FusedKernels.supportedInstructionSets[0]
        defer { FusedKernels.use(instructionSet: widest) }
        /// The first input whose result differs, if any (not the 400 000-element arrays).
        func mismatch<T: BinaryInteger>(_ got: [T], _ want: [T], input: (Int) -> Int) -> String? {
            guard got.count == want.count else { return "\(got.count) results for \(want.count)" }
            guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
            return "input 0x\(String(patterns[input(i)], radix: 16)): 0x\(String(got[i], radix: 16)), want 0x\(String(want[i], radix: 16))"
        }
        for isa in FusedKernels.supportedInstructionSets {
            FusedKernels.use(instructionSet: isa)
            var y = [Float](repeating: 0, count: x.count)
            dino_round_bf16(x, &y, x.count)
            #expect(mismatch(y.map(\.bitPattern), expected) { $0 } == nil, "\(isa): rounding")
            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { dino_round_bf16($0.baseAddress, $0.baseAddress, $0.count) }
            #expect(mismatch(inPlace.map(\.bitPattern), expected) { $0 } == nil, "\(isa): rounding in place")
            var packed = [UInt16](repeating: 0, count: rows * cols)
            dino_pack_bf16(x, rows, cols, stride, 1, &packed)
            let packedAt = { (i: Int) in i / cols * stride + i % cols }
            #expect(mismatch(packed, (0..<rows * cols).map { UInt16(expected[packedAt($0)] >> 16) }, input: packedAt) == nil,
                    "\(isa): packing")
            // A column stride of 2 (the strided path): every other element of each row.
            let half = cols / 2
            dino_pack_bf16(x, rows, half, stride, 2, &packed)
            let stridedAt = { (i: Int) in i / half * stride + 2 * (i % half) }
            #expect(mismatch(Array(packed[..<(rows * half)]), (0..<rows * half).map { UInt16(expected[stridedAt($0)] >> 16) },
                             input: stridedAt) == nil, "\(isa): strided packing")
        }
    }

    @Test func linearMatchesAutocast() throws {
        let f = try fixture("linear")
        let (x, w, b) = (f.inputs[0].requiringGrad(), f.inputs[1].requiringGrad(), f.inputs[2].requiringGrad())
        let y = withPrecision(.bf16) { x.linear(weight: w, bias: b) }
        #expect(isBF16(y))
        #expect(elementwise(y, f.outputs[0], rel: 0x1p-7) == nil)
        y.backward(f.upstreams[0])
        for (i, t) in [x, w, b].enumerated() {
            #expect(isBF16(t.grad!), "grad \(i) is not bf16-representable")
            #expect(elementwise(t.grad!, f.grads[i]!, rel: 0x1p-6) == nil, "grad \(i)")
        }
        // The Float32 product is not within these bounds (the fixture and bounds discriminate).
        let y32 = withNoGrad { f.inputs[0].linear(weight: f.inputs[1], bias: f.inputs[2]) }
        #expect(elementwise(y32, f.outputs[0], rel: 0x1p-9, abs: 0) != nil)
    }

    @Test func batchedMatmulMatchesAutocast() throws {
        let f = try fixture("matmul")
        let (a, b) = (f.inputs[0].requiringGrad(), f.inputs[1].requiringGrad())
        let y = withPrecision(.bf16) { a.matmul(b) }
        #expect(elementwise(y, f.outputs[0], rel: 0x1p-7) == nil)
        y.backward(f.upstreams[0])
        #expect(elementwise(a.grad!, f.grads[0]!, rel: 0x1p-6) == nil)
        #expect(elementwise(b.grad!, f.grads[1]!, rel: 0x1p-6) == nil)
    }

    static func block(_ p: [Tensor]) -> Tensor {
        let (d, h) = (16, 2)
        let x = p[0]
        let (bsz, n) = (x.shape[0], x.shape[1])
        let qkv = x.layerNorm(weight: p[1], bias: p[2], eps: 1e-6).linear(weight: p[3], bias: p[4])
            .reshape([bsz, n, 3, h, d / h]).permute([2, 0, 3, 1, 4])                     // (3, B, H, N, Dh)
        let q = qkv.slice(axis: 0, start: 0, end: 1).reshape([bsz, h, n, d / h])
        let k = qkv.slice(axis: 0, start: 1, end: 2).reshape([bsz, h, n, d / h])
        let v = qkv.slice(axis: 0, start: 2, end: 3).reshape([bsz, h, n, d / h])
        let a = Tensor.scaledDotProductAttention(query: q, key: k, value: v)            // (B, H, N, Dh)
        let hidden = x + a.transposed(1, 2).reshape([bsz, n, d]).linear(weight: p[5], bias: p[6])
        let mlp = hidden.layerNorm(weight: p[7], bias: p[8], eps: 1e-6).linear(weight: p[9], bias: p[10]).gelu()
            .linear(weight: p[11], bias: p[12])
        return hidden + mlp
    }

    func runBlock(_ f: OpFixture, _ precision: Precision) -> (Tensor, [Tensor]) {
        let leaves = f.inputs.map { $0.contiguousCopy().requiringGrad() }
        let y = withPrecision(precision) { Self.block(leaves) }
        y.backward(f.upstreams[0])
        return (y, leaves.map { $0.grad! })
    }

    @Test func transformerBlockMatchesAutocastForwardAndBackward() throws {
        let f = try fixture("block"), f32 = try fixture("block_fp32")
        let (y, grads) = runBlock(f, .bf16)
        #expect(relativeToMax(y, f.outputs[0]) <= 0x1p-5)
        for i in grads.indices {
            #expect(relativeToMax(grads[i], f.grads[i]!) <= 0x1p-5, "grad \(i): \(relativeToMax(grads[i], f.grads[i]!))")
        }
        // Float32 reproduces torch's Float32 block tightly.
        let (y32, grads32) = runBlock(f32, .float32)
        #expect(mismatch(y32, f32.outputs[0], rtol: 1e-4, atol: 1e-5) == nil)
        // The output's mean error separates the two: measured 0.10 % for ours, 0.31 % for
        // Float32 (torch 2.15); the bound 2⁻⁹ ≈ 0.2 % sits between them.
        #expect(meanRelative(y, f.outputs[0]) <= 0x1p-9)
        #expect(meanRelative(y32, f.outputs[0]) > 0x1p-9, "the Float32 block is within the bf16 bound")
    }

    @Test func nativeAndEmulatedProductsAgree() throws {
        // On a CPU without AVX512_BF16 both runs take the emulated path and agree trivially.
        let f = try fixture("block")
        func run() -> (Tensor, [Tensor]) { runBlock(f, .bf16) }
        let (yn, gn) = run()
        let (ye, ge) = Autocast.withEmulatedBF16 { run() }
        // Same bf16 inputs, Float32 sums in another order: equal, or a bf16 ulp apart where a
        // sum straddles a rounding boundary, which then moves later values by about as much.
        #expect(relativeToMax(yn, ye) <= 0x1p-6)
        for i in gn.indices { #expect(relativeToMax(gn[i], ge[i]) <= 0x1p-6, "grad \(i)") }
        let x = Sample.normal([37, 70], seed: 3), w = Sample.normal([50, 70], seed: 4)
        let a = withPrecision(.bf16) { x.linear(weight: w) }
        let b = Autocast.withEmulatedBF16 { withPrecision(.bf16) { x.linear(weight: w) } }
        #expect(elementwise(a, b, rel: 0x1p-7) == nil)
        print("bf16 products on this CPU: \(Autocast.hasNativeBF16 ? "native (oneDNN bf16 matmul)" : "emulated")")
    }

    @Test func nativeProductsCutIntoBlocksAgreeWithTheEmulatedPath() {
        // Shapes whose products the native kernel cuts into one block per thread: by rows of C
        // (600 × 256 · 256 × 300, and the backward's dX and transposed-A dW), and by columns
        // (40 × 256 · 256 × 2000); the bias makes the forward accumulate into C (beta 1).
        for (rows, inputs, outputs) in [(600, 256, 300), (40, 256, 2000)] {
            let x = Sample.normal([rows, inputs], seed: 11), w = Sample.normal([outputs, inputs], seed: 12)
            let bias = Sample.normal([outputs], seed: 13), r = Sample.normal([rows, outputs], seed: 14)
            func run(threads: Int) -> [Tensor] {
                Threads.with(threads) {
                    // Fresh leaves each run (requiringGrad marks the tensor itself).
                    let (xv, wv, bv) = (x.contiguousCopy().requiringGrad(), w.contiguousCopy().requiringGrad(),
                                        bias.contiguousCopy().requiringGrad())
                    let y = withPrecision(.bf16) { xv.linear(weight: wv, bias: bv) }
                    (y * r).sum().backward()
                    return [y, xv.grad!, wv.grad!, bv.grad!]
                }
            }
            let emulated = Autocast.withEmulatedBF16 { run(threads: 2) }
            for threads in [1, 2] {
                let native = run(threads: threads)
                for (i, name) in ["y", "dx", "dW", "db"].enumerated() {
                    // Same bf16 operands, Float32 sums in another order, one rounding after.
                    #expect(relativeToMax(native[i], emulated[i]) <= 0x1p-7, "\(rows)×\(inputs)·\(outputs) \(name), \(threads) threads")
                    #expect(isBF16(native[i]), "\(name) is rounded to bf16")
                }
            }
        }
    }

    @Test func nativeLinearIsExactOnSmallIntegers() {
        // Small integers (|x|, |w| ≤ 3, |b|, |g| ≤ 2) keep every product and every partial sum
        // exact in Float32, so the native kernel (packed operands shared between the forward and
        // backward products, the bias as oneDNN's bias argument) must give exactly the emulated
        // composition's values, whatever the order of its sums, in blocks cut by rows (the first
        // shape) and by columns (the second), with 1 and 2 threads.
        func ints(_ shape: [Int], seed: UInt64, range: Int) -> Tensor {
            Tensor(Sample.normal(shape, seed: seed).scalars.map { Float(abs(Int(($0 * 1000).rounded())) % (2 * range + 1) - range) },
                   shape: shape)
        }
        for (rows, inputs, outputs) in [(600, 96, 40), (24, 64, 1500)] {
            let x = ints([rows, inputs], seed: 31, range: 3), w = ints([outputs, inputs], seed: 32, range: 3)
            let bias = ints([outputs], seed: 33, range: 2), g = ints([rows, outputs], seed: 34, range: 2)
            func run(threads: Int) -> [[Float]] {
                Threads.with(threads) {
                    let (xv, wv, bv) = (x.contiguousCopy().requiringGrad(), w.contiguousCopy().requiringGrad(),
                                        bias.contiguousCopy().requiringGrad())
                    withPrecision(.bf16) { xv.linear(weight: wv, bias: bv) }.backward(g)
                    let y = withNoGrad { withPrecision(.bf16) { x.linear(weight: w, bias: bias) } }
                    return [y.scalars, xv.grad!.scalars, wv.grad!.scalars, bv.grad!.scalars]
                }
            }
            let emulated = Autocast.withEmulatedBF16 { run(threads: 1) }
            for threads in [1, 2] {
                let native = run(threads: threads)
                for (i, name) in ["y", "dx", "dW", "db"].enumerated() {
                    let wrong = native[i].indices.filter { native[i][$0] != emulated[i][$0] }
                    #expect(wrong.isEmpty, "\(rows)×\(inputs)·\(outputs) \(name), \(threads) threads: \(wrong.count) values differ, the first at \(wrong.first ?? 0): \(wrong.first.map { native[i][$0] } ?? 0) for \(wrong.first.map { emulated[i][$0] } ?? 0)")
                }
            }
        }
    }

    @Test func columnSumsOfRoundedValuesAreBitExactInEveryKernelVariant() {
        // The bias gradient's column sums (each column over the rows in order, each value
        // rounded to bf16 first) against the scalar rule, for column counts that reach the
        // 64-column, 16-column and scalar parts of the kernel, at a row stride wider than a row.
        let (rows, cols, stride) = (53, 64 + 16 + 7, 91)
        let x = Sample.normal([rows * stride], seed: 41).scalars.map { $0 * 1000 }
        var expected = [Float](repeating: 0, count: cols)
        for i in 0..<rows {
            for j in 0..<cols { expected[j] += Float(bitPattern: Self.roundBits(x[i * stride + j].bitPattern)) }
        }
        let widest = FusedKernels.supportedInstructionSets[0]
        defer { FusedKernels.use(instructionSet: widest) }
        for isa in FusedKernels.supportedInstructionSets {
            FusedKernels.use(instructionSet: isa)
            var out = [Float](repeating: .nan, count: cols)
            dino_sum_rows_bf16(x, rows, cols, stride, &out)
            #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "\(isa)")
        }
    }

    @Test func roundingAPermutedViewKeepsItsLayout() {
        // A transposed or permuted view is rounded span for span into the same strides (no
        // contiguous copy first); its values, and the product read through them, are those of
        // rounding the contiguous copy. A strided slice, which does not fill its span, is copied.
        let x = Sample.normal([6, 5, 4], seed: 51)
        for view in [x.transposed(), x.permute([2, 0, 1]), x.slice(axis: 1, start: 0, end: 3)] {
            let r = view.roundedToBFloat16()
            #expect(r.scalars == view.contiguousCopy().roundedToBFloat16().scalars)
            #expect(r.strides == (view.fillsItsSpan ? view.strides : view.contiguousCopy().strides))
        }
        #expect(x.transposed().fillsItsSpan && x.permute([2, 0, 1]).fillsItsSpan && !x.slice(axis: 1, start: 0, end: 3).fillsItsSpan)
        let a = Sample.normal([40, 30], seed: 52), b = Sample.normal([40, 20], seed: 53)
        let viaView = withPrecision(.bf16) { a.transposed().matmul(b) }
        let viaCopy = withPrecision(.bf16) { a.transposed().contiguousCopy().matmul(b) }
        #expect(elementwise(viaView, viaCopy, rel: 0x1p-7) == nil)
    }

    @Test func roundingANativeLinearOutputIsAView() {
        // The native linear writes its output rounded and marks the storage: rounding a view of it
        // (attention's q as a slice of the permuted qkv product) is then a view of the same
        // elements, with the same values as rounding a copy; its gradient is still rounded. Any
        // other tensor is rounded into a new buffer.
        let x = Sample.normal([2, 5, 12], seed: 71), w = Sample.normal([12, 12], seed: 72)
        let xv = x.contiguousCopy().requiringGrad()
        let y = withPrecision(.bf16) { xv.linear(weight: w) }
        let q = y.reshape([2, 5, 3, 4]).permute([2, 0, 1, 3]).slice(axis: 0, start: 0, end: 1).squeeze(0)   // (2, 5, 4)
        let r = q.roundedToBFloat16()
        #expect(r.scalars == q.contiguousCopy().roundedToBFloat16().scalars)
        #expect((r.storage === y.storage) == Autocast.hasNativeBF16, "a view exactly where the native linear marked its output")
        let g = Tensor([Float](repeating: 1 + 0x1p-9, count: 40), shape: [2, 5, 4])   // rounds to 1
        r.backward(g)
        #expect(xv.grad != nil && isBF16(xv.grad!))
        let plain = Sample.normal([3, 4], seed: 73)
        #expect(plain.roundedToBFloat16().storage !== plain.storage)
    }

    @Test func biasGradientSumsTheRoundedIncomingGradient() {
        // Autocast's linear returns bf16, so its incoming gradient is bf16: 1 + 3·2⁻⁹ arrives as
        // 1 + 2⁻⁷, and the bias gradient over 7 rows is R(7 · 1.0078125) = R(7.0546875) = 7.0625,
        // where summing the unrounded values would give R(7.041015625) = 7.03125. Native (the
        // fused linear's on-the-fly sum) and emulated alike.
        let x = Sample.normal([7, 5], seed: 21), w = Sample.normal([3, 5], seed: 22), bias = Sample.normal([3], seed: 23)
        let g = Tensor([Float](repeating: 1.005859375, count: 21), shape: [7, 3])
        func run() -> [Float] {
            let bv = bias.contiguousCopy().requiringGrad()
            withPrecision(.bf16) { x.linear(weight: w, bias: bv) }.backward(g)
            return bv.grad!.scalars
        }
        #expect(run() == [7.0625, 7.0625, 7.0625])
        #expect(Autocast.withEmulatedBF16 { run() } == [7.0625, 7.0625, 7.0625])
    }

    @Test func precisionIsScopedAndFloat64IsNeverCast() {
        #expect(Autocast.precision == .float32)
        let a = Tensor([1.00390625, 3], shape: [1, 2]), b = Tensor([1, 1], shape: [2, 1])   // 1 + 2⁻⁸: a tie
        #expect(withPrecision(.bf16) { Autocast.precision } == .bf16)
        #expect(withPrecision(.bf16) { a.matmul(b) }.scalars == [4])          // 1 + 3 after rounding 1 + 2⁻⁸ → 1
        #expect(a.matmul(b).scalars == [4.00390625])
        let a64 = a.to(.float64)
        #expect(withPrecision(.bf16) { a64.matmul(b.to(.float64)) }.doubles == [4.00390625])
    }

    @Test func roundingGradientIsIdentityInFloat64() {
        // Float64 is never cast: the op is the identity there, gradient included.
        let x = Tensor(doubles: [0.3, -1.7, 2.5, 1e-3], shape: [2, 2])
        #expect(gradientMismatch([x]) { $0[0].roundedToBFloat16() * $0[0] } == nil)
    }
}
