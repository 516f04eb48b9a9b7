import DinoTensor
import DinoTestSupport
import Testing

@Suite struct IndexTests {
    typealias L = IndexOpsLoops

    /// Random indices in `0..<bound` with the given shape.
    func randomIndex(_ shape: [Int], bound: Int, seed: UInt64) -> IndexTensor {
        let g = RandomGenerator(seed: seed)
        return IndexTensor((0..<shapeCount(shape)).map { _ in g.nextInt(bound) }, shape: shape)
    }

    // MARK: indexSelect

    @Test func indexSelectMatchesLoopWithRepeatsOnAnyAxis() {
        let x = Sample.uniform([3, 4, 5], seed: 1)
        let v = x.scalars
        for (axis, indices) in [(0, [2, 0, 2]), (1, [3, 3, 1, 0, 3]), (-1, [4, 0]), (2, [Int]())] {
            let ax = (axis + 3) % 3
            let out = x.indexSelect(axis: axis, indices: indices)
            var shape = x.shape
            shape[ax] = indices.count
            let expected = L.build(shape) { m in
                var src = m
                src[ax] = indices[m[ax]]
                return v[L.flat(src, x.shape)]
            }
            #expect(out.shape == shape && mismatch(out.scalars, expected) == nil)
        }
        // Non-contiguous input: a permuted view.
        let p = x.permute([2, 0, 1])                             // (5, 3, 4)
        let sel = p.indexSelect(axis: 1, indices: [1, 1, 2])
        #expect(mismatch(sel.scalars, L.build([5, 3, 4]) { m in p[m[0], [1, 1, 2][m[1]], m[2]] }) == nil)
    }

    @Test func indexSelectGradientAccumulatesRepeats() {
        let x = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        x.indexSelect(axis: 0, indices: [0, 0, 2, 0]).sum().backward()
        #expect(x.grad?.scalars == [3, 0, 1])
        let a = Sample.uniform([4, 3, 2], seed: 2)
        #expect(gradientMismatch([a]) { $0[0].indexSelect(axis: 1, indices: [2, 0, 2, 2]) } == nil)
        #expect(gradientMismatch([a]) { $0[0].indexSelect(axis: 0, indices: [3, 3, 1]) } == nil)
        #expect(gradientMismatch([a]) { $0[0].transposed(0, 2).indexSelect(axis: -1, indices: [0, 3, 0]) } == nil)
        #expect(gradientMismatch([a]) { $0[0].indexSelect(axis: 2, indices: []) * 2 + 1 } == nil)
    }

    @Test func indexSelectLargeMatchesLoopAndGradient() {
        // Large enough that the copy and the index-add run over several threads, on both the
        // outer-block path (axis 1) and the column path (axis 0).
        let x = Sample.uniform([64, 40, 64], seed: 3)
        let v = x.scalars
        let indices = (0..<60).map { ($0 * 7) % 40 }
        for axis in [0, 1] {
            let idx = axis == 0 ? indices.map { $0 % 64 } : indices
            let xg = x.detach().requiringGrad()
            let out = xg.indexSelect(axis: axis, indices: idx)
            var shape = x.shape
            shape[axis] = idx.count
            let expected = L.build(shape) { m in
                var src = m
                src[axis] = idx[m[axis]]
                return v[L.flat(src, x.shape)]
            }
            #expect(mismatch(out.scalars, expected) == nil)
            out.sum().backward()
            var hits = [Float](repeating: 0, count: x.shape[axis])
            for i in idx { hits[i] += 1 }
            let grad = L.build(x.shape) { m in hits[m[axis]] }
            #expect(mismatch(xg.grad!.scalars, grad) == nil)
        }
    }

    // MARK: gather

