// Shape arithmetic: element counts, row-major strides, broadcasting, axis normalisation.

/// Number of elements of a shape (1 for a scalar shape `[]`).
@inline(__always)
public func shapeCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// Row-major (C-order) strides of a contiguous tensor of `shape`.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = running
        running *= shape[i]
    }
    return strides
}

/// The broadcast shape of two shapes under NumPy rules, or nil if they are incompatible.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Normalises a possibly negative axis for a tensor of `rank`, naming `op` on failure.
@inline(__always)
public func normalizeAxis(_ axis: Int, rank: Int, op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) out of range for rank \(rank)")
    return a
}

/// `[2, 3]` formatting used in every error message.
@inline(__always)
func fmt(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
