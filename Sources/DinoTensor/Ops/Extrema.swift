// Extrema and spread: max/min over an axis or over all elements, argmax, and variance.
//
// Axis reductions view the (contiguous) input as an (outer, n, inner) block, with the
// reduced dimensions in the middle, and walk it in place: no transpose copy. Each worker
// takes a run of output "lanes" (o, i) and loops k over the n reduced positions outermost, so
// the innermost loop reads a contiguous row `x[o, k, i0..<i1]`. NaN propagates as in
// PyTorch: a NaN is larger (and smaller) than every number, and the first NaN wins.
//
// Gradients follow PyTorch: `max(axis:)`/`min(axis:)` send the gradient to the index they
// return (the first extremum); `max()`/`min()` over all elements split it evenly among ties.

extension Tensor {
    /// Sizes (outer, n, inner) of the contiguous layout where dimensions `first...last` are reduced.
    func laneLayout(first: Int, last: Int) -> (outer: Int, n: Int, inner: Int) {
        (shape[..<first].reduce(1, *), shape[first...last].reduce(1, *), shape[(last + 1)...].reduce(1, *))
    }

    /// This tensor's data as contiguous memory, off the tape (self when already contiguous).
    var contiguousData: Tensor { isContiguous ? self : contiguousCopy() }
}

/// Visits the lanes `(o, i)` of an (outer, n, inner) layout in parallel, as segments
/// `(o, i0..<i1)` of lanes sharing `o`; a kernel loops over the n reduced positions
/// outermost and over the segment innermost, reading `x[(o·n + k)·inner + i]` in rows.
func forEachLaneSegment(outer: Int, n: Int, inner: Int, _ body: (_ o: Int, _ lanes: Range<Int>) -> Void) {
    parallelFor(outer * inner, grain: Swift.max(1, 32_768 / Swift.max(n, 1))) { r in
        var l = r.lowerBound
        while l < r.upperBound {
            let o = l / inner, i0 = l - o * inner
            let i1 = Swift.min(inner, i0 + r.upperBound - l)
            body(o, i0..<i1)
            l += i1 - i0
        }
    }
}

// MARK: - Max and min over an axis, argmax

extension Tensor {
    /// Values and first indices of the extremum along `n` for every lane of an (outer, n, inner)
    /// contiguous block. `better(v, best)` says whether `v` replaces the current `best`.
    @inline(__always)
    static func extremumKernel<T: TensorScalar>(_ x: UnsafePointer<T>, outer: Int, n: Int, inner: Int,
                                               values: UnsafeMutablePointer<T>, indices: UnsafeMutablePointer<Int>,
                                               _ better: (T, T) -> Bool) {
        forEachLaneSegment(outer: outer, n: n, inner: inner) { o, lanes in
            let base = x + o * n * inner
            let vals = values + o * inner, idx = indices + o * inner
            if inner == 1 {
                var best = base[0], bi = 0
                for k in 1..<n where better(base[k], best) {
                    best = base[k]; bi = k
                }
                vals[0] = best; idx[0] = bi
                return
            }
            for i in lanes { vals[i] = base[i]; idx[i] = 0 }
            for k in 1..<n {
                let row = base + k * inner
                for i in lanes where better(row[i], vals[i]) {
                    vals[i] = row[i]; idx[i] = k
                }
            }
        }
    }

