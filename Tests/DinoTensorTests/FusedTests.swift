import DinoTensor
import DinoTestSupport
import Foundation
import Testing

// Checks of the fused softmax, log-softmax, layer norm, GELU and cross-entropy:
// gradients in Double by finite differences; the Float32 kernels against the Float64 path
// and against plain compositions written out below; extreme inputs.

/// Plain loops in Double, independent of the library: the compositions the fused ops replace.
enum Plain {
    /// Softmax of each row of a (rows, n) array.
    static func softmax(_ x: [Double], n: Int) -> [Double] {
        var y = x
        for r in 0..<(x.count / n) {
            let row = x[(r * n)..<(r * n + n)]
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for (j, v) in e.enumerated() { y[r * n + j] = v / s }
        }
        return y
    }

    static func logSoftmax(_ x: [Double], n: Int) -> [Double] {
        softmax(x, n: n).map { Foundation.log($0) }
    }

    /// Layer norm of each row with the biased variance.
    static func layerNorm(_ x: [Double], n: Int, weight: [Double]?, bias: [Double]?, eps: Double) -> [Double] {
        var y = x
        for r in 0..<(x.count / n) {
            let row = Array(x[(r * n)..<(r * n + n)])
            let mean = row.reduce(0, +) / Double(n)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            for j in 0..<n {
                y[r * n + j] = (row[j] - mean) / (variance + eps).squareRoot() * (weight?[j] ?? 1) + (bias?[j] ?? 0)
            }
        }
        return y
    }

    static func gelu(_ x: Double) -> Double { 0.5 * x * Foundation.erfc(-x / 2.0.squareRoot()) }

    static func geluTanh(_ x: Double) -> Double {
        0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
}

/// Runs `f` on Float32 and Float64 copies of `inputs`, with the same output gradient, and
/// compares the outputs and the input gradients.
func float32MatchesFloat64(_ inputs: [Tensor], rtol: Float = 1e-5, atol: Float = 1e-6,
                           _ f: ([Tensor]) -> Tensor) -> String? {
    let x32 = inputs.map { $0.to(.float32).contiguousCopy().requiringGrad() }
    let x64 = inputs.map { $0.to(.float64).contiguousCopy().requiringGrad() }
    let y32 = f(x32), y64 = f(x64)
    if let m = mismatch(y32, y64, rtol: rtol, atol: atol) { return "forward: \(m)" }
    let seed = Sample.uniform(y32.shape, seed: 99, dtype: .float64)
    y32.backward(seed.to(.float32))
    y64.backward(seed)
    for (i, (a, b)) in zip(x32, x64).enumerated() {
        guard let ga = a.grad, let gb = b.grad else { return "input \(i): missing gradient" }
        if let m = mismatch(ga, gb, rtol: rtol, atol: atol) { return "gradient of input \(i): \(m)" }
    }
    return nil
}

@Suite struct SoftmaxTests {
    @Test func gradientsOnEitherAxisAndOnStridedInputs() {
        let x = Sample.normal([3, 5, 4], seed: 11)
        #expect(gradientMismatch([x]) { $0[0].softmax(axis: -1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].softmax(axis: 0) } == nil)
        #expect(gradientMismatch([x]) { $0[0].logSoftmax(axis: 1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].permute([2, 0, 1]).softmax(axis: -1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed(0, 2).logSoftmax(axis: -1) } == nil)
    }

    @Test func float32KernelsMatchPlainLoops() {
        // Row lengths below, at and across the 16-float vector width.
        for n in [1, 7, 16, 37, 100] {
            let x = Sample.normal([6, n], seed: UInt64(n)) * 3
            let expected = Plain.softmax(x.doubles, n: n)
            #expect(mismatch(x.softmax().scalars, expected.map(Float.init), rtol: 1e-5, atol: 1e-7) == nil)
            let expectedLog = Plain.logSoftmax(x.doubles, n: n)
            #expect(mismatch(x.logSoftmax().scalars, expectedLog.map(Float.init), rtol: 1e-5, atol: 1e-6) == nil)
        }
        // Axis 0: the rows are the columns.
        let x = Sample.normal([5, 3], seed: 3)
        let columns = Plain.softmax(x.transposed().contiguous().doubles, n: 5)
        #expect(mismatch(x.softmax(axis: 0).transposed().contiguous().scalars, columns.map(Float.init)) == nil)
    }

