// Making tensors: constants, ranges, and conversion between dtypes.

extension Tensor {
    /// A contiguous tensor filled with `value`.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        let t = Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(shape), zeroed: value == 0), shape: shape)
        if value != 0 {
            switch dtype {
            case .float32: t.pointer(Float.self).update(repeating: Float(value), count: t.count)
            case .float64: t.pointer(Double.self).update(repeating: value, count: t.count)
            }
        }
        return t
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 0, dtype: dtype) }
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }

    /// A tensor of zeros (or ones) with this tensor's shape and dtype.
    public func zerosLike() -> Tensor { Tensor.zeros(shape, dtype: dtype) }
    public func onesLike() -> Tensor { Tensor.ones(shape, dtype: dtype) }

    /// `start, start + step, …` below `end`, as a rank-1 tensor.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let values = (0..<n).map { start + Double($0) * step }
        let t = Tensor(doubles: values, shape: [n])
        return dtype == .float64 ? t : t.to(dtype)
    }

    /// The same values in another dtype (differentiable; the gradient converts back).
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        let src = contiguous()
        let out = Tensor(storage: TensorStorage(dtype: target, count: count, zeroed: false), shape: shape)
        let n = count
        switch (dtype, target) {
        case (.float32, .float64):
            let s = src.pointer(Float.self), d = out.pointer(Double.self)
            for i in 0..<n { d[i] = Double(s[i]) }
        case (.float64, .float32):
            let s = src.pointer(Double.self), d = out.pointer(Float.self)
            for i in 0..<n { d[i] = Float(s[i]) }
        default: break
        }
        let source = dtype
        return Tensor.record(out, op: .to, inputs: [self]) { g in [g.to(source)] }
    }
}
