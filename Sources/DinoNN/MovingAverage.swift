// One module as the exponential moving average of another (the EMA teacher of DINO and
// DINOv2, the student EMA of distillation). The arithmetic is the tensor op
// `Tensor.updateExponentialMovingAverage(toward:momentum:)`.

import DinoTensor

extension Module {
    /// Every trainable parameter ← m · itself + (1 − m) · the same parameter of `source`, in
    /// place and off the tape. Buffers are left as they are.
    ///
    /// - Parameters:
    ///   - source: a module of the same architecture (the student); its parameters are paired
    ///     with this module's by dotted name.
    ///   - m: the momentum (DINO: 0.996 → 1 by a cosine).
    /// - Reference: facebookresearch/dino `main_dino.py` (the EMA update in `train_one_epoch`).
    public func updateExponentialMovingAverage(of source: Module, momentum m: Double) {
        let mine = namedParameters(), theirs = source.namedParameters()
        precondition(mine.map(\.0) == theirs.map(\.0),
                     "updateExponentialMovingAverage: \(type(of: self)) has \(mine.count) parameters, \(type(of: source)) \(theirs.count), or their names differ")
        withNoGrad {
            for ((_, t), (_, s)) in zip(mine, theirs) {
                t.value.updateExponentialMovingAverage(toward: s.value, momentum: m)
            }
        }
    }
}
