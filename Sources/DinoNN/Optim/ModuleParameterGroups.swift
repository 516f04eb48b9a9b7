// Parameter groups from the roles that layers declare when they are built.

import DinoTensor

extension Module {
    /// The optimiser's parameter groups for this module, from each parameter's declared
    /// `kind`, `layerIndex` and `isPatchEmbedding` — never from its name.
    ///
    /// - Learning-rate multiplier: `layerDecay^(L + 1 − layerIndex)` with L the largest layer
    ///   index minus one (the depth), times `patchEmbedLRMultiplier` for the patch embedding
    ///   (dinov2/utils/param_groups.py `get_vit_lr_decay_rate`, `patch_embed_lr_mult`).
    /// - Weight-decay multiplier: 0 for the kinds in `noWeightDecay` (default: biases, norms
    ///   and LayerScale, as DINO's `get_params_groups` and DINOv2's `wd_multiplier`), else 1.
    ///
    /// Parameters with equal multipliers share a group, in order of first appearance.
    ///
    /// - Parameter prefix: prepended to every name (`student.`), for checkpoint keys.
    public func parameterGroups(prefix: String = "", layerDecay: Double = 1, patchEmbedLRMultiplier: Double = 1,
                                noWeightDecay: Set<ParameterKind> = [.bias, .normalization, .layerScale]) -> [ParameterGroup] {
        let named = namedParameters()
        let maxLayer = named.compactMap { $0.1.layerIndex }.max() ?? 0
        let depth = max(maxLayer - 1, 0)
        var groups: [ParameterGroup] = []
        var index: [String: Int] = [:]
        for (name, p) in named {
            var lr = 1.0
            if let layer = p.layerIndex, layerDecay != 1 {
                lr = Double.pow(layerDecay, Double(depth + 1 - layer))
            }
            if p.isPatchEmbedding { lr *= patchEmbedLRMultiplier }
            let wd: Double = noWeightDecay.contains(p.kind) ? 0 : 1
            let key = "\(lr)/\(wd)"
            if let i = index[key] {
                groups[i].parameters.append(p.value)
                groups[i].names.append(prefix + name)
            } else {
                index[key] = groups.count
                let role = (wd == 0 ? "no_decay" : "decay") + (lr == 1 ? "" : String(format: "_lr%.4g", lr))
                groups.append(ParameterGroup(role: role, parameters: [p.value], names: [prefix + name],
                                             lrMultiplier: lr, weightDecayMultiplier: wd))
            }
        }
        return groups
    }
}