    /// The extremum along `axis` with its first index; `isMax` picks max or min.
    func extremum(axis: Int, keepDims: Bool, isMax: Bool, op: String)
        -> (values: Tensor, indices: [Int], outShape: [Int], layout: (outer: Int, n: Int, inner: Int)) {
        let ax = normalizeAxis(axis, rank: rank, op: op)
        // A rank-0 tensor reduces over its one element, as PyTorch allows.
        let layout = rank == 0 ? (outer: 1, n: 1, inner: 1) : laneLayout(first: ax, last: ax)
        precondition(layout.n > 0, "\(op): cannot reduce axis \(axis) of size 0 in \(fmt(shape))")
        let outShape = rank == 0 ? [] : reducedShape([ax], keepDims: keepDims)
        let values = Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(outShape), zeroed: false), shape: outShape)
        var indices = [Int](repeating: 0, count: values.count)
        let src = contiguousData
        indices.withUnsafeMutableBufferPointer { ib in
            let ip = ib.baseAddress!
            switch (dtype, isMax) {
            case (.float32, true):
                Tensor.extremumKernel(src.pointer(Float.self), outer: layout.outer, n: layout.n, inner: layout.inner,
                                      values: values.pointer(Float.self), indices: ip) { v, b in v > b || (v.isNaN && !b.isNaN) }
            case (.float32, false):
                Tensor.extremumKernel(src.pointer(Float.self), outer: layout.outer, n: layout.n, inner: layout.inner,
                                      values: values.pointer(Float.self), indices: ip) { v, b in v < b || (v.isNaN && !b.isNaN) }
            case (.float64, true):
                Tensor.extremumKernel(src.pointer(Double.self), outer: layout.outer, n: layout.n, inner: layout.inner,
                                      values: values.pointer(Double.self), indices: ip) { v, b in v > b || (v.isNaN && !b.isNaN) }
            case (.float64, false):
                Tensor.extremumKernel(src.pointer(Double.self), outer: layout.outer, n: layout.n, inner: layout.inner,
                                      values: values.pointer(Double.self), indices: ip) { v, b in v < b || (v.isNaN && !b.isNaN) }
            }
        }
        return (values, indices, outShape, layout)
    }

    /// Records the extremum along an axis: the gradient goes to the returned (first) index.
    func recordedExtremum(axis: Int, keepDims: Bool, isMax: Bool, op: GradOp) -> Tensor {
        let (values, indices, _, layout) = extremum(axis: axis, keepDims: keepDims, isMax: isMax, op: op.rawValue)
        let inputShape = shape, dt = dtype
        return Tensor.record(values, op: op, inputs: [self]) { g in
            [Tensor.scatterLanes(g, indices: indices, layout: layout, shape: inputShape, dtype: dt)]
        }
    }

    /// Zeros of `shape` with `g[o, i]` written at `[o, indices[o, i], i]` of the (outer, n, inner) layout.
    static func scatterLanes(_ g: Tensor, indices: [Int], layout: (outer: Int, n: Int, inner: Int),
                             shape: [Int], dtype: DType) -> Tensor {
        let out = Tensor.zeros(shape, dtype: dtype)
        let gc = g.contiguousData
        let (n, inner) = (layout.n, layout.inner)
        func run<T: TensorScalar>(_: T.Type) {
            let src = gc.pointer(T.self), dst = out.pointer(T.self)
            indices.withUnsafeBufferPointer { ib in
                parallelFor(ib.count) { r in
                    for l in r {
                        let o = l / inner, i = l - o * inner
                        dst[(o * n + ib[l]) * inner + i] = src[l]
                    }
                }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return out
    }

    /// Largest element along `axis`.
    ///
    /// `y[…] = maxₖ x[…, k, …]`; NaN if the lane holds one. The gradient flows only to the
    /// first position of the maximum (the index `argmax` returns), as `torch.max(input, dim)`.
    /// - Parameters:
    ///   - axis: the dimension to reduce (negative counts from the end).
    ///   - keepDims: keep the reduced dimension with size 1.
    /// Reference: `torch.max(input, dim, keepdim)` (values).
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        recordedExtremum(axis: axis, keepDims: keepDims, isMax: true, op: .max)
    }

    /// Smallest element along `axis`.
    ///
    /// `y[…] = minₖ x[…, k, …]`; NaN if the lane holds one. The gradient flows only to the
    /// first position of the minimum, as `torch.min(input, dim)`.
    /// - Parameters:
    ///   - axis: the dimension to reduce (negative counts from the end).
    ///   - keepDims: keep the reduced dimension with size 1.
    /// Reference: `torch.min(input, dim, keepdim)` (values).
    public func min(axis: Int, keepDims: Bool = false) -> Tensor {
        recordedExtremum(axis: axis, keepDims: keepDims, isMax: false, op: .min)
    }

    /// Index of the largest element along `axis` (the first one when there are ties; a NaN
    /// counts as the largest). Not differentiable.
    ///
    /// `i[…] = argmaxₖ x[…, k, …]`.
    /// - Parameters:
    ///   - axis: the dimension to reduce (negative counts from the end).
    ///   - keepDims: keep the reduced dimension with size 1.
    /// Reference: `torch.argmax(input, dim, keepdim)`.
    public func argmax(axis: Int, keepDims: Bool = false) -> IndexTensor {
        let (_, indices, outShape, _) = extremum(axis: axis, keepDims: keepDims, isMax: true, op: "argmax")
        return IndexTensor(indices, shape: outShape)
    }
}

