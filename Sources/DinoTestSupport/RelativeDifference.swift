// Comparing two runs' checkpoint tensors by relative difference (the Float64 training tests:
// Float64 against Float32, data-parallel against one process).

import DinoTensor

/// The largest relative difference between the tensors of two runs, optimiser state (names
/// under `optimizer.`) left out: `max |a − b| / max |b|` of each tensor, and the worst tensor's
/// name. A tensor missing from `b` counts as infinitely different.
///
/// - Parameter skipKeyBias: leave out the key third of every `attn.qkv.bias` (rows D..<2D of
///   the [q; k; v] bias). Its exact gradient is 0 (softmax is unchanged by adding one value to
///   every logit of a row), so after a few AdamW steps it holds rounding noise divided by its
///   own size (AdamW's m/√v): in Float32 ~1e-2 relative to the rest of the bias, in Float64
///   ~1e-11. Two runs have nothing to agree on there; the query and value thirds stay in.
public func maxRelativeDifference(_ a: [String: Tensor], _ b: [String: Tensor],
                                  skipKeyBias: Bool = false) -> (value: Double, tensor: String) {
    var worst = (value: 0.0, tensor: "")
    for (name, x) in a.sorted(by: { $0.key < $1.key }) where !name.hasPrefix("optimizer.") {
        guard let y = b[name] else { return (.infinity, name + " (missing)") }
        var xs = x.to(.float64).doubles, ys = y.to(.float64).doubles
        if skipKeyBias && name.hasSuffix("attn.qkv.bias") {
            let d = xs.count / 3
            xs.removeSubrange(d..<(2 * d))
            ys.removeSubrange(d..<(2 * d))
        }
        let difference = zip(xs, ys).map { abs($0 - $1) }.max() ?? 0
        let r = difference == 0 ? 0 : difference / max(ys.map(abs).max() ?? 0, .leastNormalMagnitude)
        if r > worst.value { worst = (r, name) }
    }
    return worst
}
