// Mixed precision as PyTorch's CPU autocast does it for bfloat16
// (`torch.autocast('cpu', dtype=torch.bfloat16)`): matrix products (matmul, linear) and
// scaled-dot-product attention take bfloat16 inputs, accumulate in Float32 and return
// bfloat16; everything else (element-wise ops, layer norm, softmax outside attention, losses,
// the optimiser and the master weights) stays Float32.
//
// Tensors stay Float32 here: a "bfloat16 tensor" is a Float32 tensor whose values are
// bfloat16-representable (rounded by `dino_round_bf16`, bit-exact against torch's
// `.to(torch.bfloat16)`). An autocast op is the Float32 op between two rounding boundaries:
//     y = R(op(R(x₁), R(x₂), …)),   R(t) = round_bf16(t) forward, ∂L/∂t = round_bf16(∂L/∂R(t)) backward,
// which is autocast's dtype flow exactly: the casts x → bf16 on the way in (their backward,
// ToCopyBackward, returns the bf16 gradient widened to Float32), the op's bf16 output, whose
// incoming gradient is bf16, and the op's backward products in bf16 (bf16 inputs, Float32
// accumulation, bf16 results). A product of two bf16 values is exact in Float32, so the
// Float32 GEMM on rounded inputs is the bf16 GEMM with Float32 accumulation (the emulated path;
// it runs on every CPU); only the order of the sums can differ from a native bf16 kernel.
// Differences from PyTorch: element-wise ops fed only by an autocast output (e.g. GELU between
// fc1 and fc2) run in Float32 here and in bf16 there; both round at the next product's input,
// so only their backward differs by one rounding. Inside attention, torch's CPU flash kernel
// rounds the probabilities to bf16 before P·V; the fused kernel here keeps them Float32.
// Float64 tensors are never cast (as autocast leaves float64 alone).

import CDinoKernels

/// Precision of the matrix products (`precision` in configs, `--precision` on the command line).
public enum Precision: String, Codable, Sendable, CaseIterable {
    /// Float32 products (the default).
    case float32
    /// bfloat16 inputs, Float32 accumulation, bfloat16 outputs (PyTorch's CPU autocast).
    case bf16
    /// Everything in Float64 — parameters, optimiser state, batches, losses — for numerical
    /// checks (a training option: the methods build their modules in Float64; products never
    /// round inside `withPrecision(.float64)`). Slower than Float32: the fused C kernels are
    /// Float32-only and Float64 runs their generic Swift twins.
    case float64

    /// The dtype of a run's parameters and activations in this precision: Float64 for
    /// `.float64`, Float32 otherwise (bf16 tensors are Float32 tensors, see above).
    public var dtype: DType { self == .float64 ? .float64 : .float32 }
}

/// The precision of products on the current thread or task.
public enum Autocast {
    @TaskLocal static var current = Precision.float32

    /// The products' precision here: `.float32` unless inside `withPrecision(.bf16)` (or
    /// `.float64`, where Float32 products run as with `.float32`).
    public static var precision: Precision { current }

    @TaskLocal static var allowNative = true

    /// Whether the bf16 products may use the native kernel (oneDNN's bf16 matmul on CPUs with
    /// AVX512_BF16) here; false inside `withEmulatedBF16`.
    static var native: Bool { allowNative }

    /// Whether this CPU runs autocast's products natively (AVX512_BF16 and oneDNN's bf16
    /// matmul); false: they are emulated (Float32 GEMM on rounded values).
    public static var hasNativeBF16: Bool { NativeBF16.shared != nil }

    /// Runs `body` with the bf16 products emulated even where a native kernel exists (tests,
    /// benchmarks comparing the two paths).
    public static func withEmulatedBF16<R>(_ body: () throws -> R) rethrows -> R {
        try $allowNative.withValue(false) { try body() }
    }

    /// Whether a Float32 product here rounds to bf16.
    @inline(__always)
    static func bf16(_ dtype: DType) -> Bool { current == .bf16 && dtype == .float32 }
}

/// Runs `body` with matrix products in `precision` (PyTorch: `with torch.autocast('cpu',
/// dtype=torch.bfloat16):` for `.bf16`). Backward passes keep the precision their forward ops
/// were recorded with, wherever `backward()` is called.
public func withPrecision<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
    try Autocast.$current.withValue(precision) { try body() }
}

extension Tensor {
    /// The values rounded to bfloat16 (nearest, ties to even), kept in Float32; the gradient is
    /// rounded the same way (the backward of a Float32 ↔ bf16 cast pair, see above). Float64
    /// tensors pass through unchanged (with an identity gradient).
    public func roundedToBFloat16() -> Tensor {
        let x = self
        let out: Tensor
        switch dtype {
        case .float64:
            out = withNoGrad { x.contiguousCopy() }
        case .float32 where x.storage.holdsBF16Values:
            // Every value is already a bf16 value (a native linear's output): rounding is the
            // identity, so a view of the same elements stands for the rounded copy.
            out = Tensor(storage: x.storage, shape: x.shape, strides: x.strides, offset: x.offset)
        case .float32:
            // A view that fills consecutive storage in another order of its dimensions (a
            // transposed weight or gradient, a permuted head split) is rounded span for span into
            // the same layout: element-wise rounding does not care about the order, and the
            // product reads the layout through its strides. Copying it to contiguous first
            // transposed a 4160×576 gradient before autocast's dW product (2 ms of its 5 at 1 thread on Zen 5).
            let dense = x.isContiguous || x.fillsItsSpan
            let c = dense ? x : withNoGrad { x.contiguousCopy() }
            let n = shapeCount(x.shape)
            out = dense && !x.isContiguous
                ? Tensor(storage: TensorStorage(dtype: .float32, count: n, zeroed: false), shape: x.shape, strides: x.strides)
                : uninitializedTensor(x.shape, dtype: .float32)
            let src = c.pointer(Float.self), dst = out.pointer(Float.self)
            parallelFor(n, grain: 1 << 16) { r in dino_round_bf16(src + r.lowerBound, dst + r.lowerBound, r.count) }
            out.storage.bf16Operand = true
        }
        return Tensor.record(out, op: .roundBF16, inputs: [x]) { g in
            [x.requiresGrad ? (g.dtype == .float32 ? g.roundedToBFloat16() : g) : nil]
        }
    }
}

extension Tensor {
    /// Whether the elements fill `count` consecutive storage slots from `offset` in some order of
    /// the dimensions (a permutation of a contiguous layout; dimensions of size 1 may have any
    /// stride). Contiguous tensors qualify too.
    var fillsItsSpan: Bool {
        let dims = zip(shape, strides).filter { $0.0 != 1 }
        if dims.contains(where: { $0.0 == 0 }) { return true }
        var expected = 1
        for (size, stride) in dims.sorted(by: { $0.1 < $1.1 }) {
            guard stride == expected else { return false }
            expected *= size
        }
        return true
    }
}
