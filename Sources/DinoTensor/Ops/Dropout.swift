// Inverted dropout: zero each element with probability p and scale the survivors by
// 1/(1−p), so the expected value of every element is unchanged and evaluation needs no
// rescaling.
//
// The keep mask is one Bernoulli(1−p) draw from the caller's RandomGenerator, so a run is
// reproducible from the generator's (seed, offset), whatever the number of threads; the
// backward multiplies by the same mask.
//
// Reference: Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
// Overfitting" (JMLR 2014); torch.nn.functional.dropout.

extension Tensor {
    /// Randomly zeroes elements during training, scaling the kept ones by 1/(1−p).
    ///
    /// `out = x · m / (1 − p)` with `m ~ Bernoulli(1 − p)` drawn per element;
    /// `∂out/∂x = m / (1 − p)`. The identity (self, no draw) when `!training` or `p == 0`;
    /// all zeros (gradient zero, no draw) when `p == 1`.
    ///
    /// - Parameters:
    ///   - p: the probability of zeroing an element, in [0, 1].
    ///   - training: false makes dropout the identity.
    ///   - generator: the source of the mask; its offset advances by the draw.
    ///
    /// Reference: `torch.nn.functional.dropout`.
    public func dropout(p: Double, training: Bool, generator: RandomGenerator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: probability \(p) outside [0, 1]")
        if !training || p == 0 { return self }
        if p == 1 {
            let out = zerosLike()
            let inputShape = shape, dt = dtype
            return Tensor.record(out, op: .dropout, inputs: [self]) { _ in [Tensor.zeros(inputShape, dtype: dt)] }
        }
        let keep = generator.bernoulli(shape, p: 1 - p, dtype: dtype)   // 0/1, input's shape
        let scale = 1 / (1 - p)
        let s = Float(scale)
        let out = Tensor.zipMap(self, keep, op: "dropout", { $0 * ($1 * s) }, { $0 * ($1 * scale) })
        return Tensor.record(out, op: .dropout, inputs: [self]) { g in
            [Tensor.zipMap(g, keep, op: "dropout", { $0 * ($1 * s) }, { $0 * ($1 * scale) })]
        }
    }
}