// MARK: - Max and min over all elements

extension Tensor {
    /// The extremum of all elements, from per-chunk partial results.
    func extremumAll<T: TensorScalar>(_: T.Type, op: String, _ better: (T, T) -> Bool) -> T {
        precondition(count > 0, "\(op): empty tensor of shape \(fmt(shape)) has no extremum")
        let src = contiguousData
        let x = src.pointer(T.self)
        let n = count
        let chunks = Swift.max(1, Swift.min(Threads.count, n / 32_768))
        let size = (n + chunks - 1) / chunks
        var partial = [T](repeating: x[0], count: chunks)
        partial.withUnsafeMutableBufferPointer { pb in
            parallelFor(chunks, grain: 1) { r in
                for c in r {
                    let lo = c * size, hi = Swift.min(n, lo + size)
                    guard lo < hi else { continue }
                    var best = x[lo]
                    for k in (lo + 1)..<hi where better(x[k], best) { best = x[k] }
                    pb[c] = best
                }
            }
        }
        return partial.dropFirst().reduce(partial[0]) { better($1, $0) ? $1 : $0 }
    }

    /// Records an all-elements extremum whose gradient is split evenly among the ties.
    func recordedExtremumAll(isMax: Bool, op: GradOp) -> Tensor {
        let name = isMax ? "max" : "min"   // for messages
        let value: Double
        switch (dtype, isMax) {
        case (.float32, true): value = Double(extremumAll(Float.self, op: name) { v, b in v > b || (v.isNaN && !b.isNaN) })
        case (.float32, false): value = Double(extremumAll(Float.self, op: name) { v, b in v < b || (v.isNaN && !b.isNaN) })
        case (.float64, true): value = extremumAll(Double.self, op: name) { v, b in v > b || (v.isNaN && !b.isNaN) }
        case (.float64, false): value = extremumAll(Double.self, op: name) { v, b in v < b || (v.isNaN && !b.isNaN) }
        }
        let out = Tensor.full([], value, dtype: dtype)
        let x = detach()
        return Tensor.record(out, op: op, inputs: [self]) { g in
            // Ties: the positions equal to the result (NaN positions when the result is NaN).
            let gv = g.doubles[0]
            let isTie = value.isNaN ? { (v: Double) in v.isNaN } : { (v: Double) in v == value }
            let fv = Float(value), fnan = value.isNaN
            let mask = x.map({ (fnan ? $0.isNaN : $0 == fv) ? 1 : 0 }, { isTie($0) ? 1 : 0 })
            let ties = mask.sum().doubles[0]
            return [mask * (gv / ties)]
        }
    }

    /// Largest of all elements, as a rank-0 tensor (NaN if any element is NaN).
    ///
    /// `y = maxᵢ xᵢ`. The gradient is split equally among all positions equal to the maximum
    /// (`∂y/∂xᵢ = 1/#ties` there, 0 elsewhere), as `torch.max(input)` / `torch.amax`.
    /// Reference: `torch.max(input)`.
    public func max() -> Tensor { recordedExtremumAll(isMax: true, op: .maxAll) }

    /// Smallest of all elements, as a rank-0 tensor (NaN if any element is NaN).
    ///
    /// `y = minᵢ xᵢ`. The gradient is split equally among all positions equal to the minimum,
    /// as `torch.min(input)` / `torch.amin`. Reference: `torch.min(input)`.
    public func min() -> Tensor { recordedExtremumAll(isMax: false, op: .minAll) }
}

