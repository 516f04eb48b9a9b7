// The exponential moving average of one tensor toward another, in place and off the tape: the
// teacher's EMA update of DINO, DINOv2 and distillation (and any method's EMA).
//
// What it is not: an op on the autograd tape (it overwrites a leaf's storage, as an optimiser
// step does).

/// In-place EMA of parameters.
extension Tensor {
    /// self ← m · self + (1 − m) · source, element by element, in place and off the tape.
    ///
    /// Each element is `self·Float(m) + Float(1 − m)·source` in the tensor's dtype (two products
    /// and a sum, each rounded), so the result does not depend on the thread count.
    ///
    /// - Parameters:
    ///   - source: a tensor of the same shape and dtype (any strides).
    ///   - m: the momentum (DINO: 0.996 → 1; DINOv2: 0.992 → 1).
    /// - Reference: facebookresearch/dino `main_dino.py`
    ///   (`param_k.data.mul_(m).add_((1 - m) * param_q.detach().data)`).
    public func updateExponentialMovingAverage(toward source: Tensor, momentum m: Double) {
        precondition(shape == source.shape && dtype == source.dtype && isContiguous,
                     "updateExponentialMovingAverage: tensor \(shape) \(dtype) (contiguous: \(isContiguous)) and source \(source.shape) \(source.dtype) differ")
        let src = source.isContiguous ? source : source.contiguousCopy()
        func run<T: TensorScalar>(_: T.Type) {
            let tp = pointer(T.self), sp = src.pointer(T.self)
            let keep = T(m), take = T(1 - m)
            parallelFor(count, grain: 32_768) { r in
                for i in r { tp[i] = tp[i] * keep + take * sp[i] }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
    }
}
