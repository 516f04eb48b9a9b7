// Constant padding: a new tensor with a border of one value around the input.
//
// The result is filled with the value, then the input is copied into its interior by
// coalesced rows (memcpy where the input is contiguous along its last dimensions). The
// gradient is the interior of the output gradient, a view with the gradient's strides.
//
// Reference: torch.nn.functional.pad(mode="constant"), with widths listed from the first
// dimension (F.pad lists them from the last).

extension Tensor {
    /// Pads every dimension with `before` and `after` copies of `value`.
    ///
    /// `out.shape[d] = before_d + shape[d] + after_d` and
    /// `out[i_0 + before_0, i_1 + before_1, …] = x[i_0, i_1, …]`; every other element is `value`.
    ///
    /// - Parameters:
    ///   - widths: one `(before, after)` pair per dimension, from the first; widths are
    ///     non-negative (to crop, use `slice`).
    ///   - value: the constant of the border.
    /// - Returns: a new contiguous tensor; the gradient is the output gradient's interior.
    ///
    /// Reference: `torch.nn.functional.pad` (constant mode).
    public func pad(_ widths: [(Int, Int)], value: Double = 0) -> Tensor {
        precondition(widths.count == rank,
                     "pad: \(widths.count) (before, after) pairs for the \(rank) dimensions of \(fmt(shape)); give one pair per dimension, from the first")
        for (d, (before, after)) in widths.enumerated() {
            precondition(before >= 0 && after >= 0,
                         "pad: negative width (\(before), \(after)) for dimension \(d) of \(fmt(shape)); widths must be non-negative (use slice to crop)")
        }
        let outShape = widths.enumerated().map { d, w in w.0 + shape[d] + w.1 }   // (… + before + after)
        let out = Tensor.full(outShape, value, dtype: dtype)
        let interiorOffset = widths.enumerated().reduce(0) { $0 + $1.element.0 * out.strides[$1.offset] }
        if count > 0 {
            Tensor(storage: out.storage, shape: shape, strides: out.strides, offset: interiorOffset).copyIn(self)
        }
        let inputShape = shape
        return Tensor.record(out, op: .pad, inputs: [self]) { g in
            let offset = widths.enumerated().reduce(g.offset) { $0 + $1.element.0 * g.strides[$1.offset] }
            return [Tensor(storage: g.storage, shape: inputShape, strides: g.strides, offset: offset)]
        }
    }
}
