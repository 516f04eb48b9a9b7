// The residual update of a transformer block as one op: x + branch ⊙ γ ⊙ s_b.
//
// A pre-norm block adds its branch back as `x + drop_path(ls(branch))`: a LayerScale product
// (γ over the last dimension), a drop-path product (one scale per sample) and the sum: three
// passes over the activations forward and five backward when composed. This op does the
// forward in one pass and the backward (branch and γ gradients) in one more; the x gradient
// is the incoming gradient itself.

extension Tensor {
    /// `x + branch ⊙ scale ⊙ sampleScale[b]`, computed as `x + ((branch ⊙ scale) ⊙ s_b)`
    /// (the rounding of the composed ops).
    ///
    /// - Parameters:
    ///   - x, branch: (B, …, D), the same shape.
    ///   - scale: (D), LayerScale's γ, or nil for 1; receives a gradient.
    ///   - sampleScale: (B), the drop-path factor of each sample (0 or 1/(1 − p)), or nil
    ///     for 1; a constant (no gradient).
    /// - Returns: a contiguous tensor of x's shape.
    public static func residual(_ x: Tensor, _ branch: Tensor, scale: Tensor? = nil,
                                sampleScale: Tensor? = nil) -> Tensor {
        precondition(x.shape == branch.shape && x.rank >= 1 && x.dtype == branch.dtype,
                     "residual: x \(fmt(x.shape)) and branch \(fmt(branch.shape)) differ")
        let d = x.shape[x.rank - 1]
        let batch = x.rank >= 2 ? x.shape[0] : 1
        if let scale {
            precondition(scale.shape == [d] && scale.dtype == x.dtype,
                         "residual: scale \(fmt(scale.shape)) for rows of \(d)")
        }
        if let sampleScale {
            precondition(x.rank >= 2 && sampleScale.shape == [batch] && sampleScale.dtype == x.dtype,
                         "residual: sample scale \(fmt(sampleScale.shape)) for a batch of \(batch)")
        }
        let (xc, bc, sc, ss) = withNoGrad {
            (x.contiguous(), branch.contiguous(), scale?.contiguous(), sampleScale?.contiguous())
        }
        let rows = d == 0 ? 0 : x.count / d
        let rowsPerSample = Swift.max(1, rows / Swift.max(batch, 1))
        let out = uninitializedTensor(x.shape, dtype: x.dtype)

        func forward<T: TensorScalar>(_: T.Type) {
            let xp = xc.pointer(T.self), bp = bc.pointer(T.self), op = out.pointer(T.self)
            let gp = sc?.pointer(T.self), sp = ss?.pointer(T.self)
            parallelFor(rows, grain: Swift.max(1, 16_384 / Swift.max(d, 1))) { r in
                for row in r {
                    let xr = xp + row * d, br = bp + row * d, orow = op + row * d
                    let s = sp.map { $0[row / rowsPerSample] }
                    switch (gp, s) {
                    case let (g?, s?): for j in 0..<d { orow[j] = xr[j] + (br[j] * g[j]) * s }
                    case let (g?, nil): for j in 0..<d { orow[j] = xr[j] + br[j] * g[j] }
                    case let (nil, s?): for j in 0..<d { orow[j] = xr[j] + br[j] * s }
                    case (nil, nil): for j in 0..<d { orow[j] = xr[j] + br[j] }
                    }
                }
            }
        }
        switch x.dtype {
        case .float32: forward(Float.self)
        case .float64: forward(Double.self)
        }

        var inputs = [x, branch]
        if let scale { inputs.append(scale) }
        return Tensor.record(out, op: .residual, inputs: inputs) { g in
            let gc = withNoGrad { g.contiguous() }
            let needBranch = branch.requiresGrad, needScale = scale?.requiresGrad ?? false
            let dBranch = needBranch ? uninitializedTensor(x.shape, dtype: x.dtype) : nil
            var dScale: Tensor? = nil

            func backward<T: TensorScalar>(_: T.Type) {
                let gp = gc.pointer(T.self), bp = bc.pointer(T.self)
                let dbp = dBranch?.pointer(T.self)
                let gammaP = sc?.pointer(T.self), sp = ss?.pointer(T.self)
                // dγ: Σ over rows of g ⊙ branch ⊙ s_b, per chunk of rows, then over chunks.
                let chunks = Swift.max(1, Swift.min(Threads.count, rows))
                let partial = needScale ? UnsafeMutablePointer<T>.allocate(capacity: chunks * d) : nil
                defer { partial?.deallocate() }
                partial?.initialize(repeating: 0, count: chunks * d)
                let perChunk = (rows + chunks - 1) / Swift.max(chunks, 1)
                parallelFor(chunks, grain: 1) { cr in
                    for c in cr {
                        let acc = partial.map { $0 + c * d }
                        for row in (c * perChunk)..<Swift.min(rows, (c + 1) * perChunk) {
                            let grow = gp + row * d, brow = bp + row * d
                            let s: T = sp.map { $0[row / rowsPerSample] } ?? 1
                            if let dbp {
                                let drow = dbp + row * d
                                if let gammaP {
                                    for j in 0..<d { drow[j] = (grow[j] * s) * gammaP[j] }
                                } else {
                                    for j in 0..<d { drow[j] = grow[j] * s }
                                }
                            }
                            if let acc {
                                for j in 0..<d { acc[j] += (grow[j] * s) * brow[j] }
                            }
                        }
                    }
                }
                if let partial {
                    let ds = uninitializedTensor([d], dtype: x.dtype)
                    let dp = ds.pointer(T.self)
                    for j in 0..<d {
                        var total: T = 0
                        for c in 0..<chunks { total += partial[c * d + j] }
                        dp[j] = total
                    }
                    dScale = ds
                }
            }
            switch x.dtype {
            case .float32: backward(Float.self)
            case .float64: backward(Double.self)
            }
            var grads: [Tensor?] = [x.requiresGrad ? gc : nil, dBranch]
            if scale != nil { grads.append(dScale) }
            return grads
        }
    }
}
