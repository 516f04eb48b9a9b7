// DINO's projection head: an MLP to a bottleneck, L2 normalisation, and a weight-normalised
// linear layer onto the prototypes.
//
// What it is: `DINOHead` of facebookresearch/dino `vision_transformer.py` without batch norm
// (`use_bn_in_head` is off in every released DINO model), with its checkpoint keys
// (`mlp.0`, `mlp.2`, `mlp.4`, `last_layer.weight_g`, `last_layer.weight_v`) and its
// initialisation. What it is not: the DINOv2/iBOT head (same shape, other defaults) — a
// DINOv2 method reuses this class with its own settings. DINOv3's head is the same with a
// plain `nn.Linear` last layer (`last_layer.weight`, trunc-normal(0.02) like the MLP), chosen
// with `LastLayerKind.linear`.

import DinoNN
import DinoTensor

/// GELU as a layer without parameters, holding the place of `nn.GELU()` in `mlp`, so that the
/// linear layers keep the reference's indices (`mlp.0`, `mlp.2`, `mlp.4`).
public final class GELUActivation: Module, UnaryLayer {
    public override init() { super.init() }

    /// x → x Φ(x) (the exact erf form, as `nn.GELU()`).
    public func callAsFunction(_ x: Tensor) -> Tensor { x.gelu() }
}

/// A linear map without bias whose weight rows are `g · v / ‖v‖`: PyTorch's
/// `nn.utils.weight_norm(nn.Linear(in, out, bias=False))` with `dim = 0`.
///
///     W[k] = g[k] · v[k] / ‖v[k]‖₂,      y = x Wᵀ
///
/// With `trainableScale` off (DINO's `norm_last_layer`), `g` is fixed at 1: every prototype is
/// a unit vector and the logits are cosine similarities to the (normalised) input. `g` is then
/// a saved buffer, outside the optimiser, as the reference sets `requires_grad = False`.
///
/// Reference: Salimans & Kingma, "Weight Normalization" (NeurIPS 2016); PyTorch
/// `torch.nn.utils.weight_norm`; facebookresearch/dino `vision_transformer.py` (`DINOHead`).
public final class WeightNormalizedLinear: Module, UnaryLayer {
    /// g, (out, 1), filled with 1.
    @Key("weight_g") public var scale: Parameter
    /// v, (out, in).
    @Key("weight_v") public var direction: Parameter

    public let inputDimensions: Int
    public let outputDimensions: Int

    public init(_ inputDimensions: Int, _ outputDimensions: Int, trainableScale: Bool) {
        self.inputDimensions = inputDimensions
        self.outputDimensions = outputDimensions
        super.init()
        // weight_g is 2-D, so DINO's get_params_groups decays it when it is trained.
        scale = Parameter(shape: [outputDimensions, 1], kind: trainableScale ? .weight : .buffer, fill: .constant(1))
        direction = Parameter(shape: [outputDimensions, inputDimensions], kind: .weight)
    }

    /// The effective weight `g · v / ‖v‖`, (out, in).
    public var weight: Tensor {
        direction.value.l2Normalized(axis: 1, eps: 0) * scale.value                      // (K, I)
    }

    /// x (…, in) → (…, out)
    public func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight) }
}

/// DINO's projection head.
///
///     h = MLP(x)                     Linear(D, hidden) → GELU → … → Linear(hidden, bottleneck)
///     z = h / ‖h‖₂
///     y = last_layer(z)              weight-normalised, (…, K) with K prototypes
///
/// Reference: Caron et al. (2021) §3.1 and appendix; facebookresearch/dino
/// `vision_transformer.py` (`DINOHead`: 3 layers, hidden 2048, bottleneck 256, 65 536
/// prototypes, `norm_last_layer` True).
public final class DINOHead: Module, UnaryLayer {
    /// The kind of the last layer onto the prototypes.
    public enum LastLayerKind: String, Sendable, Codable, CaseIterable {
        /// Weight-normalised, no bias (DINO, DINOv2; the default): `last_layer.weight_g`, `weight_v`.
        case weightNormalized = "weight_norm"
        /// A plain linear map without bias, trunc-normal(0.02) initialisation (DINOv3
        /// dinov3/layers/dino_head.py): `last_layer.weight`.
        case linear
    }

    /// Linear, GELU, Linear, GELU, …, Linear: `nlayers` linear layers.
    public let mlp: [Module]
    /// The last layer when it is weight-normalised (exactly one of the two is set).
    @Key("last_layer") public var weightNormalizedLastLayer: WeightNormalizedLinear?
    /// The last layer when it is a plain linear map.
    @Key("last_layer") public var linearLastLayer: Linear?

