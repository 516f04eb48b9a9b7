import DinoTensor
import DinoTestSupport
import Testing

/// Plain multi-index loops that the index-op tests compare against (shared by JoinTests,
/// IndexTests and PadDropoutTests).
enum IndexOpsLoops {
    /// The row-major multi-index of flat position `p` in `shape`.
    static func multiIndex(_ p: Int, _ shape: [Int]) -> [Int] {
        var m = [Int](repeating: 0, count: shape.count)
        var rem = p
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            m[d] = rem % shape[d]
            rem /= shape[d]
        }
        return m
    }

    /// The row-major flat position of multi-index `m` in `shape`.
    static func flat(_ m: [Int], _ shape: [Int]) -> Int {
        var p = 0
        for d in 0..<shape.count { p = p * shape[d] + m[d] }
        return p
    }

    /// `out[m] = f(m)` for every multi-index of `shape`, in row-major order.
    static func build(_ shape: [Int], _ f: ([Int]) -> Float) -> [Float] {
        (0..<shapeCount(shape)).map { f(multiIndex($0, shape)) }
    }
}

@Suite struct JoinTests {
    typealias L = IndexOpsLoops

    @Test func concatMatchesLoopOnEveryAxisIncludingEmptyAndNegative() {
        let shapes: [[Int]] = [[2, 3, 4], [2, 1, 4], [2, 0, 4], [2, 2, 4]]
        for axis in [1, -2] {
            let ts = shapes.enumerated().map { Sample.uniform($0.element, seed: UInt64(10 + $0.offset)) }
            let out = Tensor.concat(ts, axis: axis)
            #expect(out.shape == [2, 6, 4])
            let values = ts.map { $0.scalars }
            var owner: [(k: Int, local: Int)] = []                // along the joined axis
            for (k, sh) in shapes.enumerated() { for i in 0..<sh[1] { owner.append((k, i)) } }
            let expected = L.build([2, 6, 4]) { m in
                let (k, local) = owner[m[1]]
                return values[k][L.flat([m[0], local, m[2]], shapes[k])]
            }
            #expect(mismatch(out.scalars, expected) == nil)
        }
        // Last axis, by hand.
        let a = Tensor([1, 2, 3, 4], shape: [2, 2]), b = Tensor([5, 6], shape: [2, 1])
        #expect(Tensor.concat([a, b], axis: -1).scalars == [1, 2, 5, 3, 4, 6])
        #expect(Tensor.concat([a, b.transposed()], axis: 0).scalars == [1, 2, 3, 4, 5, 6])
        // One input: a copy, not the input itself.
        let single = Tensor.concat([a])
        #expect(single.scalars == a.scalars && single.storage !== a.storage)
    }

    @Test func concatOfNonContiguousInputs() {
        let x = Sample.uniform([3, 4, 2], seed: 1)
        let p = x.permute([2, 0, 1])                             // (2, 3, 4), strided
        let s = Sample.uniform([2, 3, 9], seed: 2).slice(axis: 2, start: 1, end: 9, step: 3)  // (2, 3, 3)
        let out = Tensor.concat([p, s], axis: 2)                 // (2, 3, 7)
        let expected = L.build([2, 3, 7]) { m in
            m[2] < 4 ? p[m[0], m[1], m[2]] : s[m[0], m[1], m[2] - 4]
        }
        #expect(out.shape == [2, 3, 7] && mismatch(out.scalars, expected) == nil)
    }

    @Test func concatGradients() {
        let a = Sample.uniform([3, 2, 4], seed: 3), b = Sample.uniform([2, 4, 3], seed: 4), c = Sample.uniform([2, 0, 4], seed: 5)
        #expect(gradientMismatch([a, b, c]) { t in
            Tensor.concat([t[0].permute([1, 0, 2]), t[1].transposed(), t[2]], axis: 1)
        } == nil)
        // The same tensor twice gets both slices' gradients.
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        (Tensor.concat([x, x]) * Tensor([1, 2, 3, 4], shape: [4])).sum().backward()
        #expect(x.grad?.scalars == [4, 6])
    }

    @Test func stackAddsANewAxis() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor([7, 8, 9, 10, 11, 12], shape: [2, 3])
        let s0 = Tensor.stack([a, b])
        #expect(s0.shape == [2, 2, 3] && s0.scalars == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        let s1 = Tensor.stack([a, b], axis: 1)
        #expect(s1.shape == [2, 2, 3] && s1.scalars == [1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12])
        let last = Tensor.stack([a, b], axis: -1)
        #expect(last.shape == [2, 3, 2] && last.scalars == [1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12])
        let one = Tensor.stack([a], axis: 2)
        #expect(one.shape == [2, 3, 1] && one.scalars == a.scalars)
        let x = Sample.uniform([3, 2], seed: 6), y = Sample.uniform([2, 3], seed: 7)
        #expect(gradientMismatch([x, y]) { t in Tensor.stack([t[0].transposed(), t[1], t[1]], axis: -1) } == nil)
    }

    @Test func splitReturnsViewsWithSizes() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 4, 3])
        let parts = x.split(sizes: [1, 0, 3], axis: 1)
        #expect(parts.map(\.shape) == [[2, 1, 3], [2, 0, 3], [2, 3, 3]])
        #expect(parts.allSatisfy { $0.storage === x.storage })
        #expect(parts[0].scalars == [0, 1, 2, 12, 13, 14])
        let lastPiece = L.build([2, 3, 3]) { m in Float(m[0] * 12 + (m[1] + 1) * 3 + m[2]) }
        #expect(parts[2].scalars == lastPiece)
        let lastAxis = x.split(sizes: [2, 1], axis: -1)
        let thirdColumn: [Float] = (0..<8).map { Float($0 * 3 + 2) }
        #expect(lastAxis[1].scalars == thirdColumn)
        // Gradient of pieces used differently; the empty piece takes no part.
        let a = Sample.uniform([3, 5], seed: 8)
        #expect(gradientMismatch([a]) { t in
            let p = t[0].transposed().split(sizes: [2, 0, 3], axis: 0)   // on a strided input
            return Tensor.concat([p[2] * 3, p[0], p[1]], axis: 0)
        } == nil)
    }

    @Test func chunkFollowsTorchSizes() {
        func sizes(_ n: Int, _ chunks: Int) -> [Int] {
            Tensor.zeros([2, n]).chunk(chunks, axis: -1).map { $0.shape[1] }
        }
        #expect(sizes(7, 5) == [2, 2, 2, 1])
        #expect(sizes(6, 4) == [2, 2, 2])       // fewer chunks than asked
        #expect(sizes(5, 2) == [3, 2])
        #expect(sizes(6, 3) == [2, 2, 2])
        #expect(sizes(3, 5) == [1, 1, 1])
        #expect(sizes(4, 1) == [4])
        #expect(sizes(0, 3) == [0, 0, 0])
        let x = Tensor((0..<10).map(Float.init), shape: [5, 2])
        let c = x.chunk(2)
        #expect(c[0].scalars == [0, 1, 2, 3, 4, 5] && c[1].scalars == [6, 7, 8, 9])
        let a = Sample.uniform([4, 7], seed: 9)
        #expect(gradientMismatch([a]) { t in
            let p = t[0].chunk(3, axis: 1)                       // widths 3, 3, 1
            return p[0] * p[1] + p[2]
        } == nil)
    }
}
