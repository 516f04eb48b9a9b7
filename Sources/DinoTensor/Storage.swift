// Flat, 64-byte-aligned element buffers shared by tensors and their views.

import CDinoKernels

/// A reference-counted buffer of `count` elements of one `DType`.
///
/// Views (reshape, transpose, slice, expand) share one storage; a kernel that writes
/// allocates a new storage for its result. Only optimiser updates and gradient
/// accumulation write into an existing storage, always outside the autograd tape.
public final class TensorStorage: @unchecked Sendable {
    public let dtype: DType
    public let count: Int
    public let raw: UnsafeMutableRawPointer
    /// Set on the results of `roundedToBFloat16()` (Autocast.swift): the buffer holds operands
    /// of bf16 products, which `gemm` hands to the native bf16 kernel when there is one. A
    /// routing hint only: the native path rounds what it reads, so a later write is harmless.
    var bf16Operand = false
    /// Set where every value was written rounded to bfloat16 and the storage is never written
    /// again: the forward output of autocast's native linear (`nativeBF16Linear`). Rounding a
    /// view of it is then the identity, and `roundedToBFloat16()` returns a view instead of a
    /// rounded copy (attention's q, k and v, slices of the qkv product, were gathered and rounded
    /// again). Gradients are never marked: the engine sums into them in place.
    var holdsBF16Values = false

    /// Set once, before the first buffer: freed buffers stay mapped for the next step
    /// (`dino_configure_allocator`).
    static let allocatorConfigured: Bool = dino_configure_allocator() == 1

    /// Allocates `count` elements; zero-filled when `zeroed`.
    public init(dtype: DType, count: Int, zeroed: Bool = true) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        _ = TensorStorage.allocatorConfigured
        self.dtype = dtype
        self.count = count
        let bytes = max(count * dtype.size, 64)
        // Large blocks come back from a cache of freed ones (allocator.c) instead of fresh
        // page-faulted mappings.
        guard let p = dino_buffer_allocate(bytes) else {
            fatalError("TensorStorage: out of memory allocating \(bytes) bytes (\(count) × \(dtype))")
        }
        raw = p
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
    }

    deinit { dino_buffer_free(raw, max(count * dtype.size, 64)) }

    /// Bytes of freed large buffers (32 MiB and more) kept for reuse.
    public static var cachedBytes: Int { Int(dino_buffer_cache_bytes()) }

    /// Returns the kept large buffers to the OS (the next large tensors are mapped afresh).
    public static func releaseCachedBuffers() { dino_buffer_cache_clear() }

    /// The buffer typed as `T`; `T` must be the storage's dtype.
    @inline(__always)
    public func pointer<T: TensorScalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        precondition(T.dtype == dtype, "TensorStorage: \(dtype) storage read as \(T.dtype)")
        return raw.assumingMemoryBound(to: T.self)
    }
}
