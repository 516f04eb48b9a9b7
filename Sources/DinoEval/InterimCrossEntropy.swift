// Mean cross-entropy with hard labels, composed from core ops.
//
// Interim: helper "fused" brings `Tensor.crossEntropy(logits:labels:)` with a fused kernel to
// DinoTensor; once it lands this file goes and the caller switches.

import DinoTensor

/// `mean_i −log_softmax(logits_i)[y_i]` for logits (N, C) and N labels.
func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    let (n, c) = (logits.shape[0], logits.shape[1])
    var oneHot = [Float](repeating: 0, count: n * c)
    for (i, y) in labels.enumerated() { oneHot[i * c + y] = 1 }
    let shifted = logits - logits.max(axis: -1, keepDims: true).detach()
    let logProbs = shifted - shifted.exp().sum(axes: [-1], keepDims: true).log()      // (N, C)
    return -(Tensor(oneHot, shape: [n, c]).to(logits.dtype) * logProbs).sum() * (1 / Double(n))
}
