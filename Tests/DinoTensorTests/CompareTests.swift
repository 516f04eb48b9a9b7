import DinoTensor
import DinoTestSupport
import Testing

@Suite struct CompareTests {
    @Test func comparisonsBroadcastAndGiveMasks() {
        let a = Tensor([1, 2, 3,
                        4, 5, 6], shape: [2, 3])
        let b = Tensor([2, 2, 7], shape: [3])
        #expect(a.eq(b).scalars == [0, 1, 0, 0, 0, 0])
        #expect(a.ne(b).scalars == [1, 0, 1, 1, 1, 1])
        #expect(a.lt(b).scalars == [1, 0, 1, 0, 0, 1])
        #expect(a.le(b).scalars == [1, 1, 1, 0, 0, 1])
        #expect(a.gt(b).scalars == [0, 0, 0, 1, 1, 0])
        #expect(a.ge(b).scalars == [0, 1, 0, 1, 1, 0])
        #expect(a.eq(b).shape == [2, 3] && a.eq(b).dtype == .float32)
        // Column broadcast against a non-contiguous operand.
        let c = Tensor([2, 5], shape: [2, 1])
        #expect(a.transposed().ge(Tensor([3, 4], shape: [2])).scalars == [0, 1, 0, 1, 1, 1])
        #expect(c.lt(a).scalars == [0, 0, 1, 0, 0, 1])
    }

    @Test func scalarComparisonsAndNaN() {
        let x = Tensor([-1, 0, 0.1, .nan], shape: [4])
        #expect(x.eq(0).scalars == [0, 1, 0, 0])
        #expect(x.eq(0.1).scalars == [0, 0, 1, 0])  // 0.1 rounded to Float first, as PyTorch
        #expect(x.ne(0).scalars == [1, 0, 1, 1])     // NaN ≠ anything
        #expect(x.lt(0).scalars == [1, 0, 0, 0])
        #expect(x.le(0).scalars == [1, 1, 0, 0])
        #expect(x.gt(0).scalars == [0, 0, 1, 0])
        #expect(x.ge(0).scalars == [0, 1, 1, 0])
        #expect(x.eq(x).scalars == [1, 1, 1, 0])
        let d = Tensor(doubles: [1, 2], shape: [2])
        #expect(d.gt(1.5).dtype == .float64 && d.gt(1.5).doubles == [0, 1])
    }

    @Test func comparisonsAreNotDifferentiable() {
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        #expect(!x.gt(1).requiresGrad)
        #expect(!x.eq(x * 2).requiresGrad)
    }

    @Test func whereSelectsWithABroadcastCondition() {
        let condition = Tensor([1, 0, 1], shape: [3, 1])                       // (3, 1)
        let a = Tensor([10, 20, 30, 40], shape: [1, 4])                         // (1, 4)
        let b = Tensor([-1, -2, -3, -4,
                        -5, -6, -7, -8,
                        -9, -10, -11, -12], shape: [3, 4])                      // (3, 4)
        let y = Tensor.where(condition, a, b)
        #expect(y.shape == [3, 4])
        #expect(y.scalars == [10, 20, 30, 40, -5, -6, -7, -8, 10, 20, 30, 40])
        // A NaN or non-0/1 condition counts as true.
        let odd = Tensor.where(Tensor([.nan, 2, 0], shape: [3]), Tensor.ones([3]), Tensor.zeros([3]))
        #expect(odd.scalars == [1, 1, 0])
        // Non-contiguous b.
        let bt = b.reshape([4, 3]).transposed()                                  // (3, 4)
        let z = Tensor.where(condition, a, bt)
        #expect(z.scalars == [10, 20, 30, 40, -2, -5, -8, -11, 10, 20, 30, 40])
    }

    @Test func whereGradientsGoToTheSelectedOperand() {
        let a = Tensor([1, 2, 3, 4], shape: [1, 4]).requiringGrad()
        let b = Tensor(zeros: [3, 4]).requiringGrad()
        let condition = Tensor([1, 0, 1], shape: [3, 1])
        Tensor.where(condition, a, b).sum().backward()
        #expect(a.grad?.scalars == [2, 2, 2, 2])                               // two selected rows
        #expect(b.grad?.scalars == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])
        // The condition is no input: a Float32 mask works with Double operands.
        let x = Sample.uniform([3, 4], seed: 41), w = Sample.uniform([4], seed: 42)
        let mask = Sample.uniform([3, 1], seed: 43).gt(0)
        #expect(gradientMismatch([x, w]) { Tensor.where(mask, $0[0], $0[1]) } == nil)
        #expect(gradientMismatch([x, w]) { Tensor.where(mask.transposed(), $0[0].transposed(), $0[1].unsqueeze(1)) } == nil)
        let m2 = Tensor([0, 1, 1, 0], shape: [4])
        #expect(gradientMismatch([x, w]) { Tensor.where(m2, $0[1], $0[0].permute([1, 0]).transposed()) } == nil)
    }
}
