// The Tensor: a strided view of a storage, plus its place on the autograd tape.
//
// A tensor is a reference type, as in PyTorch: gradients accumulate on the object that
// was used, and using one tensor twice gives it the sum of both gradients. Shapes and
// strides are in elements; the layout of new results is always row-major contiguous.

/// An n-dimensional array of `Float` (or `Double`) with reverse-mode automatic differentiation.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let strides: [Int]
    /// Offset of element `[0, 0, …]` in the storage, in elements.
    public let offset: Int
    /// The elements this tensor views (a `var` only so that autograd can test it for
    /// unique ownership; it is never reassigned).
    public internal(set) var storage: TensorStorage

    /// The accumulated gradient of a leaf (or of a tensor that called `retainGrad()`).
    public var grad: Tensor?
    /// The operation that produced this tensor, when it was recorded on the tape.
    var node: GradNode?
    var leafRequiresGrad = false
    var retainsGrad = false

    /// Wraps a storage region; `strides` default to row-major.
    public init(storage: TensorStorage, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(fmt(shape))")
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? contiguousStrides(shape)
        self.offset = offset
        precondition(self.strides.count == shape.count,
                     "Tensor: \(self.strides.count) strides for shape \(fmt(shape))")
    }

    /// A new zero-filled contiguous tensor.
    public convenience init(zeros shape: [Int], dtype: DType = .float32) {
        self.init(storage: TensorStorage(dtype: dtype, count: shapeCount(shape)), shape: shape)
    }

    /// A contiguous tensor holding `scalars` in row-major order.
    public convenience init(_ scalars: [Float], shape: [Int]) {
        precondition(scalars.count == shapeCount(shape),
                     "Tensor: \(scalars.count) scalars for shape \(fmt(shape))")
        let storage = TensorStorage(dtype: .float32, count: scalars.count, zeroed: false)
        scalars.withUnsafeBufferPointer { src in
            storage.pointer(Float.self).update(from: src.baseAddress!, count: src.count)
        }
        self.init(storage: storage, shape: shape)
    }

    /// A contiguous `Double` tensor holding `scalars` in row-major order.
    public convenience init(doubles scalars: [Double], shape: [Int]) {
        precondition(scalars.count == shapeCount(shape),
                     "Tensor: \(scalars.count) scalars for shape \(fmt(shape))")
        let storage = TensorStorage(dtype: .float64, count: scalars.count, zeroed: false)
        scalars.withUnsafeBufferPointer { src in
            storage.pointer(Double.self).update(from: src.baseAddress!, count: src.count)
        }
        self.init(storage: storage, shape: shape)
    }

    /// A rank-0 tensor.
    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    // MARK: Properties

    public var dtype: DType { storage.dtype }
    public var rank: Int { shape.count }
    public var count: Int { shapeCount(shape) }

    /// True when the elements lie in row-major order without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Whether gradients flow to this tensor: set on leaves, derived for results.
    public var requiresGrad: Bool {
        get { leafRequiresGrad || node != nil }
        set {
            precondition(node == nil || newValue,
                         "requiresGrad: cannot turn off gradients of a non-leaf tensor; use detach()")
            leafRequiresGrad = newValue
        }
    }

    /// Sets `requiresGrad` and returns self, for chaining at construction.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// A leaf has no recorded producer.
    public var isLeaf: Bool { node == nil }

    /// Keeps the gradient of a non-leaf tensor after `backward()`.
    public func retainGrad() { retainsGrad = true }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// The same data, cut from the tape: no gradient flows through the result.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    // MARK: Reading values

    /// All elements in row-major order, as Float.
    public var scalars: [Float] {
        let c = contiguous()
        switch dtype {
        case .float32:
            return Array(UnsafeBufferPointer(start: c.pointer(Float.self), count: c.count))
        case .float64:
            return UnsafeBufferPointer(start: c.pointer(Double.self), count: c.count).map { Float($0) }
        }
    }

    /// All elements in row-major order, as Double.
    public var doubles: [Double] {
        let c = contiguous()
        switch dtype {
        case .float32:
            return UnsafeBufferPointer(start: c.pointer(Float.self), count: c.count).map { Double($0) }
        case .float64:
            return Array(UnsafeBufferPointer(start: c.pointer(Double.self), count: c.count))
        }
    }

    /// The single element of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item: tensor of shape \(fmt(shape)) has \(count) elements, not 1")
        return scalars[0]
    }

    /// The element at a multi-index.
    public subscript(index: Int...) -> Float {
        precondition(index.count == rank, "subscript: \(index.count) indices for shape \(fmt(shape))")
        var o = offset
        for (i, ix) in index.enumerated() {
            precondition(ix >= 0 && ix < shape[i], "subscript: index \(ix) out of range for dimension \(i) of \(fmt(shape))")
            o += ix * strides[i]
        }
        switch dtype {
        case .float32: return storage.pointer(Float.self)[o]
        case .float64: return Float(storage.pointer(Double.self)[o])
        }
    }

    /// Pointer to element `[0, 0, …]` typed as `T` (the tensor's dtype).
    @inline(__always)
    public func pointer<T: TensorScalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        storage.pointer(T.self) + offset
    }

    public var description: String {
        let values = count <= 16 ? scalars.map { "\($0)" }.joined(separator: ", ") : "…"
        return "Tensor(shape: \(fmt(shape)), dtype: \(dtype), [\(values)])"
    }
}
