// Cross-entropy losses built on the fused log-softmax: with soft targets (per row, the form
// of the DINO, iBOT and distillation losses) and with hard class labels (mean over rows,
// the form of linear probes and fine-tuning), and with hard labels and an ignore index, fused
// (the per-pixel loss of segmentation heads).

import CDinoKernels

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

    /// Cross-entropy with hard class labels and an ignore index, averaged over the rows whose
    /// label is not ignored; one fused op (no log-softmax tensor, no copy of the kept rows).
    ///
    /// `loss = −(1/|K|) Σ_{i∈K} (logits[i, labels[i]] − lseᵢ)`, `lseᵢ = log Σⱼ exp(logits[i, j])`,
    /// K the rows with `labels[i] != ignoreIndex`; gradient `(softmax(logits) − onehot(labels)) / |K|`
    /// on the rows of K, 0 on the ignored rows. The forward pass keeps only lse per row; the
    /// backward pass recomputes the softmax from the logits. In Float32 the numbers are those of
    /// `crossEntropy(logits: logits.indexSelect(axis: 0, indices: K), labels:)` (same kernels'
    /// arithmetic, same order of the sum); no row kept gives NaN, as PyTorch.
    ///
    /// - Parameters:
    ///   - logits: (N, C) unnormalised scores.
    ///   - labels: N class indices, each in `0..<C` or equal to `ignoreIndex`.
    ///   - ignoreIndex: the label of rows left out (PyTorch's `ignore_index`, mmseg's 255).
    /// - Returns: a scalar (shape []).
    /// Reference: `torch.nn.functional.cross_entropy(logits, labels, ignore_index=ignoreIndex,
    /// reduction="mean")`.
    public static func crossEntropy(logits: Tensor, labels: [Int], ignoreIndex: Int) -> Tensor {
        precondition(logits.rank == 2 && labels.count == logits.shape[0],
                     "crossEntropy: logits \(fmt(logits.shape)) must be (N, C) with N = \(labels.count) labels")
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        // Rows to ignore get −1 (what the kernels skip); the others keep their class.
        var rowLabels = labels
        var kept = 0
        for (i, label) in labels.enumerated() {
            if label == ignoreIndex {
                rowLabels[i] = -1
            } else {
                precondition(label >= 0 && label < classes,
                             "crossEntropy: label \(label) of row \(i) out of range 0..<\(classes) (ignore index \(ignoreIndex)) for logits \(fmt(logits.shape))")
                kept += 1
            }
        }
        let x = logits.contiguous().detach()                                // (N, C)
        let lse = uninitializedTensor([rows], dtype: logits.dtype)          // (N)
        var total = 0.0
        switch logits.dtype {
        case .float32:
            let xp = x.pointer(Float.self), lp = lse.pointer(Float.self)
            var picked = [Float](repeating: 0, count: rows)
            picked.withUnsafeMutableBufferPointer { pp in
                rowLabels.withUnsafeBufferPointer { lb in
                    let (pk, lbp) = (pp.baseAddress!, lb.baseAddress!)
                    parallelRows(rows, n: classes) { r in
                        let o = r.lowerBound
                        dino_cross_entropy_forward(xp + o * classes, lbp + o, lp + o, pk + o, r.count, classes)
                    }
                }
            }
            // In row order, in Double: the sum of the unfused path over the kept rows.
            for i in 0..<rows where rowLabels[i] >= 0 { total -= Double(picked[i]) }
        case .float64:
            let xp = x.pointer(Double.self), lp = lse.pointer(Double.self)
            for i in 0..<rows {
                let row = xp + i * classes
                var m = -Double.infinity
                for j in 0..<classes where row[j] > m || row[j].isNaN { m = row[j] }
                var s = 0.0
                for j in 0..<classes { s += Double.exp(row[j] - m) }
                lp[i] = m + Double.log(s)
                if rowLabels[i] >= 0 { total -= row[rowLabels[i]] - lp[i] }
            }
        }
        let mean = kept == 0 ? Double.nan : total / Double(kept)
        let loss = Tensor.full([], mean, dtype: logits.dtype)
        return Tensor.record(loss, op: .crossEntropyLabels, inputs: [logits]) { g in
            let dx = uninitializedTensor([rows, classes], dtype: g.dtype)   // (N, C)
            // The NLL gradient at each kept row's label (−g/|K|), through the log-softmax.
            let scale = -g.doubles[0] / Double(kept)
            switch g.dtype {
            case .float32:
                let xp = x.pointer(Float.self), lp = lse.pointer(Float.self), dp = dx.pointer(Float.self)
                rowLabels.withUnsafeBufferPointer { lb in
                    let lbp = lb.baseAddress!
                    parallelRows(rows, n: classes) { r in
                        let o = r.lowerBound
                        dino_cross_entropy_backward(xp + o * classes, lbp + o, lp + o, dp + o * classes, r.count, classes,
                                                    Float(scale))
                    }
                }
            case .float64:
                let xp = x.pointer(Double.self), lp = lse.pointer(Double.self), dp = dx.pointer(Double.self)
                for i in 0..<rows {
                    let label = rowLabels[i]
                    for j in 0..<classes {
                        dp[i * classes + j] = label < 0 ? 0 : (j == label ? scale : 0) - Double.exp(xp[i * classes + j] - lp[i]) * scale
                    }
                }
            }
            return [dx]
        }
    }
}