// MARK: - Variance

extension Tensor {
    /// Variance over `axes` (all when nil), with Bessel-style `correction`.
    ///
    /// `var = Σ (x − x̄)² / max(0, N − correction)` over the N reduced elements (two passes:
    /// mean, then squared deviations); `∂var/∂x = 2(x − x̄)/(N − correction)`. With
    /// `N ≤ correction` the result is ∞ or NaN, as PyTorch.
    /// - Parameters:
    ///   - axes: dimensions to reduce (negative count from the end); nil for all.
    ///   - correction: subtracted from N in the divisor: 1 unbiased (default), 0 biased.
    ///   - keepDims: keep reduced dimensions with size 1.
    /// Reference: `torch.var(input, dim, correction=, keepdim=)`.
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "variance")
        let keptShape = reducedShape(ax, keepDims: true)
        let outShape = reducedShape(ax, keepDims: keepDims)
        let nReduced = ax.reduce(1) { $0 * shape[$1] }
        let divisor = Double(Swift.max(0, nReduced - correction))
        let mean = Tensor(zeros: keptShape, dtype: dtype)
        let out = Tensor(zeros: outShape, dtype: dtype)
        // Consecutive axes reduce in place as (outer, n, inner); others through a (kept, reduced) copy.
        let consecutive = ax.isEmpty || ax.last! - ax.first! == ax.count - 1
        let (src, layout): (Tensor, (outer: Int, n: Int, inner: Int))
        if ax.isEmpty {
            (src, layout) = (contiguousData, (count, 1, 1))
        } else if consecutive {
            (src, layout) = (contiguousData, laneLayout(first: ax.first!, last: ax.last!))
        } else {
            let m = reductionMatrix(ax)
            (src, layout) = (m.data, (m.rows, m.cols, 1))
        }
        func run<T: TensorScalar>(_: T.Type) {
            Tensor.varianceKernel(src.pointer(T.self), outer: layout.outer, n: layout.n, inner: layout.inner,
                                  divisor: T(divisor), mean: mean.pointer(T.self), out: out.pointer(T.self))
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        let x = detach()
        return Tensor.record(out, op: .variance, inputs: [self]) { g in
            let gk = keepDims ? g : g.reshape(keptShape)            // reduced dims kept as 1
            return [(x - mean) * (gk * (2 / divisor))]               // broadcast back to x's shape
        }
    }

    /// Per lane of an (outer, n, inner) block: `mean = Σx/n`, `out = Σ(x − mean)²/divisor`.
    static func varianceKernel<T: TensorScalar>(_ x: UnsafePointer<T>, outer: Int, n: Int, inner: Int, divisor: T,
                                               mean: UnsafeMutablePointer<T>, out: UnsafeMutablePointer<T>) {
        let count = T(n)
        forEachLaneSegment(outer: outer, n: n, inner: inner) { o, lanes in
            let base = x + o * n * inner
            let mp = mean + o * inner, op = out + o * inner
            if inner == 1 {
                let m = Tensor.sumRow(base, n) / count
                var acc = SIMD8<T>(repeating: 0)
                let mv = SIMD8<T>(repeating: m)
                var k = 0
                while k + 8 <= n {
                    let d = UnsafeRawPointer(base + k).loadUnaligned(as: SIMD8<T>.self) - mv
                    acc += d * d
                    k += 8
                }
                var s = acc.sum()
                while k < n { let d = base[k] - m; s += d * d; k += 1 }
                mp[0] = m
                op[0] = s / divisor
                return
            }
            for i in lanes { mp[i] = 0; op[i] = 0 }
            for k in 0..<n {
                let row = base + k * inner
                for i in lanes { mp[i] += row[i] }
            }
            for i in lanes { mp[i] /= count }
            for k in 0..<n {
                let row = base + k * inner
                for i in lanes { let d = row[i] - mp[i]; op[i] += d * d }
            }
            for i in lanes { op[i] /= divisor }
        }
    }
}
