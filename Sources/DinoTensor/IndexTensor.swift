// Integer indices with a shape: what argmax returns and gather/scatter take.
//
// Tensors hold floating-point values only; indices live here, as Swift `Int`s, so that an
// index is never rounded and index arithmetic needs no casts.

/// A row-major array of integer indices with a shape.
public struct IndexTensor: Equatable, Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let indices: [Int]

    public init(_ indices: [Int], shape: [Int]) {
        precondition(indices.count == shapeCount(shape),
                     "IndexTensor: \(indices.count) indices for shape \(fmt(shape))")
        self.indices = indices
        self.shape = shape
    }

    /// A rank-1 index tensor.
    public init(_ indices: [Int]) { self.init(indices, shape: [indices.count]) }

    public var count: Int { indices.count }

    public var description: String { "IndexTensor(shape: \(fmt(shape)), \(indices.prefix(16)))" }
}
