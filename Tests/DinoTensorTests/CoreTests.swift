import Foundation
import DinoTensor
import DinoTestSupport
import Testing

@Suite struct CoreTests {
    @Test func viewsShareStorageAndCopyOnlyWhenNeeded() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let t = x.permute([2, 0, 1])
        #expect(t.shape == [4, 2, 3])
        #expect(t.storage === x.storage)
        #expect(!t.isContiguous)
        #expect(t[3, 1, 2] == x[1, 2, 3])
        let c = t.contiguous()
        #expect(c.isContiguous && c.storage !== x.storage)
        #expect(c[3, 1, 2] == 23)
        let s = x.slice(axis: 2, start: 1, end: 4, step: 2)
        #expect(s.shape == [2, 3, 2] && s.scalars == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23])
        let e = Tensor([1, 2, 3], shape: [3, 1]).expand([2, 3, 4])
        #expect(e.strides == [0, 1, 0] && e[1, 2, 3] == 3)
        #expect(x.reshape([6, -1]).shape == [6, 4])
    }

    @Test func broadcastingAddReducesGradientToInputShape() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]).requiringGrad()
        let b = Tensor([10, 20, 30], shape: [3]).requiringGrad()
        let y = (a + b) * a
        #expect(y.scalars == [11, 44, 99, 56, 125, 216])
        y.sum().backward()
        // d/da (a+b)a = 2a + b; d/db = a summed over rows.
        #expect(a.grad?.scalars == [12, 24, 36, 18, 30, 42])
        #expect(b.grad?.scalars == [5, 7, 9])
        #expect(b.grad?.shape == [3])
    }

    @Test func tensorUsedTwiceGetsSumOfGradientsAndGradsAccumulate() {
        let x = Tensor([2, 3], shape: [2]).requiringGrad()
        (x * x + x).sum().backward()
        #expect(x.grad?.scalars == [5, 7])
        (x * 3).sum().backward()
        #expect(x.grad?.scalars == [8, 10])
        x.zeroGrad()
        #expect(x.grad == nil)
    }

    @Test func adoptedGradientsNeverAliasOtherTensors() {
        // add passes one gradient object to both inputs: each must own its own storage.
        let a = Tensor([1, 2], shape: [2]).requiringGrad(), b = Tensor([3, 4], shape: [2]).requiringGrad()
        ((a + b) * 1).sum().backward()
        #expect(a.grad!.storage !== b.grad!.storage)
        (a * 2).sum().backward()
        (b * 5).sum().backward()
        #expect(a.grad?.scalars == [3, 3] && b.grad?.scalars == [6, 6])
        // A seed the caller keeps is copied, not adopted.
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        let seed = Tensor([5, 6], shape: [2])
        (x + 0).backward(seed)
        (x * 1).sum().backward()
        #expect(x.grad?.scalars == [6, 7] && seed.scalars == [5, 6])
        // A fresh gradient nothing else holds is adopted.
        let y = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        (y * 3).sum().backward()
        #expect(y.grad?.scalars == [3, 3, 3])
    }

    @Test func noGradScopeAndDetachRecordNothing() {
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        let y = withNoGrad { x * 2 }
        #expect(!y.requiresGrad)
        let z = x.detach() * 2
        #expect(!z.requiresGrad)
        #expect((x * 2).requiresGrad)
    }

    @Test func matmulGradientsMatchFiniteDifferences() {
        let a = Sample.uniform([3, 4], seed: 1), b = Sample.uniform([4, 5], seed: 2)
        #expect(gradientMismatch([a, b]) { $0[0].matmul($0[1]) } == nil)
        // Transposed (non-contiguous) operands and batch broadcasting.
        let c = Sample.uniform([2, 5, 4], seed: 3), d = Sample.uniform([5, 3], seed: 4)
        #expect(gradientMismatch([c, d]) { $0[0].transposed().matmul($0[1]) } == nil)
    }

    @Test func linearMatchesMatmulPlusBias() {
        let x = Sample.uniform([2, 3, 4], seed: 5), w = Sample.uniform([6, 4], seed: 6), b = Sample.uniform([6], seed: 7)
        let y = x.linear(weight: w, bias: b)
        let reference = x.matmul(w.transposed()) + b
        #expect(mismatch(y, reference) == nil)
        #expect(gradientMismatch([x, w, b]) { $0[0].linear(weight: $0[1], bias: $0[2]) } == nil)
    }

    @Test func elementwiseAndSumGradients() {
        let a = Sample.uniform([2, 3, 4], seed: 8), b = Sample.uniform([3, 1], seed: 9, low: 0.5, high: 2)
        #expect(gradientMismatch([a, b]) { ($0[0] - $0[1]) / $0[1] } == nil)
        #expect(gradientMismatch([a]) { $0[0].sum(axes: [0, 2], keepDims: true) * 2.5 } == nil)
        #expect(gradientMismatch([a]) { $0[0].permute([2, 0, 1]).mean(axes: [1]) } == nil)
        #expect(gradientMismatch([a]) { $0[0].slice(axis: 1, start: 1, end: 3) } == nil)
    }

    @Test func slicesOfOneTensorSumTheirGradientsInPlace() {
        // q, k, v as attention takes them (three slices of one permuted product), and two
        // overlapping strided slices of a leaf: the engine adds each later slice's gradient into
        // the region of the first one's (GradNode.addIntoInputGradient). The gradients must be the
        // scatter-sums written out by hand, and the finite-difference check must hold.
        let x = Sample.uniform([4, 6, 5], seed: 61)
        let wq = Sample.uniform([4, 2, 5], seed: 62), wk = Sample.uniform([4, 2, 5], seed: 63), wv = Sample.uniform([4, 2, 5], seed: 64)
        let xv = x.contiguousCopy().requiringGrad()
        let qkv = (xv * 1.5).reshape([4, 3, 2, 5]).permute([1, 0, 2, 3])          // (3, 4, 2, 5), not a leaf
        let parts = (0..<3).map { qkv.slice(axis: 0, start: $0, end: $0 + 1).squeeze(0) }
        ((parts[0] * wq).sum() + (parts[1] * wk).sum() + (parts[2] * wv).sum()).backward()
        // d/dx: 1.5 × the weight of whichever slice each element went to.
        let expected = Tensor.concat([wq, wk, wv].map { $0.reshape([4, 1, 2, 5]) }, axis: 1).reshape([4, 6, 5]) * 1.5
        #expect(mismatch(xv.grad!, expected) == nil)

        let leaf = Sample.uniform([9, 3], seed: 65).requiringGrad()
        let a = leaf.slice(axis: 0, start: 0, end: 7, step: 2), b = leaf.slice(axis: 0, start: 3, end: 9)
        (a.sum() * 2 + b.sum() * 3).backward()
        let want: [Float] = (0..<9).flatMap { i -> [Float] in
            let v = Float((i < 7 && i % 2 == 0 ? 2 : 0) + (i >= 3 ? 3 : 0))
            return [v, v, v]
        }
        #expect(leaf.grad!.scalars == want)
        #expect(gradientMismatch([Sample.uniform([9, 3], seed: 66)]) {
            $0[0].slice(axis: 0, start: 0, end: 7, step: 2).sum(axes: [0]) * 2 + $0[0].slice(axis: 0, start: 3, end: 7).sum(axes: [0])
        } == nil)
    }

    @Test func randomDrawsAreIdenticalWhateverTheThreadCount() {
        let one = Threads.with(1) { RandomGenerator(seed: 42).normal([100_003]).scalars }
        let two = Threads.with(2) { RandomGenerator(seed: 42).normal([100_003]).scalars }
        #expect(one == two)
        let g = RandomGenerator(seed: 42)
        _ = g.uniform([10])
        let next = g.uniform([10]).scalars
        #expect(next != RandomGenerator(seed: 42).uniform([10]).scalars)
        #expect(RandomGenerator(seed: 42, offset: g.offset - 3).uniform([10]).scalars == next)
    }
}

@Suite struct RandomRestoreTests {
    @Test func restoreContinuesTheSavedStream() throws {
        let g = RandomGenerator(seed: 42)
        _ = g.normal([10])
        let saved = try JSONDecoder().decode(RandomGenerator.self, from: JSONEncoder().encode(g))
        let expected = g.uniform([7]).scalars
        let live = RandomGenerator(seed: 42)     // a generator held elsewhere, at another position
        _ = live.uniform([100])
        live.restore(saved)
        #expect(live.uniform([7]).scalars == expected)
    }
}
