// Selecting by index and by mask: indexSelect, indexAdd, gather, scatterAdd, maskedFill, maskedSelect.
//
// Each op sits next to its backward, and the backwards are the ops' duals: indexSelect ↔
// index-add, gather ↔ scatter-add, maskedSelect ↔ masked scatter. Indices are checked
// against the indexed axis before any kernel runs; a bad one stops the program with a
// message naming the op, the index, its position and the shapes.
//
// Layout used throughout: around the indexed axis, a tensor is seen as (outer, n, inner)
// blocks. Index-adds parallelise over outer blocks, or over inner columns when there are few
// outer blocks, so that two threads never add into the same element (repeated indices write
// the same row within one block).
//
// Reference: torch.index_select, torch.gather, torch.scatter_add, torch.masked_fill,
// torch.masked_select.

// MARK: - Layout helpers

/// Element offsets of every multi-index of `shape` in row-major order, under `strides`.
func rowMajorOffsets(_ shape: ArraySlice<Int>, _ strides: ArraySlice<Int>) -> [Int] {
    var offsets = [0]
    for (n, s) in Swift.zip(shape, strides) {
        offsets = offsets.flatMap { o in (0..<n).map { o + $0 * s } }
    }
    return offsets
}

/// Checks `0 ≤ i < size` for every index, naming the op, the index, its position and shapes.
func checkIndexRange(_ index: IndexTensor, size: Int, axis: Int, shape: [Int], op: String) {
    for (p, i) in index.indices.enumerated() where i < 0 || i >= size {
        var position = [Int](repeating: 0, count: index.shape.count)
        var rem = p
        for d in stride(from: index.shape.count - 1, through: 0, by: -1) {
            position[d] = rem % index.shape[d]
            rem /= index.shape[d]
        }
        preconditionFailure("\(op): index \(i) at position \(fmt(position)) of index \(fmt(index.shape)) is out of range 0..<\(size) for axis \(axis) of input \(fmt(shape))")
    }
}

// MARK: - indexSelect