    public let inputDimensions: Int
    public let prototypes: Int
    public let lastLayerKind: LastLayerKind

    /// The weight-normalised last layer (DINO, DINOv2 heads).
    public var lastLayer: WeightNormalizedLinear {
        guard let w = weightNormalizedLastLayer else {
            preconditionFailure("DINOHead.lastLayer: this head's last layer is a plain Linear (last_layer: linear); use linearLastLayer")
        }
        return w
    }

    /// - Parameters:
    ///   - inputDimensions: the backbone's embedding width D.
    ///   - prototypes: K, the output width (DINO: 65 536).
    ///   - hiddenDimensions: width of the hidden layers (DINO: 2048).
    ///   - bottleneckDimensions: width before the last layer (DINO: 256).
    ///   - layers: number of linear layers of the MLP, at least 1 (DINO: 3).
    ///   - normLastLayer: fix the weight-normalised last layer's scale g at 1 (DINO: true).
    ///   - lastLayerKind: weight-normalised (DINO, DINOv2) or plain linear (DINOv3).
    public init(inputDimensions: Int, prototypes: Int, hiddenDimensions: Int = 2048,
                bottleneckDimensions: Int = 256, layers: Int = 3, normLastLayer: Bool = true,
                lastLayerKind: LastLayerKind = .weightNormalized) {
        precondition(inputDimensions > 0 && prototypes > 0 && hiddenDimensions > 0 && bottleneckDimensions > 0,
                     "DINOHead: dimensions must be positive")
        self.inputDimensions = inputDimensions
        self.prototypes = prototypes
        self.lastLayerKind = lastLayerKind
        let n = Swift.max(layers, 1)
        if n == 1 {
            mlp = [Linear(inputDimensions, bottleneckDimensions)]
        } else {
            var m: [Module] = [Linear(inputDimensions, hiddenDimensions), GELUActivation()]
            for _ in 0..<(n - 2) { m += [Linear(hiddenDimensions, hiddenDimensions), GELUActivation()] }
            m.append(Linear(hiddenDimensions, bottleneckDimensions))
            mlp = m
        }
        super.init()
        switch lastLayerKind {
        case .weightNormalized:
            weightNormalizedLastLayer = WeightNormalizedLinear(bottleneckDimensions, prototypes, trainableScale: !normLastLayer)
        case .linear:
            linearLastLayer = Linear(bottleneckDimensions, prototypes, bias: false)
        }
    }

    /// The parameters of the last layer (cancelled during the first epoch, `freeze_last_layer`).
    public var lastLayerParameters: [Parameter] {
        weightNormalizedLastLayer?.parameters() ?? linearLastLayer!.parameters()
    }

    /// Draws the initial weights from `generator`, as the reference: the MLP's linear weights
    /// ~ trunc-normal(0, 0.02²), biases 0 (`_init_weights`); a weight-normalised last layer
    /// keeps PyTorch's default `nn.Linear` init, v ~ U(−1/√in, 1/√in), and g = 1
    /// (`weight_g.data.fill_(1)`); a plain linear last layer is trunc-normal(0, 0.02²) like
    /// the MLP (DINOv3's `self.apply(self._init_weights)` reaches it too).
    public func initializeWeights(generator: RandomGenerator) {
        for layer in mlp {
            guard let linear = layer as? Linear else { continue }
            linear.weight.fillTruncatedNormal(std: 0.02, generator: generator)
            linear.bias?.fillConstant(0)
        }
        if let last = weightNormalizedLastLayer {
            let bound = 1 / Double(last.inputDimensions).squareRoot()
            last.direction.fillUniform(low: -bound, high: bound, generator: generator)
            last.scale.fillConstant(1)
        } else {
            linearLastLayer!.weight.fillTruncatedNormal(std: 0.02, generator: generator)
        }
    }

    /// The bottleneck features `MLP(x) / ‖MLP(x)‖`, (…, bottleneck).
    public func bottleneck(_ x: Tensor) -> Tensor {
        var h = x
        for layer in mlp { h = (layer as! UnaryLayer)(h) }                               // (…, hidden) … (…, bottleneck)
        return h.l2Normalized(axis: -1)                                                  // (…, bottleneck)
    }

    /// x (…, D) → (…, K)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let z = bottleneck(x)                                                            // (…, bottleneck)
        return weightNormalizedLastLayer?(z) ?? linearLastLayer!(z)                     // (…, K)
    }
}
