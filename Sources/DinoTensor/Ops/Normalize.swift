// L2 normalisation along an axis, as `torch.nn.functional.normalize(x, p=2, dim, eps)`.
//
// Forward and backward are each one kernel over the (outer, n, inner) layout of Extrema.swift:
// a pass accumulating per-lane sums (‖x‖² forward, ⟨g, x⟩ backward), then a pass writing
// every element. The per-lane norms are kept from the forward pass for the backward.
//
// PyTorch computes `x / ‖x‖.clamp_min(eps)`; clamp_min passes the gradient where ‖x‖ ≥ eps,
// so with d = max(‖x‖, eps):
//   ∂L/∂x = g/d − [‖x‖ ≥ eps] · ⟨g, x⟩/(d²‖x‖) · x
// which is (g − y⟨g, y⟩)/‖x‖ in the usual regime and g/eps in the clamped one.

extension Tensor {
    /// Divides every lane along `axis` by its Euclidean norm, clamped below by `eps`.
    ///
    /// `y = x / max(‖x‖₂, eps)` with the norm over `axis`;
    /// `∂L/∂x = g/d − [‖x‖ ≥ eps]·⟨g, x⟩/(d²‖x‖)·x`, `d = max(‖x‖, eps)` (also right when the
    /// clamp is active, where `y = x/eps` and the gradient is `g/eps`).
    /// - Parameters:
    ///   - axis: the dimension to normalise (default the last).
    ///   - eps: the smallest divisor, keeping near-zero lanes finite.
    /// Reference: `torch.nn.functional.normalize(input, p=2.0, dim=axis, eps=eps)`.
    public func l2Normalized(axis: Int = -1, eps: Double = 1e-12) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, op: "l2Normalized")
        let layout = rank == 0 ? (outer: 1, n: 1, inner: 1) : laneLayout(first: ax, last: ax)
        let x = contiguousData.detach()
        let out = Tensor(storage: TensorStorage(dtype: dtype, count: count, zeroed: false), shape: shape)
        let norms = Tensor(zeros: [layout.outer * layout.inner], dtype: dtype)  // (outer·inner)
        func forward<T: TensorScalar>(_: T.Type) {
            Tensor.l2NormalizeKernel(x.pointer(T.self), layout: layout, eps: T(eps),
                                     norms: norms.pointer(T.self), out: out.pointer(T.self))
        }
        switch dtype {
        case .float32: forward(Float.self)
        case .float64: forward(Double.self)
        }
        let inputShape = shape, dt = dtype
        return Tensor.record(out, op: .l2Normalized, inputs: [self]) { g in
            let gc = g.contiguousData
            let gx = Tensor(storage: TensorStorage(dtype: dt, count: gc.count, zeroed: false), shape: inputShape)
            func backward<T: TensorScalar>(_: T.Type) {
                Tensor.l2NormalizeBackwardKernel(gc.pointer(T.self), x.pointer(T.self), layout: layout, eps: T(eps),
                                                 norms: norms.pointer(T.self), gradInput: gx.pointer(T.self))
            }
            switch dt {
            case .float32: backward(Float.self)
            case .float64: backward(Double.self)
            }
            return [gx]
        }
    }

    /// Sum of `a[k]·b[k]` over a contiguous row, with eight accumulators.
    @inline(__always)
    static func dotRow<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD8<T>(repeating: 0)
        var k = 0
        while k + 8 <= n {
            acc += UnsafeRawPointer(a + k).loadUnaligned(as: SIMD8<T>.self)
                 * UnsafeRawPointer(b + k).loadUnaligned(as: SIMD8<T>.self)
            k += 8
        }
        var s = acc.sum()
        while k < n { s += a[k] * b[k]; k += 1 }
        return s
    }

    /// Forward: `norms[o, i] = ‖x[o, :, i]‖`, `out = x / max(norm, eps)`.
    static func l2NormalizeKernel<T: TensorScalar>(_ x: UnsafePointer<T>, layout: (outer: Int, n: Int, inner: Int),
                                                  eps: T, norms: UnsafeMutablePointer<T>, out: UnsafeMutablePointer<T>) {
        let (n, inner) = (layout.n, layout.inner)
        forEachLaneSegment(outer: layout.outer, n: n, inner: inner) { o, lanes in
            let xb = x + o * n * inner, ob = out + o * n * inner, nb = norms + o * inner
            if inner == 1 {
                let norm = dotRow(xb, xb, n).squareRoot()
                let d = Swift.max(norm, eps)
                nb[0] = norm
                for k in 0..<n { ob[k] = xb[k] / d }
                return
            }
            for i in lanes { nb[i] = 0 }
            for k in 0..<n {
                let row = xb + k * inner
                for i in lanes { nb[i] += row[i] * row[i] }
            }
            for i in lanes { nb[i] = nb[i].squareRoot() }
            for k in 0..<n {
                let row = xb + k * inner, orow = ob + k * inner
                for i in lanes { orow[i] = row[i] / Swift.max(nb[i], eps) }
            }
        }
    }

    /// Backward: `gx = g/d − [norm ≥ eps]·⟨g, x⟩/(d²·norm)·x` per lane, `d = max(norm, eps)`.
    static func l2NormalizeBackwardKernel<T: TensorScalar>(_ g: UnsafePointer<T>, _ x: UnsafePointer<T>,
                                                          layout: (outer: Int, n: Int, inner: Int), eps: T,
                                                          norms: UnsafePointer<T>, gradInput: UnsafeMutablePointer<T>) {
        let (n, inner) = (layout.n, layout.inner)
        // The coefficient of x: 0 when the clamp is active (the norm does not reach the output).
        @inline(__always) func coefficient(_ dot: T, _ norm: T) -> (T, T) {
            let d = Swift.max(norm, eps)
            return (d, norm >= eps ? dot / (d * d * norm) : 0)
        }
        forEachLaneSegment(outer: layout.outer, n: n, inner: inner) { o, lanes in
            let base = o * n * inner
            let gb = g + base, xb = x + base, gxb = gradInput + base, nb = norms + o * inner
            if inner == 1 {
                let (d, c) = coefficient(dotRow(gb, xb, n), nb[0])
                for k in 0..<n { gxb[k] = gb[k] / d - c * xb[k] }
                return
            }
            // Per-lane ⟨g, x⟩ for this segment, then the coefficients in place.
            let lo = lanes.lowerBound
            let dots = UnsafeMutablePointer<T>.allocate(capacity: lanes.count * 2)
            defer { dots.deallocate() }
            dots.initialize(repeating: 0, count: lanes.count)
            for k in 0..<n {
                let grow = gb + k * inner, xrow = xb + k * inner
                for i in lanes { dots[i - lo] += grow[i] * xrow[i] }
            }
            let divisors = dots + lanes.count
            for i in lanes {
                let (d, c) = coefficient(dots[i - lo], nb[i])
                divisors[i - lo] = d
                dots[i - lo] = c
            }
            for k in 0..<n {
                let grow = gb + k * inner, xrow = xb + k * inner, out = gxb + k * inner
                for i in lanes { out[i] = grow[i] / divisors[i - lo] - dots[i - lo] * xrow[i] }
            }
        }
    }
}
