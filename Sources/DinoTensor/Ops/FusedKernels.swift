// What the fused ops share: the choice of kernel variant, the row layout, and row-parallel
// loops.
//
// The Float32 kernels live in the C target CDinoKernels, compiled for AVX-512, AVX2+FMA and
// a generic baseline; the variant is chosen once at load time from the CPU's features.

import CDinoKernels

/// The instruction set of the Float32 fused kernels (softmax, layer norm, GELU, attention).
public enum FusedKernels {
    /// All variants, widest first.
    public static let allInstructionSets = ["avx512", "avx2", "generic"]

    /// The variant kernels called from this thread use: "avx512", "avx2" or "generic".
    public static var instructionSet: String { String(cString: dino_kernels_isa()) }

    /// The variants this CPU can run.
    public static var supportedInstructionSets: [String] {
        allInstructionSets.filter { dino_kernels_supports_isa($0) != 0 }
    }

    /// Switches kernels called from this thread to `name` when the CPU supports it, for
    /// tests and benchmarks that compare variants; returns whether it did. Work that
    /// `parallelFor` hands to other threads keeps the widest variant, so compare variants
    /// on inputs small enough to run inline, or with `Threads.count = 1`.
    @discardableResult
    public static func use(instructionSet name: String) -> Bool {
        dino_kernels_use_isa(name) != 0
    }
}

/// The layout that brings one axis last, so that a row kernel sees (rows, n) contiguous data.
struct LastAxisLayout {
    let axis: Int
    let rank: Int
    /// Elements along the axis (the row length) and number of rows.
    let n: Int
    let rows: Int

    init(shape: [Int], axis: Int) {
        self.axis = axis
        rank = shape.count
        n = shape.isEmpty ? 1 : shape[axis]
        rows = n == 0 ? 0 : shapeCount(shape) / n
    }

    private var isLast: Bool { rank == 0 || axis == rank - 1 }

    private var order: [Int] { (0..<rank).filter { $0 != axis } + [axis] }

    /// `t` with the axis moved last, contiguous, off the tape.
    func toLast(_ t: Tensor) -> Tensor {
        withNoGrad { isLast ? t.contiguous() : t.permute(order).contiguous() }
    }

    /// The inverse of `toLast` for a result in the moved layout, contiguous, off the tape.
    func fromLast(_ t: Tensor) -> Tensor {
        if isLast { return t }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in order.enumerated() { inverse[a] = i }
        return withNoGrad { t.permute(inverse).contiguous() }
    }
}

/// Splits `rows` rows of `n` elements across threads: `body(range)` per chunk of rows.
@inline(__always)
func parallelRows(_ rows: Int, n: Int, _ body: (Range<Int>) -> Void) {
    parallelFor(rows, grain: max(1, 16_384 / max(n, 1)), body)
}

/// A new contiguous tensor of `shape` whose elements the caller writes.
@inline(__always)
func uninitializedTensor(_ shape: [Int], dtype: DType) -> Tensor {
    Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(shape), zeroed: false), shape: shape)
}
