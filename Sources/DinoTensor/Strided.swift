// Walking strided tensors row by row: the inner loop of every non-contiguous kernel.

/// Merges adjacent dimensions that are laid out contiguously relative to each other in all
/// of `strides`, so that loops run over as few, as long rows as possible.
func coalesce(_ shape: [Int], _ strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
    if shape.isEmpty { return ([1], strides.map { _ in [0] }) }
    var outShape: [Int] = [shape[0]]
    var outStrides: [[Int]] = strides.map { [$0[0]] }
    for d in 1..<shape.count {
        if shape[d] == 1 { continue }
        let last = outShape.count - 1
        if outShape[last] == 1 {
            outShape[last] = shape[d]
            for k in 0..<strides.count { outStrides[k][last] = strides[k][d] }
            continue
        }
        let mergeable = (0..<strides.count).allSatisfy { k in
            outStrides[k][last] == strides[k][d] * shape[d]
        }
        if mergeable {
            outShape[last] *= shape[d]
            for k in 0..<strides.count { outStrides[k][last] = strides[k][d] }
        } else {
            outShape.append(shape[d])
            for k in 0..<strides.count { outStrides[k].append(strides[k][d]) }
        }
    }
    return (outShape, outStrides)
}

/// Iterates the rows (last coalesced dimension) of `shape` under several stride sets.
///
/// `body(offsets, length, innerStrides)` is called on disjoint pieces of rows that together
/// cover every element once, with the element offset of the piece's first element in each
/// operand; the body must treat elements independently (every caller is element-wise). Pieces
/// are visited in parallel when there are many elements: whole rows when there are at least as
/// many rows as threads, else each row cut into up to `Threads.count` segments — a contiguous
/// tensor coalesces into a single row, which would otherwise run on one thread.
func forEachRow(shape: [Int], strides: [[Int]],
                body: (_ offsets: UnsafeMutableBufferPointer<Int>, _ length: Int, _ inner: [Int]) -> Void) {
    let (cshape, cstrides) = coalesce(shape, strides)
    let k = cstrides.count
    let rank = cshape.count
    let length = cshape[rank - 1]
    let inner = cstrides.map { $0[rank - 1] }
    let rows = shapeCount(Array(cshape.dropLast()))
    if rows == 0 || length == 0 { return }
    let threads = Threads.count
    // Segments of at least 16 384 elements, enough of them to give every thread work.
    let segments = rows >= threads ? 1 : max(1, min((threads + rows - 1) / rows, length / 16_384))
    let segment = (length + segments - 1) / segments
    parallelFor(rows * segments, grain: max(1, 65_536 / segment)) { range in
        let offsets = UnsafeMutableBufferPointer<Int>.allocate(capacity: k)
        defer { offsets.deallocate() }
        for item in range {
            let row = item / segments, start = (item % segments) * segment
            let n = min(segment, length - start)
            if n <= 0 { continue }
            // Decompose the row number into an outer multi-index.
            var rem = row
            for j in 0..<k { offsets[j] = start * inner[j] }
            var d = rank - 2
            while d >= 0 {
                let ix = rem % cshape[d]
                rem /= cshape[d]
                for j in 0..<k { offsets[j] += ix * cstrides[j][d] }
                d -= 1
            }
            body(offsets, n, inner)
        }
    }
}

/// Copies a strided view into contiguous memory.
func stridedCopy<T: TensorScalar>(_ src: UnsafePointer<T>, shape: [Int], strides: [Int],
                                   into dst: UnsafeMutablePointer<T>) {
    let dstStrides = contiguousStrides(shape)
    forEachRow(shape: shape, strides: [strides, dstStrides]) { off, n, inner in
        let s = src + off[0]
        let d = dst + off[1]
        let ss = inner[0]
        if ss == 1 {
            d.update(from: s, count: n)
        } else if ss == 0 {
            d.update(repeating: s[0], count: n)
        } else {
            for i in 0..<n { d[i] = s[i * ss] }
        }
    }
}
