// Views that copy nothing: reshape, permute/transpose, slice, expand, squeeze/unsqueeze.
// Each is differentiable; the backward of a view is the inverse view (or a sum for expand).

extension Tensor {
    /// A tensor sharing storage with a different shape/stride interpretation, on the tape as `op`.
    func view(shape newShape: [Int], strides newStrides: [Int], offset newOffset: Int, op: GradOp,
              backward: @escaping (Tensor) -> Tensor) -> Tensor {
        let out = Tensor(storage: storage, shape: newShape, strides: newStrides, offset: newOffset)
        return Tensor.record(out, op: op, inputs: [self]) { g in [backward(g)] }
    }

    /// The same elements in a new shape; one dimension may be -1. Copies only when the
    /// strides do not allow a view (as `torch.reshape`).
    public func reshape(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let inferred = target.firstIndex(of: -1)
        if let i = inferred {
            let known = target.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0,
                         "reshape: cannot reshape \(fmt(shape)) into \(fmt(newShape))")
            target[i] = count / known
        }
        precondition(target.allSatisfy { $0 >= 0 } && shapeCount(target) == count,
                     "reshape: cannot reshape \(fmt(shape)) (\(count) elements) into \(fmt(newShape))")
        let source = isContiguous ? self : contiguous()
        let originalShape = shape
        return source.view(shape: target, strides: contiguousStrides(target), offset: source.offset,
                           op: .reshape) { g in g.reshape(originalShape) }
    }

    /// Flattens dimensions `start...end` into one.
    public func flatten(_ start: Int = 0, _ end: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let s = normalizeAxis(start, rank: rank, op: "flatten")
        let e = normalizeAxis(end, rank: rank, op: "flatten")
        precondition(s <= e, "flatten: start \(start) after end \(end) for shape \(fmt(shape))")
        let merged = shape[s...e].reduce(1, *)
        return reshape(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Reorders dimensions: result dimension i is input dimension `order[i]`.
    public func permute(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order.map { normalizeAxis($0, rank: rank, op: "permute") }).count == rank,
                     "permute: \(order) is not a permutation of the \(rank) dimensions of \(fmt(shape))")
        let axes = order.map { normalizeAxis($0, rank: rank, op: "permute") }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return view(shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }, offset: offset,
                    op: .permute) { g in g.permute(inverse) }
    }

    /// Swaps two dimensions.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let x = normalizeAxis(a, rank: rank, op: "transpose")
        let y = normalizeAxis(b, rank: rank, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(x, y)
        return permute(order)
    }

    /// Elements `start..<end` (step `step`) along `axis`, as a view.
    public func slice(axis: Int, start: Int, end: Int? = nil, step: Int = 1) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, op: "slice")
        let size = shape[ax]
        let s = start < 0 ? start + size : start
        var e = end ?? size
        if e < 0 { e += size }
        e = Swift.min(e, size)
        precondition(step >= 1, "slice: step must be positive, got \(step)")
        precondition(s >= 0 && s <= e, "slice: range \(start)..<\(end ?? size) out of bounds for axis \(axis) of \(fmt(shape))")
        let n = (e - s + step - 1) / step
        var newShape = shape
        newShape[ax] = n
        var newStrides = strides
        newStrides[ax] = strides[ax] * step
        let originalShape = shape
        let dt = dtype
        let out = view(shape: newShape, strides: newStrides, offset: offset + s * strides[ax], op: .slice) { g in
            // Scatter the gradient back into a zero tensor of the input's shape.
            let full = Tensor(zeros: originalShape, dtype: dt)
            full.slice(axis: ax, start: s, end: e, step: step).copyIn(g)
            return full
        }
        // Where the input already has a gradient (another slice of it ran first), the engine adds
        // into its region instead: the same sums, without the zeros.
        out.node?.addIntoInputGradient = { inputGradient, g in
            inputGradient.slice(axis: ax, start: s, end: e, step: step).addInPlace(g)
        }
        return out
    }

    /// Broadcasts size-1 dimensions (and new leading ones) to `newShape` without copying.
    public func expand(_ newShape: [Int]) -> Tensor {
        precondition(newShape.count >= rank, "expand: cannot expand \(fmt(shape)) to fewer dimensions \(fmt(newShape))")
        let lead = newShape.count - rank
        var newStrides = [Int](repeating: 0, count: newShape.count)
        for i in 0..<newShape.count {
            if i < lead { continue }
            let d = shape[i - lead]
            if d == newShape[i] {
                newStrides[i] = strides[i - lead]
            } else {
                precondition(d == 1, "expand: cannot expand \(fmt(shape)) to \(fmt(newShape))")
            }
        }
        if newShape == shape { return self }
        let originalShape = shape
        return view(shape: newShape, strides: newStrides, offset: offset, op: .expand) { g in
            g.sum(toShape: originalShape)
        }
    }

    /// Inserts a dimension of size 1 at `axis`.
    public func unsqueeze(_ axis: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank + 1, op: "unsqueeze")
        var s = shape
        s.insert(1, at: ax)
        var st = strides
        st.insert(ax < rank ? strides[ax] * shape[ax] : 1, at: ax)
        return view(shape: s, strides: st, offset: offset, op: .unsqueeze) { g in g.squeeze(ax) }
    }

    /// Removes a dimension of size 1 at `axis`.
    public func squeeze(_ axis: Int) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, op: "squeeze")
        precondition(shape[ax] == 1, "squeeze: dimension \(axis) of \(fmt(shape)) has size \(shape[ax]), not 1")
        var s = shape
        s.remove(at: ax)
        var st = strides
        st.remove(at: ax)
        return view(shape: s, strides: st, offset: offset, op: .squeeze) { g in g.unsqueeze(ax) }
    }

    /// Contiguous data: self when already contiguous, else a differentiable copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = contiguousCopy()
        return Tensor.record(out, op: .contiguous, inputs: [self]) { g in [g] }
    }

    /// A new contiguous tensor with this tensor's values (not recorded on the tape).
    public func contiguousCopy() -> Tensor {
        let out = Tensor(storage: TensorStorage(dtype: dtype, count: count, zeroed: false), shape: shape)
        switch dtype {
        case .float32: stridedCopy(pointer(Float.self), shape: shape, strides: strides, into: out.pointer(Float.self))
        case .float64: stridedCopy(pointer(Double.self), shape: shape, strides: strides, into: out.pointer(Double.self))
        }
        return out
    }

    /// Writes `source` (broadcast to this shape) into this tensor's elements, in place and
    /// off the tape. Used for gradient scatter, optimiser updates and loading weights.
    public func copyIn(_ source: Tensor) {
        precondition(source.dtype == dtype, "copyIn: \(source.dtype) into \(dtype)")
        let src = source.shape == shape ? source : source.expandedView(to: shape, op: "copyIn")
        func run<T: TensorScalar>(_: T.Type) {
            let s = src.pointer(T.self), d = pointer(T.self)
            forEachRow(shape: shape, strides: [src.strides, strides]) { off, n, inner in
                let sp = s + off[0], dp = d + off[1]
                let ss = inner[0], ds = inner[1]
                if ss == 1 && ds == 1 { dp.update(from: sp, count: n) } else {
                    for i in 0..<n { dp[i * ds] = sp[i * ss] }
                }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
    }

    /// A broadcast view off the tape (kernels use it to walk operands of a broadcast op).
    func expandedView(to newShape: [Int], op: String) -> Tensor {
        precondition(newShape.count >= rank, "\(op): cannot broadcast \(fmt(shape)) to \(fmt(newShape))")
        let lead = newShape.count - rank
        var newStrides = [Int](repeating: 0, count: newShape.count)
        for i in lead..<newShape.count {
            let d = shape[i - lead]
            if d == newShape[i] { newStrides[i] = strides[i - lead] } else {
                precondition(d == 1, "\(op): cannot broadcast \(fmt(shape)) to \(fmt(newShape))")
            }
        }
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }
}
