// Linear (affine) layer, optionally with a fixed mask on its bias (DINOv3's zeroed key bias).

import DinoTensor

/// `y = x Wᵀ + b` over the last dimension.
///
/// Weight `(outputDimensions, inputDimensions)` and bias `(outputDimensions)` as
/// `torch.nn.Linear`. With `biasMask`, the bias is multiplied by a saved 0/1 buffer first:
/// DINOv3's `LinearKMaskedBias` keeps the key part of the `qkv` bias at zero this way
/// (dinov3/layers/attention.py), and stores the mask as `bias_mask`.
///
/// Reference: mlx-swift `Linear.swift`; PyTorch `torch.nn.Linear`.
public final class Linear: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    @Key("bias_mask") public var biasMask: Parameter?

    public let inputDimensions: Int
    public let outputDimensions: Int

    /// - Parameters:
    ///   - inputDimensions: size of the last input dimension.
    ///   - outputDimensions: size of the last output dimension.
    ///   - bias: whether to add a learned bias.
    ///   - biasMask: values of a 0/1 buffer multiplying the bias (length `outputDimensions`).
    public init(_ inputDimensions: Int, _ outputDimensions: Int, bias: Bool = true, biasMask: [Float]? = nil) {
        self.inputDimensions = inputDimensions
        self.outputDimensions = outputDimensions
        weight = Parameter(shape: [outputDimensions, inputDimensions], kind: .weight)
        self.bias = bias ? Parameter(shape: [outputDimensions], kind: .bias) : nil
        super.init()
        if let biasMask {
            precondition(bias && biasMask.count == outputDimensions,
                         "Linear: bias mask of \(biasMask.count) values for \(outputDimensions) outputs (bias: \(bias))")
            self.biasMask = Parameter(shape: [outputDimensions], kind: .buffer,
                                      fill: .computed { Tensor(biasMask, shape: [biasMask.count]) })
        }
    }

    /// The bias actually added: `bias · biasMask` when masked.
    public var effectiveBias: Tensor? {
        guard let bias else { return nil }
        if let biasMask { return bias.value * biasMask.value }
        return bias.value
    }

    /// x (…, inputDimensions) → (…, outputDimensions)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.linear(weight: weight.value, bias: effectiveBias)
    }
}
