// Sum and mean over axes. Other reductions (max, min, variance, argmax) build on the same
// layout helper: the input is viewed as (outer, reduced, inner) blocks.

extension Tensor {
    /// Normalised, sorted, de-duplicated axes; all axes when `axes` is nil.
    func reductionAxes(_ axes: [Int]?, op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        return Array(Set(axes.map { normalizeAxis($0, rank: rank, op: op) })).sorted()
    }

    /// Shape after reducing `axes`, keeping them as size 1 when `keepDims`.
    func reducedShape(_ axes: [Int], keepDims: Bool) -> [Int] {
        var out: [Int] = []
        for (i, d) in shape.enumerated() {
            if axes.contains(i) { if keepDims { out.append(1) } } else { out.append(d) }
        }
        return out
    }

    /// The input permuted so that reduced axes are last, as a contiguous (kept, reduced) matrix.
    /// Returns the matrix pointer owner and the two sizes.
    func reductionMatrix(_ axes: [Int]) -> (data: Tensor, rows: Int, cols: Int) {
        let kept = (0..<rank).filter { !axes.contains($0) }
        let cols = axes.reduce(1) { $0 * shape[$1] }
        let rows = count / Swift.max(cols, 1)
        let isTrailing = kept == Array(0..<kept.count)
        let src = withNoGrad { isTrailing ? contiguous() : permute(kept + axes).contiguous() }
        return (src, rows, cols)
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "sum")
        let outShape = reducedShape(ax, keepDims: keepDims)
        let out = Tensor(zeros: outShape, dtype: dtype)
        func run<T: TensorScalar>(_: T.Type) {
            let o = out.pointer(T.self)
            // Leading axes of a contiguous tensor: accumulate whole rows, no transpose copy.
            let leading = ax == Array(0..<ax.count)
            if leading && isContiguous && !ax.isEmpty {
                let outer = ax.reduce(1) { $0 * shape[$1] }
                let inner = count / Swift.max(outer, 1)
                let x = pointer(T.self)
                parallelFor(inner, grain: Swift.max(1, 65_536 / Swift.max(outer, 1))) { r in
                    for i in 0..<outer {
                        let row = x + i * inner
                        for j in r { o[j] += row[j] }
                    }
                }
                return
            }
            let (m, rows, cols) = reductionMatrix(ax)
            let x = m.pointer(T.self)
            parallelFor(rows, grain: Swift.max(1, 65_536 / Swift.max(cols, 1))) { r in
                for i in r { o[i] = Tensor.sumRow(x + i * cols, cols) }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        let inputShape = shape
        return Tensor.record(out, op: .sum, inputs: [self]) { g in
            let kept = keepDims ? g : g.reshape(self.reducedShape(ax, keepDims: true))
            return [kept.expand(inputShape).contiguous()]
        }
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) * (1.0 / Double(Swift.max(n, 1)))
    }

    /// Sum of a contiguous row with eight independent accumulators (vectorisable, and
    /// closer to pairwise summation than one running sum).
    @inline(__always)
    static func sumRow<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD8<T>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<T>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }
}
