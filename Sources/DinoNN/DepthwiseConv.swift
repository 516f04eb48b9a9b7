// A depthwise convolution layer on channels-last feature maps (ConvNeXt's `dwconv`).

import DinoTensor

/// One k × k filter per channel, stride 1, zero padding `p`, on (B, H, W, C) maps.
///
/// `y[b, i, j, c] = β_c + Σ_{u,v} W[c, 0, u, v] · x[b, i + u − p, j + v − p, c]`; the
/// weights are saved as `torch.nn.Conv2d(C, C, k, padding=p, groups=C)` saves them:
/// weight (C, 1, k, k), bias (C).
///
/// Reference: dinov3/models/convnext.py `Block.dwconv` (kernel 7, padding 3).
public final class DepthwiseConv2d: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let padding: Int

    public init(channels: Int, kernelSize: Int, padding: Int, bias: Bool = true) {
        weight = Parameter(shape: [channels, 1, kernelSize, kernelSize], kind: .weight)
        self.bias = bias ? Parameter(shape: [channels], kind: .bias) : nil
        self.padding = padding
    }

    /// x (B, H, W, C) → (B, H + 2p − k + 1, W + 2p − k + 1, C)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.depthwiseConv2d(weight: weight.value, bias: bias?.value, padding: padding)
    }
}
