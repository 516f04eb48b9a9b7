// Batch norm over the channels of a (rows, channels) matrix, as the linear heads of the dense
// probes use it (the mmseg `BNHead` of DINOv2's segmentation, DINOv3's depth `LinearHead` with
// `use_batchnorm`): every pixel or patch is a row.

import DinoTensor

/// Batch norm of rows with its running statistics.
///
///     y = γ ⊙ (x − μ) / √(σ² + ε) + β
///
/// with the batch's μ and biased σ² while training (the running ones updated with the unbiased
/// variance, PyTorch's convention) and the running ones otherwise.
///
/// Reference: `torch.nn.BatchNorm2d` / `SyncBatchNorm` (momentum 0.1, ε 1e-5); Ioffe & Szegedy,
/// "Batch Normalization" (2015).
public final class BatchNormRows {
    public let dimensions: Int
    /// γ, β (C), trained; running mean and variance (C).
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVariance: Tensor
    public let momentum: Double, eps: Double

    public init(dimensions: Int, momentum: Double = 0.1, eps: Double = 1e-5) {
        self.dimensions = dimensions
        self.momentum = momentum
        self.eps = eps
        weight = Tensor.ones([dimensions]).requiringGrad()
        bias = Tensor.zeros([dimensions]).requiringGrad()
        runningMean = Tensor.zeros([dimensions])
        runningVariance = Tensor.ones([dimensions])
    }

    /// (R, C) → (R, C). While `training`, normalises with the batch's statistics and updates the
    /// running ones.
    public func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == dimensions, "BatchNormRows: input must be (R, \(dimensions)), got \(x.shape)")
        let normalized: Tensor
        if training {
            let mean = x.mean(axes: [0], keepDims: true)                                    // (1, C)
            let centered = x - mean                                                          // (R, C)
            let variance = (centered * centered).mean(axes: [0], keepDims: true)            // (1, C), biased
            normalized = centered * (variance + eps).rsqrt()
            withNoGrad {
                let rows = Double(x.shape[0])
                let unbiased = variance.detach() * (rows / Swift.max(rows - 1, 1))
                runningMean.copyIn(runningMean * (1 - momentum) + mean.detach().reshape([dimensions]) * momentum)
                runningVariance.copyIn(runningVariance * (1 - momentum) + unbiased.reshape([dimensions]) * momentum)
            }
        } else {
            normalized = (x - runningMean.reshape([1, dimensions])) * (runningVariance.reshape([1, dimensions]) + eps).rsqrt()
        }
        return normalized * weight + bias
    }
}
