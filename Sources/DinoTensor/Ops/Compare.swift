// Comparisons and selection: eq/ne/lt/le/gt/ge (0/1 masks, not differentiable) and `where`.
//
// Masks are tensors of the operand's dtype holding exactly 0 or 1, so they multiply and
// select like any tensor. Comparisons follow IEEE 754 as PyTorch does: every comparison with
// NaN is false except `ne`, which is true. A scalar operand is first rounded to the tensor's
// dtype (PyTorch compares a float32 tensor with a Python float in float32).

extension Tensor {
    /// A 0/1 mask from a broadcasting comparison, off the tape.
    @inline(__always)
    func compare(_ other: Tensor, op: String, _ f32: (Float, Float) -> Bool, _ f64: (Double, Double) -> Bool) -> Tensor {
        Tensor.zipMap(self, other, op: op, { f32($0, $1) ? 1 : 0 }, { f64($0, $1) ? 1 : 0 })
    }

    /// A 0/1 mask from a comparison with a scalar, off the tape.
    @inline(__always)
    func compare(_ s: Double, _ f32: (Float, Float) -> Bool, _ f64: (Double, Double) -> Bool) -> Tensor {
        let f = Float(s)
        return map({ f32($0, f) ? 1 : 0 }, { f64($0, s) ? 1 : 0 })
    }

    /// 1 where `self == other` (broadcasting), else 0. Not differentiable. Reference: `torch.eq`.
    public func eq(_ other: Tensor) -> Tensor { compare(other, op: "eq", { $0 == $1 }, { $0 == $1 }) }
    /// 1 where `self ≠ other` (broadcasting; NaN ≠ NaN), else 0. Not differentiable. Reference: `torch.ne`.
    public func ne(_ other: Tensor) -> Tensor { compare(other, op: "ne", { $0 != $1 }, { $0 != $1 }) }
    /// 1 where `self < other` (broadcasting), else 0. Not differentiable. Reference: `torch.lt`.
    public func lt(_ other: Tensor) -> Tensor { compare(other, op: "lt", { $0 < $1 }, { $0 < $1 }) }
    /// 1 where `self ≤ other` (broadcasting), else 0. Not differentiable. Reference: `torch.le`.
    public func le(_ other: Tensor) -> Tensor { compare(other, op: "le", { $0 <= $1 }, { $0 <= $1 }) }
    /// 1 where `self > other` (broadcasting), else 0. Not differentiable. Reference: `torch.gt`.
    public func gt(_ other: Tensor) -> Tensor { compare(other, op: "gt", { $0 > $1 }, { $0 > $1 }) }
    /// 1 where `self ≥ other` (broadcasting), else 0. Not differentiable. Reference: `torch.ge`.
    public func ge(_ other: Tensor) -> Tensor { compare(other, op: "ge", { $0 >= $1 }, { $0 >= $1 }) }

    /// 1 where `self == s`, else 0. Not differentiable. Reference: `torch.eq`.
    public func eq(_ s: Double) -> Tensor { compare(s, { $0 == $1 }, { $0 == $1 }) }
    /// 1 where `self ≠ s`, else 0. Not differentiable. Reference: `torch.ne`.
    public func ne(_ s: Double) -> Tensor { compare(s, { $0 != $1 }, { $0 != $1 }) }
    /// 1 where `self < s`, else 0. Not differentiable. Reference: `torch.lt`.
    public func lt(_ s: Double) -> Tensor { compare(s, { $0 < $1 }, { $0 < $1 }) }
    /// 1 where `self ≤ s`, else 0. Not differentiable. Reference: `torch.le`.
    public func le(_ s: Double) -> Tensor { compare(s, { $0 <= $1 }, { $0 <= $1 }) }
    /// 1 where `self > s`, else 0. Not differentiable. Reference: `torch.gt`.
    public func gt(_ s: Double) -> Tensor { compare(s, { $0 > $1 }, { $0 > $1 }) }
    /// 1 where `self ≥ s`, else 0. Not differentiable. Reference: `torch.ge`.
    public func ge(_ s: Double) -> Tensor { compare(s, { $0 >= $1 }, { $0 >= $1 }) }
}

// MARK: - where

extension Tensor {
    /// Picks `a` where `condition` is non-zero and `b` elsewhere, broadcasting all three.
    ///
    /// `y = condition ≠ 0 ? a : b` (a NaN condition counts as non-zero, as PyTorch's bool
    /// conversion). Gradients: `∂L/∂a = Σ_broadcast [condition ≠ 0]·g`,
    /// `∂L/∂b = Σ_broadcast [condition = 0]·g`; none to `condition`, which may have either dtype.
    /// - Parameters:
    ///   - condition: the selector, a 0/1 mask or any tensor (non-zero selects `a`).
    ///   - a: values where the condition holds.
    ///   - b: values elsewhere; same dtype as `a`.
    /// Reference: `torch.where(condition, input, other)`.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.dtype == b.dtype, "where: dtypes of a (\(a.dtype)) and b (\(b.dtype)) differ")
        guard let ab = broadcastShapes(a.shape, b.shape), let shape = broadcastShapes(condition.shape, ab) else {
            preconditionFailure("where: shapes \(fmt(condition.shape)) (condition), \(fmt(a.shape)) (a) and \(fmt(b.shape)) (b) cannot broadcast")
        }
        let c = condition.dtype == a.dtype ? condition.detach() : condition.detach().to(a.dtype)
        let out = Tensor(storage: TensorStorage(dtype: a.dtype, count: shapeCount(shape), zeroed: false), shape: shape)
        let cv = c.expandedView(to: shape, op: "where")
        let av = a.expandedView(to: shape, op: "where"), bv = b.expandedView(to: shape, op: "where")
        func run<T: TensorScalar>(_: T.Type) {
            let cp = cv.pointer(T.self), ap = av.pointer(T.self), bp = bv.pointer(T.self), o = out.pointer(T.self)
            forEachRow(shape: shape, strides: [cv.strides, av.strides, bv.strides, out.strides]) { off, n, inner in
                let cr = cp + off[0], ar = ap + off[1], br = bp + off[2], orow = o + off[3]
                let (sc, sa, sb, so) = (inner[0], inner[1], inner[2], inner[3])
                if sc == 1 && sa == 1 && sb == 1 && so == 1 {
                    for i in 0..<n { orow[i] = cr[i] != 0 ? ar[i] : br[i] }
                } else {
                    for i in 0..<n { orow[i * so] = cr[i * sc] != 0 ? ar[i * sa] : br[i * sb] }
                }
            }
        }
        switch a.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return record(out, op: .`where`, inputs: [a, b]) { g in
            [a.requiresGrad ? zipMap(g, c, op: "where_backward", { $1 != 0 ? $0 : 0 }, { $1 != 0 ? $0 : 0 })
                .sum(toShape: a.shape) : nil,
             b.requiresGrad ? zipMap(g, c, op: "where_backward", { $1 != 0 ? 0 : $0 }, { $1 != 0 ? 0 : $0 })
                .sum(toShape: b.shape) : nil]
        }
    }
}
