// Decoding stored element types into the tensor's working types: IEEE half (F16), bfloat16
// (BF16) and the integer types of checkpoints, each read little-endian from a byte buffer.
//
// Used by the safetensors reader (`Safetensors.swift`); nothing here touches files. The half
// conversions work on bit patterns, so they behave the same on every platform (Swift's
// `Float16` type is missing on Intel macOS) and are exact: every F16 and BF16 value, including
// subnormals, infinities and NaN payloads, has an exact Float32 counterpart.

#if !_endian(little)
#error("DinoTensor reads and writes little-endian element data and assumes a little-endian host")
#endif

/// The Float32 value of an IEEE 754 binary16 bit pattern.
///
/// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits.
///   exponent 0      → subnormal: ±fraction · 2⁻²⁴ (or ±0)
///   exponent 1…30   → normal: ±(1 + fraction/2¹⁰) · 2^(exponent − 15), re-biased to 127
///   exponent 31     → ±infinity (fraction 0) or NaN (payload kept in the top fraction bits)
/// Reference: IEEE 754-2008 §3.6; the same mapping as `torch.Tensor.float()` on float16.
@inline(__always)
public func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1f
    let fraction = UInt32(h & 0x3ff)
    switch exponent {
    case 0x1f:
        return Float(bitPattern: sign | 0x7f80_0000 | fraction << 13)
    case 0:
        // fraction · 2⁻²⁴ is exact in Float32 (at most 10 significant bits).
        let magnitude = Float(fraction) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    default:
        return Float(bitPattern: sign | (exponent + 112) << 23 | fraction << 13)
    }
}

/// The Float32 value of a bfloat16 bit pattern.
///
/// bfloat16 is the upper half of a binary32: same sign and 8-bit exponent, 7 fraction bits,
/// so widening is a 16-bit shift (subnormals, infinities and NaNs included).
/// Reference: Google Brain bfloat16 format; `torch.bfloat16`.
@inline(__always)
public func floatFromBFloat16Bits(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// How one stored element type becomes Float32 or Float64.
enum ElementDecoder {
    /// Converts `count` little-endian elements at `source` into `destination`.
    ///
    /// - Returns: the index of the first integer element with no exact Float32 value
    ///   (|v| > 2²⁴ and not a multiple of the spacing there), or nil when all converted.
    static func decode(_ stored: StoredDType, _ source: UnsafeRawPointer, count: Int,
                       into destination: UnsafeMutableRawPointer) -> Int? {
        switch stored {
        case .f64:
            destination.copyMemory(from: source, byteCount: count * 8)
        case .f32:
            destination.copyMemory(from: source, byteCount: count * 4)
        case .f16:
            let d = destination.assumingMemoryBound(to: Float.self)
            for i in 0..<count {
                d[i] = floatFromHalfBits(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bf16:
            let d = destination.assumingMemoryBound(to: Float.self)
            for i in 0..<count {
                d[i] = floatFromBFloat16Bits(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bool:
            let d = destination.assumingMemoryBound(to: Float.self)
            let s = source.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { d[i] = s[i] == 0 ? 0 : 1 }
        case .i64: return integers(Int64.self, source, count, destination)
        case .i32: return integers(Int32.self, source, count, destination)
        case .i16: return integers(Int16.self, source, count, destination)
        case .i8: return integers(Int8.self, source, count, destination)
        case .u64: return integers(UInt64.self, source, count, destination)
        case .u32: return integers(UInt32.self, source, count, destination)
        case .u16: return integers(UInt16.self, source, count, destination)
        case .u8: return integers(UInt8.self, source, count, destination)
        }
        return nil
    }

    /// Little-endian integers to Float32, refusing values Float32 cannot hold exactly.
    @inline(__always)
    private static func integers<I: FixedWidthInteger>(_: I.Type, _ source: UnsafeRawPointer, _ count: Int,
                                                       _ destination: UnsafeMutableRawPointer) -> Int? {
        let d = destination.assumingMemoryBound(to: Float.self)
        let size = MemoryLayout<I>.size
        for i in 0..<count {
            let v = I(littleEndian: source.loadUnaligned(fromByteOffset: size * i, as: I.self))
            guard let f = Float(exactly: v) else { return i }
            d[i] = f
        }
        return nil
    }

    /// The value of element `index` as text, for error messages.
    static func describeElement(_ stored: StoredDType, _ source: UnsafeRawPointer, index: Int) -> String {
        func load<I: FixedWidthInteger>(_: I.Type) -> String {
            String(I(littleEndian: source.loadUnaligned(fromByteOffset: MemoryLayout<I>.size * index, as: I.self)))
        }
        switch stored {
        case .i64: return load(Int64.self)
        case .i32: return load(Int32.self)
        case .i16: return load(Int16.self)
        case .i8: return load(Int8.self)
        case .u64: return load(UInt64.self)
        case .u32: return load(UInt32.self)
        case .u16: return load(UInt16.self)
        case .u8: return load(UInt8.self)
        default: return "?"
        }
    }
}
