// Cross-entropy losses built on the fused log-softmax: with soft targets (per row, the form
// of the DINO, iBOT and distillation losses) and with hard class labels (mean over rows,
// the form of linear probes and fine-tuning).

extension Tensor {
    /// Cross-entropy with soft targets along `axis`, one loss per row.
    ///
    /// `loss = −Σ_axis targets ⊙ logSoftmax(logits)`; gradients flow to the logits
    /// (`softmax(logits) Σ targets − targets`, per unit of loss) and to the targets
    /// (`−logSoftmax(logits)`). Targets need not sum to one.
    ///
    /// - Parameters:
    ///   - logits: unnormalised scores (…, K, …).
    ///   - targets: a distribution over the same axis, of the logits' shape.
    ///   - axis: the class dimension.
    /// - Returns: the logits' shape without `axis`.
    /// Reference: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers"
    /// (2021), eq. 2; `torch.nn.functional.cross_entropy` with probability targets and
    /// `reduction="none"`.
    public static func crossEntropy(logits: Tensor, targets: Tensor, axis: Int = -1) -> Tensor {
        precondition(logits.shape == targets.shape,
                     "crossEntropy: logits \(fmt(logits.shape)) and targets \(fmt(targets.shape)) differ in shape")
        precondition(logits.dtype == targets.dtype,
                     "crossEntropy: logits are \(logits.dtype), targets \(targets.dtype)")
        let ax = normalizeAxis(axis, rank: logits.rank, op: "crossEntropy")
        return -(targets * logits.logSoftmax(axis: ax)).sum(axes: [ax])
    }

    /// Cross-entropy with hard class labels, averaged over the rows.
    ///
    /// `loss = −(1/N) Σᵢ logSoftmax(logits)[i, labels[i]]`; the gradient with respect to the
    /// logits is `(softmax(logits) − onehot(labels)) / N`.
    ///
    /// - Parameters:
    ///   - logits: (N, C) unnormalised scores.
    ///   - labels: N class indices in `0..<C`.
    /// - Returns: a scalar (shape []).
    /// Reference: `torch.nn.functional.cross_entropy` with class-index targets and
    /// `reduction="mean"`.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
        precondition(logits.rank == 2 && labels.count == logits.shape[0],
                     "crossEntropy: logits \(fmt(logits.shape)) must be (N, C) with N = \(labels.count) labels")
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        for (i, label) in labels.enumerated() {
            precondition(label >= 0 && label < classes,
                         "crossEntropy: label \(label) of row \(i) out of range 0..<\(classes) for logits \(fmt(logits.shape))")
        }
        let logProbs = logits.logSoftmax(axis: 1)   // (N, C)
        // Mean of the picked log-probabilities, negated: the negative log-likelihood.
        var total = 0.0
        switch logProbs.dtype {
        case .float32:
            let lp = logProbs.pointer(Float.self)
            for (i, label) in labels.enumerated() { total -= Double(lp[i * classes + label]) }
        case .float64:
            let lp = logProbs.pointer(Double.self)
            for (i, label) in labels.enumerated() { total -= lp[i * classes + label] }
        }
        let mean = rows == 0 ? Double.nan : total / Double(rows)
        let loss = Tensor.full([], mean, dtype: logits.dtype)
        return Tensor.record(loss, op: .nllLoss, inputs: [logProbs]) { g in
            let grad = Tensor(zeros: [rows, classes], dtype: g.dtype)    // (N, C)
            let scale = -g.doubles[0] / Double(rows)
            switch g.dtype {
            case .float32:
                let p = grad.pointer(Float.self)
                for (i, label) in labels.enumerated() { p[i * classes + label] += Float(scale) }
            case .float64:
                let p = grad.pointer(Double.self)
                for (i, label) in labels.enumerated() { p[i * classes + label] += scale }
            }
            return [grad]
        }
    }
}