    @Test func gatherMatchesTorchExampleAndLoop() {
        let t = Tensor([1, 2, 3, 4], shape: [2, 2])
        #expect(t.gather(axis: 1, index: IndexTensor([0, 0, 1, 0], shape: [2, 2])).scalars == [1, 1, 4, 3])
        let x = Sample.uniform([3, 4, 5], seed: 4)
        for axis in [0, 1, 2, -1] {
            let ax = (axis + 3) % 3
            var ishape = [2, 3, 4]                                // smaller than x outside the axis
            ishape[ax] = 6                                        // larger than x along it
            let index = randomIndex(ishape, bound: x.shape[ax], seed: UInt64(20 + ax))
            for input in [x, x.permute([1, 2, 0]).permute([2, 0, 1])] {   // contiguous, then strided
                let out = input.gather(axis: axis, index: index)
                let expected = L.build(ishape) { m in
                    var src = m
                    src[ax] = index.indices[L.flat(m, ishape)]
                    return x[src[0], src[1], src[2]]
                }
                #expect(out.shape == ishape && mismatch(out.scalars, expected) == nil)
            }
        }
        let empty = x.gather(axis: 1, index: IndexTensor([], shape: [3, 0, 5]))
        #expect(empty.shape == [3, 0, 5])
    }

