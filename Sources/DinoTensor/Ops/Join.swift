// Joining and splitting along an axis: concat, stack, split, chunk.
//
// concat copies each input into its slab of one new contiguous result; the slab copy walks
// coalesced rows, so contiguous inputs move as whole memcpy rows of `size·inner` elements
// (and rows are spread over threads for large tensors). split and chunk copy nothing: they
// return slices, views of the input whose gradients scatter back into the input's shape.
// stack is concat of unsqueezed views.
//
// Reference: torch.cat, torch.stack, torch.split (with a list of sizes), torch.chunk.

extension Tensor {
    /// Concatenates tensors along an existing axis.
    ///
    /// `out[…, o_k + i, …] = ts[k][…, i, …]` where `o_k = Σ_{j<k} ts[j].shape[axis]`.
    /// Every input has the same rank, dtype and sizes except along `axis`; inputs of size 0
    /// along `axis` are allowed and contribute nothing.
    ///
    /// - Parameters:
    ///   - ts: the tensors to join, at least one.
    ///   - axis: the axis to join along; negative counts from the end.
    /// - Returns: a new contiguous tensor; the gradient of input k is the matching slice of
    ///   the output gradient.
    ///
    /// Reference: `torch.cat`.
    public static func concat(_ ts: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!ts.isEmpty, "concat: needs at least one tensor")
        let first = ts[0]
        precondition(first.rank > 0, "concat: cannot concatenate rank-0 tensors")
        let ax = normalizeAxis(axis, rank: first.rank, op: "concat")
        var total = 0
        for (k, t) in ts.enumerated() {
            precondition(t.dtype == first.dtype, "concat: tensor \(k) is \(t.dtype), tensor 0 is \(first.dtype)")
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == ax || t.shape[$0] == first.shape[$0] },
                         "concat: tensor \(k) of shape \(fmt(t.shape)) does not match tensor 0 of shape \(fmt(first.shape)) outside axis \(axis)")
            total += t.shape[ax]
        }
        var outShape = first.shape
        outShape[ax] = total                                     // (…, Σ sizes, …)
        let out = Tensor(storage: TensorStorage(dtype: first.dtype, count: shapeCount(outShape), zeroed: false),
                         shape: outShape)
        var starts: [Int] = []
        var start = 0
        for t in ts {
            starts.append(start)
            if t.count > 0 { out.slab(axis: ax, start: start, size: t.shape[ax]).copyIn(t) }
            start += t.shape[ax]
        }
        return record(out, op: .concat, inputs: ts) { g in
            ts.indices.map { k in
                ts[k].requiresGrad ? g.slab(axis: ax, start: starts[k], size: ts[k].shape[ax]) : nil
            }
        }
    }

    /// Stacks tensors of one shape along a new axis.
    ///
    /// `out[…, k, …] = ts[k]`, with the new axis at position `axis` of the result
    /// (`-1` appends it last).
    ///
    /// - Parameters:
    ///   - ts: tensors of identical shape and dtype, at least one.
    ///   - axis: the position of the new axis in the result, in `-(rank+1)...rank`.
    /// - Returns: a new contiguous tensor of shape `shape[..<axis] + [ts.count] + shape[axis...]`.
    ///
    /// Reference: `torch.stack`.
    public static func stack(_ ts: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!ts.isEmpty, "stack: needs at least one tensor")
        let shape = ts[0].shape
        for (k, t) in ts.enumerated() {
            precondition(t.shape == shape, "stack: tensor \(k) of shape \(fmt(t.shape)) differs from tensor 0 of shape \(fmt(shape))")
        }
        let ax = normalizeAxis(axis, rank: shape.count + 1, op: "stack")
        return concat(ts.map { $0.unsqueeze(ax) }, axis: ax)
    }

    /// Splits into consecutive pieces of the given sizes along `axis`, as views.
    ///
    /// Piece k is `x[…, o_k ..< o_k + sizes[k], …]` with `o_k = Σ_{j<k} sizes[j]`.
    ///
    /// - Parameters:
    ///   - sizes: non-negative sizes summing to `shape[axis]`.
    ///   - axis: the axis to split; negative counts from the end.
    /// - Returns: one slice per size, sharing storage with `self`.
    ///
    /// Reference: `torch.split(x, sizes, dim)` with a list of sizes.
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        precondition(rank > 0, "split: cannot split a rank-0 tensor")
        let ax = normalizeAxis(axis, rank: rank, op: "split")
        precondition(sizes.allSatisfy { $0 >= 0 }, "split: negative size in \(sizes)")
        precondition(sizes.reduce(0, +) == shape[ax],
                     "split: sizes \(sizes) sum to \(sizes.reduce(0, +)), not to size \(shape[ax]) of axis \(axis) of \(fmt(shape))")
        var pieces: [Tensor] = []
        var start = 0
        for s in sizes {
            pieces.append(slice(axis: ax, start: start, end: start + s))
            start += s
        }
        return pieces
    }

    /// Splits into `n` nearly equal pieces along `axis`, as views.
    ///
    /// Each piece has `ceil(size / n)` elements along `axis` except the last, which holds the
    /// rest, so fewer than `n` pieces come back when `size` does not fill them (7 in 5 chunks
    /// gives sizes 2, 2, 2, 1). A zero-size axis gives `n` empty pieces.
    ///
    /// - Parameters:
    ///   - n: the number of pieces wanted, at least 1.
    ///   - axis: the axis to split; negative counts from the end.
    ///
    /// Reference: `torch.chunk`.
    public func chunk(_ n: Int, axis: Int = 0) -> [Tensor] {
        precondition(n >= 1, "chunk: number of chunks must be at least 1, got \(n)")
        precondition(rank > 0, "chunk: cannot chunk a rank-0 tensor")
        let ax = normalizeAxis(axis, rank: rank, op: "chunk")
        let size = shape[ax]
        if size == 0 { return split(sizes: [Int](repeating: 0, count: n), axis: ax) }
        let piece = (size + n - 1) / n
        var sizes: [Int] = []
        var left = size
        while left > 0 {
            sizes.append(Swift.min(piece, left))
            left -= piece
        }
        return split(sizes: sizes, axis: ax)
    }

    /// Elements `start ..< start + size` along `axis` as a view off the tape (kernels use it
    /// to write a slab of a result and to cut a gradient).
    func slab(axis: Int, start: Int, size: Int) -> Tensor {
        var s = shape
        s[axis] = size
        return Tensor(storage: storage, shape: s, strides: strides, offset: offset + start * strides[axis])
    }
}