    @Test func float32MatchesFloat64ForwardAndBackward() {
        for shape in [[4, 33], [3, 1024], [2, 3, 5]] {
            let x = Sample.normal(shape, seed: 5) * 4
            #expect(float32MatchesFloat64([x]) { $0[0].softmax() } == nil)
            #expect(float32MatchesFloat64([x]) { $0[0].logSoftmax() } == nil)
            #expect(float32MatchesFloat64([x]) { $0[0].softmax(axis: 0) } == nil)
        }
    }

    @Test func extremeLogitsAndMasks() {
        let inf = Float.infinity
        let x = Tensor([1e4, -1e4, 0, 1e4 - 1,
                        -inf, 2, -inf, 2,
                        -1e4, -1e4, -1e4, -1e4], shape: [3, 4])
        let e = Float(M_E)
        let y = x.softmax()
        #expect(mismatch(y.scalars, [e / (e + 1), 0, 0, 1 / (e + 1),
                                     0, 0.5, 0, 0.5,
                                     0.25, 0.25, 0.25, 0.25]) == nil)
        let ly = x.logSoftmax().scalars
        #expect(ly[4] == -inf && ly[6] == -inf)
        #expect(abs(ly[5] - -Float(M_LN2)) < 1e-6 && abs(ly[1] - (-2e4 - Float(Foundation.log(1 + M_E)) + 1)) < 2)
        #expect(ly.allSatisfy { !$0.isNaN })
        // A masked row of 37 (vector tail) and its gradient: masked entries get none.
        var values = [Float](repeating: -inf, count: 37)
        values[3] = 1; values[36] = 2; values[20] = 0.5
        let m = Tensor(values, shape: [1, 37]).requiringGrad()
        let p = m.softmax()
        let expected = Plain.softmax(values.map(Double.init), n: 37)
        #expect(mismatch(p.scalars, expected.map(Float.init)) == nil)
        (p * Sample.uniform([1, 37], seed: 8)).sum().backward()
        let g = m.grad!.scalars
        #expect(g.enumerated().allSatisfy { values[$0.offset] == -inf ? $0.element == 0 : !$0.element.isNaN })
        // A row of only −∞ is NaN, as in PyTorch.
        let allMasked = Tensor([-inf, -inf], shape: [1, 2]).softmax().scalars
        #expect(allMasked[0].isNaN && allMasked[1].isNaN)
    }
}

@Suite struct LayerNormTests {
    @Test func gradientsWithAndWithoutParameters() {
        let x = Sample.normal([3, 2, 5], seed: 21), w = Sample.normal([5], seed: 22), b = Sample.normal([5], seed: 23)
        #expect(gradientMismatch([x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) } == nil)
        #expect(gradientMismatch([x]) { $0[0].layerNorm(weight: nil, bias: nil) } == nil)
        #expect(gradientMismatch([x, w]) { $0[0].layerNorm(weight: $0[1], bias: nil, eps: 1e-3) } == nil)
        // Non-contiguous input: normalise over what was the first dimension.
        let t = Sample.normal([5, 4], seed: 24)
        #expect(gradientMismatch([t, w, b]) { $0[0].transposed().layerNorm(weight: $0[1], bias: $0[2]) } == nil)
    }

    @Test func float32KernelMatchesPlainLoops() {
        for n in [3, 16, 37, 384] {
            let x = Sample.normal([5, n], seed: UInt64(n)) * 2 + 7
            let w = Sample.normal([n], seed: 1), b = Sample.normal([n], seed: 2)
            let expected = Plain.layerNorm(x.doubles, n: n, weight: w.doubles, bias: b.doubles, eps: 1e-5)
            #expect(mismatch(x.layerNorm(weight: w, bias: b).scalars, expected.map(Float.init), rtol: 1e-5, atol: 2e-6) == nil)
            let plain = Plain.layerNorm(x.doubles, n: n, weight: nil, bias: nil, eps: 1e-5)
            #expect(mismatch(x.layerNorm(weight: nil, bias: nil).scalars, plain.map(Float.init), rtol: 1e-5, atol: 2e-6) == nil)
        }
    }

    @Test func float32MatchesFloat64ForwardAndBackward() {
        for n in [37, 1024] {
            let x = Sample.normal([130, n], seed: 31), w = Sample.normal([n], seed: 32), b = Sample.normal([n], seed: 33)
            #expect(float32MatchesFloat64([x, w, b], rtol: 1e-5, atol: 1e-5) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) } == nil)
            #expect(float32MatchesFloat64([x], rtol: 1e-5, atol: 1e-5) { $0[0].layerNorm(weight: nil, bias: nil) } == nil)
        }
    }

