import DinoTensor
import DinoTestSupport
import Testing

/// Float32 products (oneDNN) against a plain triple loop in Double, on every operand layout the
/// BLAS call sees: plain, transposed views, row strides wider than the row (slices), K = 0, and
/// accumulation onto a bias (beta = 1 in `linear`), with 1 and 2 threads. Gradient checks run in
/// Double (OpenBLAS) and do not reach this path.
@Suite struct MatmulFloat32Tests {
    /// (M, K) · (K, N) by the definition, in Double (`scalars` reads views in logical order).
    func reference(_ a: Tensor, _ b: Tensor) -> [Float] {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        let x = a.scalars, y = b.scalars
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += Double(x[i * k + p]) * Double(y[p * n + j]) }
                out[i * n + j] = Float(s)
            }
        }
        return out
    }

    @Test(arguments: [1, 2])
    func everyLayoutMatchesThePlainLoop(threads: Int) {
        Threads.with(threads) {
            let (m, k, n) = (37, 19, 23)
            let a = Sample.uniform([m, k], seed: 11), at = Sample.uniform([k, m], seed: 12).transposed()
            let b = Sample.uniform([k, n], seed: 13), bt = Sample.uniform([n, k], seed: 14).transposed()
            // Row stride 31 > 19 columns, and a transposed view of a slice: leading dimensions wider than the row.
            let aSlice = Sample.uniform([m, 31], seed: 15).slice(axis: 1, start: 5, end: 5 + k)
            let bSliceT = Sample.uniform([n, 40], seed: 16).slice(axis: 1, start: 3, end: 3 + k).transposed()
            for (x, y) in [(a, b), (a, bt), (at, b), (at, bt), (aSlice, b), (a, bSliceT), (aSlice, bSliceT)] {
                let out = x.matmul(y)
                #expect(out.shape == [m, n])
                #expect(mismatch(out.scalars, reference(x, y), rtol: 1e-5, atol: 1e-5) == nil,
                        "strides \(x.strides) · \(y.strides)")
            }
        }
    }

    @Test func productsSplitAcrossThreadsMatchThePlainLoop() {
        // Big enough to be cut into one block per thread: by rows of C when M ≥ N, by columns
        // otherwise, with each operand plain and transposed.
        let tall = (Sample.uniform([160, 120], seed: 17), Sample.uniform([120, 160], seed: 18).transposed())
        let wide = (Sample.uniform([120, 200], seed: 19), Sample.uniform([200, 120], seed: 20).transposed())
        let tallB = Sample.uniform([120, 150], seed: 21), tallBT = Sample.uniform([150, 120], seed: 22).transposed()
        let wideA = Sample.uniform([90, 120], seed: 23), wideAT = Sample.uniform([120, 90], seed: 24).transposed()
        let cases = [(tall.0, tallB), (tall.1, tallBT), (wideA, wide.0), (wideAT, wide.1), (tall.0, tallBT), (wideAT, wide.0)]
        for (x, y) in cases {
            let one = Threads.with(1) { x.matmul(y) }, two = Threads.with(2) { x.matmul(y) }
            #expect(mismatch(two, one, rtol: 1e-5, atol: 1e-5) == nil, "strides \(x.strides) · \(y.strides)")
            #expect(mismatch(two.scalars, reference(x, y), rtol: 1e-5, atol: 1e-4) == nil,
                    "strides \(x.strides) · \(y.strides)")
        }
    }

    @Test func emptyInnerDimensionGivesZerosOrTheBias() {
        let a = Tensor.zeros([3, 0]), b = Tensor.zeros([0, 4])
        #expect(a.matmul(b).scalars == [Float](repeating: 0, count: 12))
        let bias = Tensor([1, 2, 3, 4], shape: [4])
        let y = a.linear(weight: Tensor.zeros([4, 0]), bias: bias)
        #expect(y.scalars == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4])
    }

    @Test func linearAccumulatesOntoTheBias() {
        let x = Sample.uniform([5, 7], seed: 19), w = Sample.uniform([3, 7], seed: 20)
        let bias = Tensor([10, -20, 30], shape: [3])
        let expected = reference(x, w.transposed()).enumerated().map { $0.element + bias.scalars[$0.offset % 3] }
        #expect(mismatch(x.linear(weight: w, bias: bias).scalars, expected, rtol: 1e-5, atol: 1e-5) == nil)
    }

    /// The Float32 `linear` with its bias in oneDNN's product (`Float32Linear`, where this machine
    /// has the kernel) and with the bias broadcast then accumulated onto (runs recorded before):
    /// both the definition's values, cut by rows (tall) and by columns (wide: each block reads its
    /// own columns' bias), plain and strided inputs, short and long K, 1 and 2 threads.
    @Test(arguments: [1, 2])
    func linearWithTheBiasInTheProductMatchesTheBroadcastRoute(threads: Int) {
        Threads.with(threads) {
            for (rows, o, k) in [(300, 40, 768), (20, 300, 768), (300, 40, 19), (20, 300, 19)] {
                let xs = [Sample.uniform([rows, k], seed: 31),
                          Sample.uniform([rows, k + 9], seed: 32).slice(axis: 1, start: 4, end: 4 + k)]
                let w = Sample.uniform([o, k], seed: 33)
                let bias = Tensor((0..<o).map { Float($0 % 7) * 10 - 30 }, shape: [o])
                for x in xs {
                    let expected = reference(x, w.transposed()).enumerated().map { $0.element + bias.scalars[$0.offset % o] }
                    let inProduct = x.linear(weight: w, bias: bias)
                    let broadcast = Float32Linear.withBiasInProduct(false) { x.linear(weight: w, bias: bias) }
                    #expect(mismatch(inProduct.scalars, expected, rtol: 1e-5, atol: 1e-4) == nil, "\(rows)×\(k)·\(k)×\(o)")
                    #expect(mismatch(broadcast.scalars, expected, rtol: 1e-5, atol: 1e-4) == nil, "\(rows)×\(k)·\(k)×\(o)")
                }
            }
        }
    }

    @Test func batchedProductMatchesEachMatrix() {
        let a = Sample.uniform([2, 3, 6, 5], seed: 21), b = Sample.uniform([3, 5, 4], seed: 22)
        let out = a.matmul(b)                                          // (2, 3, 6, 4)
        for i in 0..<2 {
            for h in 0..<3 {
                let ai = a.slice(axis: 0, start: i, end: i + 1).slice(axis: 1, start: h, end: h + 1).reshape([6, 5])
                let bh = b.slice(axis: 0, start: h, end: h + 1).reshape([5, 4])
                let oi = out.slice(axis: 0, start: i, end: i + 1).slice(axis: 1, start: h, end: h + 1).reshape([6, 4])
                #expect(mismatch(oi.scalars, reference(ai, bh), rtol: 1e-5, atol: 1e-5) == nil)
            }
        }
    }
}