    @Test func gatherGradientScattersRepeats() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad()
        x.gather(axis: 0, index: IndexTensor([1, 1, 1, 0, 1, 0], shape: [3, 2])).sum().backward()
        #expect(x.grad?.scalars == [0, 2, 3, 1])
        let a = Sample.uniform([3, 4, 2], seed: 5)
        let index = randomIndex([2, 6, 2], bound: 4, seed: 6)
        #expect(gradientMismatch([a]) { $0[0].gather(axis: 1, index: index) } == nil)
        #expect(gradientMismatch([a]) { $0[0].permute([2, 1, 0]).gather(axis: -1, index: randomIndex([2, 3, 5], bound: 3, seed: 7)) } == nil)
    }

    // MARK: indexAdd

    /// `indexAdd` is the scatter-add of `source * alpha` through a whole-slice index that it
    /// replaces in DropPath, bit for bit (the product rounded before the sum), on both parallel
    /// paths (axis 0 with few outer blocks: by columns; axis 1 and 2: by outer blocks) and with
    /// repeated indices; its gradients by finite differences in Double.
    @Test func indexAddIsTheScatterAddItReplacesAndItsGradient() {
        let cases: [([Int], Int, [Int])] = [([64, 40, 64], 0, (0..<50).map { ($0 * 7) % 64 }),
                                             ([3, 40, 64], 1, [5, 5, 0, 39, 5]), ([6, 5, 4], 2, [3, 1]), ([4, 3], 0, [])]
        for (shape, axis, indices) in cases {
            let x = Sample.normal(shape, seed: 21)
            var sourceShape = shape
            sourceShape[axis] = indices.count
            let source = Sample.normal(sourceShape, seed: 22)
            let alpha = 64.0 / 50.0
            let inner = sourceShape[(axis + 1)...].reduce(1, *), k = Swift.max(indices.count, 1)
            let index = IndexTensor((0..<shapeCount(sourceShape)).map { indices[($0 / inner) % k] }, shape: sourceShape)
            let composed = x.scatterAdd(axis: axis, index: index, source: source * alpha)
            #expect(x.indexAdd(axis: axis, indices: indices, source: source, alpha: alpha).scalars == composed.scalars, "\(shape) axis \(axis)")
        }
        let a = Sample.uniform([4, 3, 2], seed: 23), b = Sample.uniform([4, 5, 2], seed: 24)
        #expect(gradientMismatch([a, b]) { $0[0].indexAdd(axis: 1, indices: [2, 0, 2, 1, 2], source: $0[1], alpha: 0.7) } == nil)
        #expect(gradientMismatch([a, b]) { $0[0].indexAdd(axis: 0, indices: [3, 3, 0, 1], source: $0[1].transposed(0, 1).slice(axis: 0, start: 0, end: 3).transposed(0, 1)) } == nil)
        let x = Tensor([1, 2, 3], shape: [3]).requiringGrad(), s = Tensor([10, 20], shape: [2]).requiringGrad()
        let y = x.indexAdd(axis: 0, indices: [2, 2], source: s, alpha: 0.5)
        #expect(y.scalars == [1, 2, 18])
        (y * Tensor([1, 2, 3], shape: [3])).sum().backward()
        #expect(x.grad?.scalars == [1, 2, 3] && s.grad?.scalars == [1.5, 1.5])
    }

    // MARK: scatterAdd

    @Test func scatterAddMatchesTorchExampleAndLoop() {
        // torch.zeros(3, 5).scatter_add_(0, tensor([[0, 1, 2, 0, 0]]), ones(2, 5))
        let out = Tensor.zeros([3, 5]).scatterAdd(axis: 0, index: IndexTensor([0, 1, 2, 0, 0], shape: [1, 5]),
                                                  source: Tensor.ones([2, 5]))
        #expect(out.scalars == [1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0])
        let x = Sample.uniform([4, 3, 5], seed: 8)
        let source = Sample.uniform([5, 6, 6], seed: 9)
        for axis in [0, 1, 2, -2] {
            let ax = (axis + 3) % 3
            var ishape = [3, 2, 4]
            ishape[ax] = 5
            let index = randomIndex(ishape, bound: x.shape[ax], seed: UInt64(30 + ax))
            let result = x.scatterAdd(axis: axis, index: index, source: source.permute([0, 1, 2]))
            var expected = x.scalars
            for p in 0..<index.count {
                let m = L.multiIndex(p, ishape)
                var dst = m
                dst[ax] = index.indices[p]
                expected[L.flat(dst, x.shape)] += source[m[0], m[1], m[2]]
            }
            #expect(result.shape == x.shape && mismatch(result.scalars, expected) == nil)
        }
        #expect(x.scatterAdd(axis: 0, index: IndexTensor([], shape: [0, 3, 5]), source: source).scalars == x.scalars)
    }

    @Test func scatterAddGradients() {
        let x = Sample.uniform([3, 4], seed: 10), s = Sample.uniform([5, 6], seed: 11)
        let index = randomIndex([3, 3], bound: 4, seed: 12)
        // Source larger than the index: only its corner gets gradient.
        #expect(gradientMismatch([x, s]) { $0[0].scatterAdd(axis: 1, index: index, source: $0[1]) } == nil)
        // Strided source and input, index along axis 0 with repeats.
        let index0 = IndexTensor([0, 2, 0, 0, 2, 2, 1, 0], shape: [2, 4])
        #expect(gradientMismatch([x, s]) { t in
            t[0].scatterAdd(axis: 0, index: index0, source: t[1].transposed().slice(axis: 0, start: 1, end: 3))
        } == nil)
    }

    @Test func scatterAddLargeRepeatsAccumulateOnBothParallelPaths() {
        // Many repeated targets, sizes that split across threads by outer block and by column.
        for (axis, ishape) in [(1, [128, 30, 40]), (0, [30, 80, 60])] {
            let x = Tensor.zeros(axis == 1 ? [128, 8, 40] : [8, 80, 60])
            let index = randomIndex(ishape, bound: 8, seed: 13)
            let source = Sample.uniform(ishape, seed: 14)
            let sv = source.scalars
            var expected = x.scalars
            for p in 0..<index.count {
                var dst = L.multiIndex(p, ishape)
                dst[axis] = index.indices[p]
                expected[L.flat(dst, x.shape)] += sv[p]
            }
            #expect(mismatch(x.scatterAdd(axis: axis, index: index, source: source).scalars, expected, rtol: 1e-5, atol: 1e-5) == nil)
        }
    }

    // MARK: maskedFill

    @Test func maskedFillWithBroadcastMask() {
        let x = Sample.uniform([2, 3, 4], seed: 15)
        let mask = Tensor([1, 0, 0, 1, 0, 1, 1, 0], shape: [2, 1, 4])
        let m = mask.scalars
        for (input, value) in [(x, -7.5), (x.permute([0, 1, 2]), -Double.infinity)] {
            let out = input.maskedFill(mask, value: value)
            let expected = L.build([2, 3, 4]) { i in m[i[0] * 4 + i[2]] != 0 ? Float(value) : x[i[0], i[1], i[2]] }
            #expect(mismatch(out.scalars, expected) == nil)
        }
        // A strided input and a rank-1 mask (broadcast from the last axis).
        let t = x.transposed(0, 2)                               // (4, 3, 2)
        let out = t.maskedFill(Tensor([0, 1], shape: [2]), value: 3)
        #expect(mismatch(out.scalars, L.build([4, 3, 2]) { i in i[2] == 1 ? 3 : t[i[0], i[1], i[2]] }) == nil)
    }

    @Test func maskedFillGradientIsZeroWhereFilled() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad()
        (x.maskedFill(Tensor([0, 1], shape: [1, 2]), value: 9) * 2).sum().backward()
        #expect(x.grad?.scalars == [2, 0, 2, 0])
        let a = Sample.uniform([3, 4], seed: 16)
        let mask = Tensor([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1], shape: [3, 4])   // Float mask, Double input
        #expect(gradientMismatch([a]) { $0[0].maskedFill(mask, value: 0.5) } == nil)
        #expect(gradientMismatch([a]) { $0[0].transposed().maskedFill(Tensor([1, 0, 1], shape: [3]), value: -2) } == nil)
    }

    // MARK: maskedSelect

    @Test func maskedSelectRowMajorWithBroadcasting() {
        let x = Sample.uniform([2, 3, 4], seed: 17)
        let mask = Tensor([1, 0, 1], shape: [3, 1])               // selects rows 0 and 2 of every batch
        let out = x.maskedSelect(mask)
        var expected: [Float] = []
        for b in 0..<2 { for n in [0, 2] { for d in 0..<4 { expected.append(x[b, n, d]) } } }
        #expect(out.shape == [16] && out.scalars == expected)
        // The input broadcasts too: (3, 1) against a (2, 3, 4) mask.
        let y = Tensor([10, 20, 30], shape: [3, 1])
        let full = RandomGenerator(seed: 18).bernoulli([2, 3, 4], p: 0.5)
        let fv = full.scalars
        var selected: [Float] = []
        for p in 0..<24 where fv[p] != 0 { selected.append([10, 20, 30][L.multiIndex(p, [2, 3, 4])[1]]) }
        #expect(y.maskedSelect(full).scalars == selected)
        // Strided input and strided mask.
        let t = x.permute([2, 0, 1]), mt = full.permute([2, 0, 1])
        var strided: [Float] = []
        for p in 0..<24 {
            let m = L.multiIndex(p, [4, 2, 3])
            if mt[m[0], m[1], m[2]] != 0 { strided.append(t[m[0], m[1], m[2]]) }
        }
        #expect(t.maskedSelect(mt).scalars == strided)
        // Empty selection.
        let none = x.maskedSelect(Tensor.zeros([4]))
        #expect(none.shape == [0])
    }

    @Test func maskedSelectGradientScattersBack() {
        let x = Tensor([1, 2, 3], shape: [3, 1]).requiringGrad()
        let mask = Tensor([1, 0, 1, 1, 1, 0], shape: [3, 2])
        (x.maskedSelect(mask) * Tensor([1, 2, 3, 4], shape: [4])).sum().backward()
        // Selected: x0 (w 1), x1 (w 2), x1 (w 3), x2 (w 4): broadcast gradients sum.
        #expect(x.grad?.scalars == [1, 5, 4])
        let a = Sample.uniform([2, 3, 4], seed: 19)
        let m = RandomGenerator(seed: 20).bernoulli([3, 4], p: 0.4)
        #expect(gradientMismatch([a]) { $0[0].maskedSelect(m) } == nil)
        #expect(gradientMismatch([a]) { $0[0].permute([1, 2, 0]).maskedSelect(Tensor([0, 1], shape: [2])) } == nil)
        let empty = Tensor([1, 2], shape: [2]).requiringGrad()
        (empty.maskedSelect(Tensor.zeros([2])).sum() + empty.sum()).backward()
        #expect(empty.grad?.scalars == [1, 1])
    }

    @Test func maskedSelectLargeMatchesLoop() {
        // (B, N, D) tokens with a (B, N, 1) patch mask, as in an iBOT loss; rows run in parallel.
        let x = Sample.uniform([16, 200, 64], seed: 21)
        let mask = RandomGenerator(seed: 22).bernoulli([16, 200, 1], p: 0.3)
        let xv = x.scalars, mv = mask.scalars
        var expected: [Float] = []
        for t in 0..<3200 where mv[t] != 0 { expected.append(contentsOf: xv[(t * 64)..<(t * 64 + 64)]) }
        #expect(x.maskedSelect(mask).scalars == expected)
    }
}
