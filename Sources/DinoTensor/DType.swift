// Element types of a tensor and the scalar protocol the generic kernels are written against.
//
// Float32 is the working type of every model. Float64 exists so that gradients can be
// checked by finite differences to many digits (the same kernels, specialised for Double),
// and for training runs that are numerical checks (`Precision.float64`).

import RealModule

/// The element type of a tensor's storage.
public enum DType: String, Sendable, Codable, CaseIterable {
    case float32
    case float64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32: return 4
        case .float64: return 8
        }
    }
}

/// A floating-point element type the kernels are generic over: `Float` and `Double`.
public protocol TensorScalar: BinaryFloatingPoint, Real, SIMDScalar, Sendable, Codable {
    static var dtype: DType { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
}
