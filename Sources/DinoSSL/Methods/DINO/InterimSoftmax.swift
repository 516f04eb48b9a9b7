// Softmax and soft-target cross-entropy over the last dimension, composed from core ops.
//
// Interim: helper "fused" brings `softmax(axis:)` and `Tensor.crossEntropy(logits:targets:)`
// with fused kernels to DinoTensor; once it lands this file goes and the callers switch.

import DinoTensor

extension Tensor {
    /// `softmax(x)` over the last dimension: `exp(x − max) / Σ exp(x − max)`.
    func interimSoftmax() -> Tensor {
        let shifted = self - self.max(axis: -1, keepDims: true).detach()
        let e = shifted.exp()
        return e / e.sum(axes: [-1], keepDims: true)
    }

    /// `log_softmax(x)` over the last dimension: `(x − max) − log Σ exp(x − max)`.
    func interimLogSoftmax() -> Tensor {
        let shifted = self - self.max(axis: -1, keepDims: true).detach()
        return shifted - shifted.exp().sum(axes: [-1], keepDims: true).log()
    }

    /// Per-row `−Σ targets · log_softmax(logits)` over the last dimension.
    static func interimCrossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
        -(targets * logits.interimLogSoftmax()).sum(axes: [-1])
    }
}