    @Test func parameterGradientsDoNotDependOnThreadCount() {
        let x = Sample.normal([1500, 48], seed: 41), w = Sample.normal([48], seed: 42), b = Sample.normal([48], seed: 43)
        let g = Sample.normal([1500, 48], seed: 44)
        func grads(_ threads: Int) -> [[Float]] {
            Threads.with(threads) {
                let (xx, ww, bb) = (x.detach().requiringGrad(), w.detach().requiringGrad(), b.detach().requiringGrad())
                xx.layerNorm(weight: ww, bias: bb).backward(g)
                return [xx.grad!.scalars, ww.grad!.scalars, bb.grad!.scalars]
            }
        }
        #expect(grads(1) == grads(2))
    }
}

@Suite struct GELUTests {
    @Test func gradientsOfBothForms() {
        let x = Sample.normal([4, 6], seed: 51) * 2
        #expect(gradientMismatch([x]) { $0[0].gelu() } == nil)
        #expect(gradientMismatch([x]) { $0[0].gelu(approximate: .tanh) } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed().gelu(approximate: .tanh) } == nil)
    }

    @Test func knownValues() {
        // Φ(1) = 0.841344746068543, Φ(−1) = 0.158655253931457.
        let y = Tensor([0, 1, -1, 3], shape: [4]).gelu().scalars
        #expect(mismatch(y, [0, 0.841344746068543, -0.158655253931457, 3 * 0.998650101968370]) == nil)
        let xs: [Double] = [-3, -0.5, 0.25, 2]
        let t = Tensor(xs.map(Float.init), shape: [4]).gelu(approximate: .tanh).scalars
        #expect(mismatch(t, xs.map { Float(Plain.geluTanh($0)) }) == nil)
    }

    @Test func float32MatchesFloat64AndPlainFormulasUpToTwenty() {
        let values = (0..<4001).map { -20 + 0.01 * Double($0) }   // includes 0 and ±20
        let x = Tensor(doubles: values, shape: [values.count])
        for form in GELUApproximation.allCases {
            #expect(float32MatchesFloat64([x], rtol: 1e-5, atol: 1e-7) { $0[0].gelu(approximate: form) } == nil)
        }
        // Against erfc in Double at the same (Float-rounded) inputs: 1e-6 relative, far tails included.
        let exact = x.to(.float32).gelu().doubles
        let rounded = values.map { Double(Float($0)) }
        #expect(mismatch(doubles: exact, rounded.map(Plain.gelu), rtol: 1e-6, atol: 1e-30) == nil)
        // Far tails: the identity and zero, with derivatives 1 and 0.
        let tails = Tensor([20, -20, 12, -12], shape: [4]).requiringGrad()
        for form in GELUApproximation.allCases {
            tails.zeroGrad()
            let y = tails.gelu(approximate: form)
            y.sum().backward()
            let (v, g) = (y.scalars, tails.grad!.scalars)
            #expect(v[0] == 20 && v[2] == 12 && abs(v[1]) < 1e-30 && abs(v[3]) < 1e-25)
            #expect(g[0] == 1 && g[2] == 1 && abs(g[1]) < 1e-30 && abs(g[3]) < 1e-25)
        }
    }
}