extension Tensor {
    /// Picks whole slices along `axis` in the order given; indices may repeat.
    ///
    /// `out[…, j, …] = x[…, indices[j], …]`; the gradient adds `g[…, j, …]` into
    /// `x[…, indices[j], …]`, so a repeated index receives the sum of its slices' gradients.
    ///
    /// - Parameters:
    ///   - axis: the axis to index; negative counts from the end.
    ///   - indices: positions in `0..<shape[axis]`, any order, repeats allowed, possibly none.
    /// - Returns: a new contiguous tensor with `shape[axis] = indices.count`.
    ///
    /// Reference: `torch.index_select`.
    public func indexSelect(axis: Int, indices: [Int]) -> Tensor {
        precondition(rank > 0, "indexSelect: cannot index a rank-0 tensor")
        let ax = normalizeAxis(axis, rank: rank, op: "indexSelect")
        let size = shape[ax]
        for (j, i) in indices.enumerated() where i < 0 || i >= size {
            preconditionFailure("indexSelect: index \(i) at position \(j) is out of range 0..<\(size) for axis \(axis) of input \(fmt(shape))")
        }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let k = indices.count
        var outShape = shape
        outShape[ax] = k                                         // (outer…, k, inner…)
        let out = Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(outShape), zeroed: false), shape: outShape)
        let src = isContiguous ? self : contiguousCopy()         // (outer, size, inner)
        func run<T: TensorScalar>(_: T.Type) {
            let x = src.pointer(T.self), o = out.pointer(T.self)
            indices.withUnsafeBufferPointer { idx in
                // One memcpy of `inner` elements per (outer block, selected index).
                parallelFor(outer * k, grain: Swift.max(1, 32_768 / Swift.max(inner, 1))) { rows in
                    for row in rows {
                        let a = row / k, j = row % k
                        (o + row * inner).update(from: x + (a * size + idx[j]) * inner, count: inner)
                    }
                }
            }
        }
        if out.count > 0 {
            switch dtype {
            case .float32: run(Float.self)
            case .float64: run(Double.self)
            }
        }
        let inputShape = shape
        return Tensor.record(out, op: .indexSelect, inputs: [self]) { g in
            [Tensor.indexAdd(g, axis: ax, indices: indices, into: inputShape)]
        }
    }

    /// The backward of indexSelect: zeros of `shape` with `g[…, j, …]` added into
    /// `[…, indices[j], …]`.
    static func indexAdd(_ g: Tensor, axis ax: Int, indices: [Int], into shape: [Int]) -> Tensor {
        let out = Tensor(zeros: shape, dtype: g.dtype)
        out.addSlicesInPlace(axis: ax, indices: indices, source: g, alpha: 1)
        return out
    }

    /// `self[…, indices[j], …] += alpha · source[…, j, …]` in place and off the tape, the product
    /// rounded before the sum (exact for alpha 1); `self` is a fresh contiguous tensor, `axis`
    /// normalised and the indices checked. Threads own whole outer blocks, or whole column
    /// ranges when there are few blocks, so repeated indices add up in order within one thread.
    func addSlicesInPlace(axis ax: Int, indices: [Int], source: Tensor, alpha: Double) {
        let outer = shape[..<ax].reduce(1, *), size = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        let k = indices.count
        if outer * k * inner == 0 { return }
        let sc = source.isContiguous ? source : source.contiguousCopy()   // (outer, k, inner)
        func run<T: TensorScalar>(_: T.Type) {
            let sp = sc.pointer(T.self), o = pointer(T.self), a = T(alpha)
            indices.withUnsafeBufferPointer { idx in
                func block(_ b: Int, _ columns: Range<Int>) {
                    for j in 0..<k {
                        let s = sp + (b * k + j) * inner, d = o + (b * size + idx[j]) * inner
                        for c in columns { d[c] += a * s[c] }
                    }
                }
                if outer >= Threads.count {
                    parallelFor(outer, grain: Swift.max(1, 65_536 / (k * inner))) { r in
                        for b in r { block(b, 0..<inner) }
                    }
                } else {
                    parallelFor(inner, grain: Swift.max(1, 65_536 / (outer * k))) { r in
                        for b in 0..<outer { block(b, r) }
                    }
                }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
    }
}

// MARK: - indexAdd

extension Tensor {
    /// `self` with `alpha · source[…, j, …]` added into `[…, indices[j], …]`; indices may repeat
    /// (their slices add up in order).
    ///
    /// The gradient passes to `self` unchanged and to `source` as `alpha · g[…, indices[j], …]`.
    /// Each added element is rounded as `x + (alpha · s)` — the product first — so the result
    /// is bit for bit `self.scatterAdd(…, source: source * alpha)` with a whole-slice index, in
    /// one pass and without the element-wise index tensor.
    ///
    /// - Parameters:
    ///   - axis: the axis to index; negative counts from the end.
    ///   - indices: positions in `0..<shape[axis]`, one per slice of `source` along `axis`.
    ///   - source: `self`'s shape with `indices.count` along `axis`.
    ///   - alpha: the scale of `source` (Float32 tensors use `Float(alpha)`).
    /// - Returns: a new contiguous tensor of `self`'s shape.
    ///
    /// Reference: `torch.index_add(input, dim, index, source, alpha=alpha)`, as DINOv2's and
    /// DINOv3's drop path on a batch subset add the branch back.
    public func indexAdd(axis: Int, indices: [Int], source: Tensor, alpha: Double = 1) -> Tensor {
        precondition(rank > 0, "indexAdd: cannot index a rank-0 tensor")
        let ax = normalizeAxis(axis, rank: rank, op: "indexAdd")
        precondition(source.dtype == dtype, "indexAdd: source is \(source.dtype), input is \(dtype)")
        var expected = shape
        expected[ax] = indices.count
        precondition(source.shape == expected, "indexAdd: source of shape \(fmt(source.shape)) for \(indices.count) indices into \(fmt(shape)) along axis \(axis); expected \(fmt(expected))")
        let size = shape[ax]
        for (j, i) in indices.enumerated() where i < 0 || i >= size {
            preconditionFailure("indexAdd: index \(i) at position \(j) is out of range 0..<\(size) for axis \(axis) of input \(fmt(shape))")
        }
        let out = contiguousCopy()                               // (outer, size, inner)
        out.addSlicesInPlace(axis: ax, indices: indices, source: source, alpha: alpha)
        return Tensor.record(out, op: .indexAdd, inputs: [self, source]) { g in
            guard source.requiresGrad else { return [g, nil] }
            return [self.requiresGrad ? g : nil, g.indexSelect(axis: ax, indices: indices) * alpha]
        }
    }
}

// MARK: - gather and scatterAdd

extension Tensor {
    /// Reads one element per index position, the index choosing the coordinate along `axis`.
    ///
    /// For rank 3 and `axis = 1`: `out[i][j][k] = x[i][index[i][j][k]][k]`. The result has
    /// the index's shape; `index` has the input's rank and, outside `axis`, sizes no larger
    /// than the input's. The gradient scatter-adds `g` back (repeats accumulate).
    ///
    /// - Parameters:
    ///   - axis: the axis the index addresses; negative counts from the end.
    ///   - index: positions in `0..<shape[axis]`.
    ///
    /// Reference: `torch.gather`.
    public func gather(axis: Int, index: IndexTensor) -> Tensor {
        precondition(rank > 0, "gather: cannot gather from a rank-0 tensor")
        let ax = normalizeAxis(axis, rank: rank, op: "gather")
        precondition(index.shape.count == rank && (0..<rank).allSatisfy { $0 == ax || index.shape[$0] <= shape[$0] },
                     "gather: index of shape \(fmt(index.shape)) does not fit input \(fmt(shape)) along axis \(axis) (same rank, no larger outside the axis)")
        checkIndexRange(index, size: shape[ax], axis: axis, shape: shape, op: "gather")
        let out = Tensor(storage: TensorStorage(dtype: dtype, count: index.count, zeroed: false), shape: index.shape)
        let n = index.shape[ax]
        let outer = index.shape[..<ax].reduce(1, *), inner = index.shape[(ax + 1)...].reduce(1, *)
        let xOuter = rowMajorOffsets(index.shape[..<ax], strides[..<ax])
        let xInner = rowMajorOffsets(index.shape[(ax + 1)...], strides[(ax + 1)...])
        let sAxis = strides[ax]
        func run<T: TensorScalar>(_: T.Type) {
            let x = pointer(T.self), o = out.pointer(T.self)
            index.indices.withUnsafeBufferPointer { idx in
                // Row (a, j) of the index: `inner` reads, each at its own coordinate on `axis`.
                parallelFor(outer * n, grain: Swift.max(1, 32_768 / Swift.max(inner, 1))) { rows in
                    for row in rows {
                        let base = xOuter[row / n]
                        let ip = idx.baseAddress! + row * inner, op = o + row * inner
                        for b in 0..<inner { op[b] = x[base + ip[b] * sAxis + xInner[b]] }
                    }
                }
            }
        }
        if out.count > 0 {
            switch dtype {
            case .float32: run(Float.self)
            case .float64: run(Double.self)
            }
        }
        let inputShape = shape, dt = dtype
        return Tensor.record(out, op: .gather, inputs: [self]) { g in
            let gx = Tensor(zeros: inputShape, dtype: dt)
            gx.scatterAddInPlace(axis: ax, index: index, source: g)
            return [gx]
        }
    }

    /// A copy of `x` with each source element added at the position its index names.
    ///
    /// For rank 3 and `axis = 1`: `out[i][index[i][j][k]][k] += source[i][j][k]` for every
    /// position of `index`; repeated targets accumulate. `index` and `source` have the input's
    /// rank; `index` is no larger than `source` in any dimension and no larger than the input
    /// outside `axis` (only the index-shaped corner of `source` is read). Gradients: `g` to
    /// the input, `g.gather(axis, index)` (zero outside the corner) to the source.
    ///
    /// - Parameters:
    ///   - axis: the axis the index addresses; negative counts from the end.
    ///   - index: positions in `0..<shape[axis]`.
    ///   - source: the values to add, of the input's dtype.
    /// - Returns: a new contiguous tensor of the input's shape (the input is not modified).
    ///
    /// Reference: `torch.scatter_add` (out of place).
    public func scatterAdd(axis: Int, index: IndexTensor, source: Tensor) -> Tensor {
        precondition(rank > 0, "scatterAdd: cannot scatter into a rank-0 tensor")
        let ax = normalizeAxis(axis, rank: rank, op: "scatterAdd")
        precondition(source.dtype == dtype, "scatterAdd: source is \(source.dtype), input is \(dtype)")
        precondition(index.shape.count == rank && source.rank == rank
                     && (0..<rank).allSatisfy { index.shape[$0] <= source.shape[$0] && ($0 == ax || index.shape[$0] <= shape[$0]) },
                     "scatterAdd: index of shape \(fmt(index.shape)) does not fit source \(fmt(source.shape)) and input \(fmt(shape)) along axis \(axis) (same rank; no larger than the source, nor than the input outside the axis)")
        checkIndexRange(index, size: shape[ax], axis: axis, shape: shape, op: "scatterAdd")
        let out = contiguousCopy()
        out.scatterAddInPlace(axis: ax, index: index, source: source)
        let sourceShape = source.shape
        return Tensor.record(out, op: .scatterAdd, inputs: [self, source]) { g in
            guard source.requiresGrad else { return [g, nil] }
            var gs = g.gather(axis: ax, index: index)            // index shape
            if gs.shape != sourceShape {
                gs = gs.pad(Array(Swift.zip(index.shape, sourceShape).map { (0, $1 - $0) }))
            }
            return [self.requiresGrad ? g : nil, gs]
        }
    }

    /// `self[…, index[p], …] += source[p]` over the positions p of `index`, in place and
    /// off the tape; indices must already be checked. `self` is a fresh contiguous tensor.
    func scatterAddInPlace(axis ax: Int, index: IndexTensor, source: Tensor) {
        let n = index.shape[ax]
        let outer = index.shape[..<ax].reduce(1, *), inner = index.shape[(ax + 1)...].reduce(1, *)
        if outer * n * inner == 0 { return }
        let oOuter = rowMajorOffsets(index.shape[..<ax], strides[..<ax])
        let oInner = rowMajorOffsets(index.shape[(ax + 1)...], strides[(ax + 1)...])
        let sOuter = rowMajorOffsets(index.shape[..<ax], source.strides[..<ax])
        let sInner = rowMajorOffsets(index.shape[(ax + 1)...], source.strides[(ax + 1)...])
        let oAxis = strides[ax], sAxis = source.strides[ax]
        func run<T: TensorScalar>(_: T.Type) {
            let o = pointer(T.self), s = source.pointer(T.self)
            index.indices.withUnsafeBufferPointer { idx in
                // Targets differ between outer blocks and between inner columns, so threads
                // own whole blocks or whole column ranges; repeats meet only within one.
                func block(_ a: Int, _ columns: Range<Int>) {
                    for j in 0..<n {
                        let ip = idx.baseAddress! + (a * n + j) * inner
                        let ob = oOuter[a], sb = sOuter[a] + j * sAxis
                        for b in columns { o[ob + ip[b] * oAxis + oInner[b]] += s[sb + sInner[b]] }
                    }
                }
                if outer >= Threads.count {
                    parallelFor(outer, grain: Swift.max(1, 65_536 / (n * inner))) { r in
                        for a in r { block(a, 0..<inner) }
                    }
                } else {
                    parallelFor(inner, grain: Swift.max(1, 65_536 / (outer * n))) { r in
                        for a in 0..<outer { block(a, r) }
                    }
                }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
    }
}

// MARK: - Masks

/// The elements a mask selects from a broadcast shape, in row-major order: per-row counts
/// and their running sums, so that rows can be written in parallel to their final place.
struct MaskedRows<T: TensorScalar> {
    let shape: [Int]                // coalesced
    let maskStrides: [Int]
    let dataStrides: [Int]
    let mask: UnsafePointer<T>
    let rowStart: [Int]
    let total: Int

    var length: Int { shape[shape.count - 1] }
    var rows: Int { shape.dropLast().reduce(1, *) }

    /// Counts the non-zero mask elements of every row of `shape`.
    init(shape full: [Int], mask: UnsafePointer<T>, maskStrides: [Int], dataStrides: [Int]) {
        let (cshape, cstrides) = coalesce(full, [maskStrides, dataStrides])
        shape = cshape
        self.maskStrides = cstrides[0]
        self.dataStrides = cstrides[1]
        self.mask = mask
        let rows = cshape.dropLast().reduce(1, *), length = cshape[cshape.count - 1]
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: rows + 1)
        defer { counts.deallocate() }
        let ms = cstrides[0]
        let inner = ms[ms.count - 1]
        parallelFor(rows, grain: Swift.max(1, 65_536 / Swift.max(length, 1))) { r in
            for row in r {
                let m = mask + MaskedRows.offset(row, cshape, ms)
                var c = 0
                for i in 0..<length where m[i * inner] != 0 { c += 1 }
                counts[row] = c
            }
        }
        var starts = [Int](repeating: 0, count: rows + 1)
        for row in 0..<rows { starts[row + 1] = starts[row] + counts[row] }
        rowStart = starts
        total = starts[rows]
    }

    /// Offset of row `row`'s first element under `strides` (coalesced, last dim excluded).
    @inline(__always)
    static func offset(_ row: Int, _ shape: [Int], _ strides: [Int]) -> Int {
        var rem = row, o = 0
        var d = shape.count - 2
        while d >= 0 {
            o += (rem % shape[d]) * strides[d]
            rem /= shape[d]
            d -= 1
        }
        return o
    }

    /// Calls `body(dataOffset, k)` for the k-th selected element, rows in parallel.
    func forEach(_ body: (_ dataOffset: Int, _ k: Int) -> Void) {
        let length = self.length
        let mi = maskStrides[maskStrides.count - 1], di = dataStrides[dataStrides.count - 1]
        parallelFor(rows, grain: Swift.max(1, 65_536 / Swift.max(length, 1))) { r in
            for row in r {
                let m = mask + MaskedRows.offset(row, shape, maskStrides)
                let d = MaskedRows.offset(row, shape, dataStrides)
                var k = rowStart[row]
                for i in 0..<length where m[i * mi] != 0 {
                    body(d + i * di, k)
                    k += 1
                }
            }
        }
    }
}

extension Tensor {
    /// The mask in this tensor's dtype, off the tape.
    func maskOperand(_ mask: Tensor) -> Tensor {
        withNoGrad { mask.dtype == dtype ? mask.detach() : mask.to(dtype) }
    }

    /// Replaces the elements where the mask is non-zero by `value`.
    ///
    /// `out = mask ≠ 0 ? value : x`, the mask broadcast to the input's shape; the gradient is
    /// `g` where the mask is zero and 0 where it filled. The mask gets no gradient.
    ///
    /// - Parameters:
    ///   - mask: 0/1 values (any non-zero counts as set) broadcastable to the input's shape.
    ///   - value: the fill value (may be ±infinity, e.g. for attention masks).
    ///
    /// Reference: `torch.Tensor.masked_fill`.
    public func maskedFill(_ mask: Tensor, value: Double) -> Tensor {
        precondition(broadcastShapes(shape, mask.shape) == shape,
                     "maskedFill: mask of shape \(fmt(mask.shape)) does not broadcast to input \(fmt(shape))")
        let m = maskOperand(mask)
        let f = Float(value)
        let out = Tensor.zipMap(self, m, op: "maskedFill", { $1 != 0 ? f : $0 }, { $1 != 0 ? value : $0 })
        return Tensor.record(out, op: .maskedFill, inputs: [self]) { g in
            [Tensor.zipMap(g, m, op: "maskedFill", { $1 != 0 ? 0 : $0 }, { $1 != 0 ? 0 : $0 })]
        }
    }

    /// The elements where the mask is non-zero, as a rank-1 tensor in row-major order.
    ///
    /// Input and mask broadcast together to a shape S; the result lists `x[p]` for every
    /// position p of S (row-major) with `mask[p] ≠ 0`. The gradient puts `g[k]` back at the
    /// k-th selected position and sums over broadcast dimensions of the input.
    ///
    /// - Parameter mask: 0/1 values (any non-zero counts as set), broadcastable with the input.
    /// - Returns: a new tensor of shape `[number of selected elements]`, possibly `[0]`.
    ///
    /// Reference: `torch.masked_select`.
    public func maskedSelect(_ mask: Tensor) -> Tensor {
        guard let full = broadcastShapes(shape, mask.shape) else {
            preconditionFailure("maskedSelect: mask of shape \(fmt(mask.shape)) and input \(fmt(shape)) cannot broadcast")
        }
        let m = maskOperand(mask).expandedView(to: full, op: "maskedSelect")
        let xv = expandedView(to: full, op: "maskedSelect")
        func select<T: TensorScalar>(_: T.Type) -> Tensor {
            let plan = MaskedRows(shape: full, mask: m.pointer(T.self), maskStrides: m.strides, dataStrides: xv.strides)
            let out = Tensor(storage: TensorStorage(dtype: dtype, count: plan.total, zeroed: false), shape: [plan.total])
            let x = xv.pointer(T.self), o = out.pointer(T.self)
            plan.forEach { d, k in o[k] = x[d] }
            return out
        }
        func scatter<T: TensorScalar>(_ g: Tensor, _: T.Type) -> Tensor {
            let gs = Tensor(zeros: full, dtype: dtype)            // S
            let plan = MaskedRows(shape: full, mask: m.pointer(T.self), maskStrides: m.strides, dataStrides: gs.strides)
            let gc = g.contiguous(), o = gs.pointer(T.self)
            let gp = gc.pointer(T.self)
            plan.forEach { d, k in o[d] = gp[k] }
            return gs
        }
        let out: Tensor
        switch dtype {
        case .float32: out = select(Float.self)
        case .float64: out = select(Double.self)
        }
        let inputShape = shape
        return Tensor.record(out, op: .maskedSelect, inputs: [self]) { g in
            let gs: Tensor
            switch g.dtype {
            case .float32: gs = scatter(g, Float.self)
            case .float64: gs = scatter(g, Double.self)
            }
            return [gs.sum(toShape: inputShape)]
        }
    }
}
