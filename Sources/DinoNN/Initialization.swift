// Random initialisation of parameters: an explicit pass, separate from building a model.
//
// Building a module gives every parameter a shape and a constant fill (LayerNorm γ = 1,
// biases 0, LayerScale γ = init value); random values are drawn afterwards, in declaration
// order, from one `RandomGenerator`, so the same seed always gives the same model. Models
// that load a checkpoint skip this pass and never allocate random weights.

import DinoTensor

extension Parameter {
    /// Fills the parameter with samples of N(0, std²) truncated to [low, high]: values
    /// outside are drawn again (`torch.nn.init.trunc_normal_`; with timm's defaults
    /// low = −2, high = 2 are absolute bounds, far outside ±std for std = 0.02).
    public func fillTruncatedNormal(std: Double, low: Double = -2, high: Double = 2,
                                    generator: RandomGenerator) {
        precondition(low < 0 && high > 0, "fillTruncatedNormal: bounds [\(low), \(high)] must contain 0")
        var values = generator.normal(shape, std: std, dtype: .float64).doubles
        for i in values.indices {
            var tries = 0
            while values[i] < low || values[i] > high {
                values[i] = tries < 16 ? generator.normal([1], std: std, dtype: .float64).doubles[0]
                                       : Swift.min(Swift.max(values[i], low), high)
                tries += 1
            }
        }
        assign(Tensor(doubles: values, shape: shape))
    }

    /// Fills the parameter with samples of N(0, std²) (`torch.nn.init.normal_`).
    public func fillNormal(std: Double, generator: RandomGenerator) {
        assign(generator.normal(shape, std: std, dtype: .float64))
    }

    /// Fills the parameter with samples of U(low, high) (`torch.nn.init.uniform_`).
    public func fillUniform(low: Double, high: Double, generator: RandomGenerator) {
        assign(generator.uniform(shape, low: low, high: high, dtype: .float64))
    }

    /// Fills the parameter with a constant.
    public func fillConstant(_ v: Double) {
        assign(Tensor.full(shape, v, dtype: .float64))
    }

    /// Copies `values` into the tensor off the tape, keeping its identity.
    private func assign(_ values: Tensor) {
        withNoGrad { value.copyIn(values.to(dtype)) }
    }
}