@Suite struct CrossEntropyTests {
    @Test func softTargetsGradientsAndValue() {
        let logits = Sample.normal([3, 5], seed: 61)
        let targets = Sample.uniform([3, 5], seed: 62, low: 0, high: 1)
        #expect(gradientMismatch([logits, targets]) { Tensor.crossEntropy(logits: $0[0], targets: $0[1]) } == nil)
        #expect(gradientMismatch([logits, targets]) { Tensor.crossEntropy(logits: $0[0], targets: $0[1], axis: 0) } == nil)
        #expect(gradientMismatch([logits, targets]) {
            Tensor.crossEntropy(logits: $0[0].transposed(), targets: $0[1].transposed(), axis: 0)
        } == nil)
        let ls = Plain.logSoftmax(logits.doubles, n: 5), t = targets.doubles
        var expected = [Double](repeating: 0, count: 3)
        for r in 0..<3 {
            for j in 0..<5 { expected[r] -= t[r * 5 + j] * ls[r * 5 + j] }
        }
        let loss = Tensor.crossEntropy(logits: logits, targets: targets)
        #expect(loss.shape == [3])
        #expect(mismatch(loss.scalars, expected.map(Float.init)) == nil)
    }

    @Test func hardLabelsEqualOneHotSoftTargets() {
        let labels = [2, 0, 4, 4]
        var onehot = [Float](repeating: 0, count: 20)
        for (i, l) in labels.enumerated() { onehot[i * 5 + l] = 1 }
        let a = Sample.normal([4, 5], seed: 71).requiringGrad()
        let b = a.detach().requiringGrad()
        let hard = Tensor.crossEntropy(logits: a, labels: labels)
        let soft = Tensor.crossEntropy(logits: b, targets: Tensor(onehot, shape: [4, 5])).mean()
        #expect(hard.shape == [])
        #expect(mismatch(hard, soft) == nil)
        hard.backward()
        soft.backward()
        #expect(mismatch(a.grad!, b.grad!) == nil)
        #expect(gradientMismatch([a]) { Tensor.crossEntropy(logits: $0[0], labels: labels) } == nil)
        // −log softmax of the true class, by hand: uniform logits give log 5.
        #expect(abs(Tensor.crossEntropy(logits: Tensor.zeros([2, 5]), labels: [1, 3]).item() - Float(Foundation.log(5.0))) < 1e-6)
    }

    /// The fused loss with an ignore index gives the numbers of the composition it replaces in
    /// the segmentation probe (indexSelect of the kept rows, then crossEntropy), loss and
    /// gradients, bit for bit: one class count under a vector (5), one with a vector and a tail
    /// (27, the probe's), one of two vectors and a tail (40); an upstream gradient other than 1.
    @Test func ignoreIndexMatchesTheKeptRowsComposition() {
        for (classes, seed) in [(5, UInt64(81)), (27, 82), (40, 83)] {
            let rows = 37
            let draw = RandomGenerator(seed: seed + 100)
            let labels = (0..<rows).map { i in i % 4 == 1 ? 255 : draw.nextInt(classes) }
            let kept = labels.indices.filter { labels[$0] != 255 }
            let a = (Sample.normal([rows, classes], seed: seed) * 3).detach().requiringGrad()
            let b = a.detach().requiringGrad()
            let fused = Tensor.crossEntropy(logits: a, labels: labels, ignoreIndex: 255)
            let composed = Tensor.crossEntropy(logits: b.indexSelect(axis: 0, indices: kept), labels: kept.map { labels[$0] })
            #expect(fused.shape == [] && fused.item() == composed.item(), "\(classes) classes: \(fused.item()) vs \(composed.item())")
            (fused * 0.75).backward()
            (composed * 0.75).backward()
            #expect(a.grad!.scalars == b.grad!.scalars, "\(classes) classes: gradients differ")
            // Ignored rows get no gradient.
            let g = a.grad!.scalars
            #expect((0..<rows).filter { labels[$0] == 255 }.allSatisfy { r in (0..<classes).allSatisfy { g[r * classes + $0] == 0 } })
        }
        // Nothing kept: NaN, as PyTorch's mean over no element, and no gradient.
        let none = Tensor.zeros([3, 4]).requiringGrad()
        let loss = Tensor.crossEntropy(logits: none, labels: [-100, -100, -100], ignoreIndex: -100)
        #expect(loss.item().isNaN)
        loss.backward()
        #expect(none.grad!.scalars.allSatisfy { $0 == 0 })
    }

    @Test func ignoreIndexGradient() {
        let labels = [2, 255, 0, 4, 255, 1]
        #expect(gradientMismatch([Sample.normal([6, 5], seed: 91)]) {
            Tensor.crossEntropy(logits: $0[0], labels: labels, ignoreIndex: 255)
        } == nil)
        // In Float64 too, the mean over the kept rows of −log softmax at the label.
        let x = Sample.normal([6, 5], seed: 91, dtype: .float64)
        let ls = Plain.logSoftmax(x.doubles, n: 5)
        let expected = -(ls[0 * 5 + 2] + ls[2 * 5 + 0] + ls[3 * 5 + 4] + ls[5 * 5 + 1]) / 4
        #expect(abs(Tensor.crossEntropy(logits: x, labels: labels, ignoreIndex: 255).doubles[0] - expected) < 1e-12)
    }
}
