// SGD with momentum, as torch.optim.SGD computes it (dampening 0).
//
// Used by the linear probe (DINO's eval_linear.py trains its classifier with SGD, momentum 0.9,
// no weight decay). The update writes into the parameters in place, off the autograd tape; each
// element's update depends only on that element, so results do not depend on the thread count.

import DinoTensor

/// Stochastic gradient descent with heavy-ball (or Nesterov) momentum over parameter groups.
///
/// For each parameter `p` with gradient `g`:
///
///     d ← g + wd · p                         (skipped when wd = 0)
///     b ← d                                  on the first step, else b ← μ b + d
///     d ← d + μ b  (Nesterov)  or  d ← b
///     p ← p − lr · d
///
/// Parameters whose gradient is nil are skipped (no momentum update).
///
/// Reference: PyTorch `torch/optim/sgd.py` (`_single_tensor_sgd`, dampening 0); Sutskever et
/// al., "On the importance of initialization and momentum in deep learning" (ICML 2013).
public final class SGD {
    /// μ, the momentum coefficient (0 for plain SGD).
    public let momentum: Double
    /// Nesterov's variant of momentum.
    public let nesterov: Bool
    /// The parameter groups, fixed at construction.
    public let groups: [ParameterGroup]
    var buffers: [[Tensor?]]

    public init(groups: [ParameterGroup], momentum: Double = 0.9, nesterov: Bool = false) {
        precondition(momentum >= 0, "SGD: momentum \(momentum) must be non-negative")
        precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum needs a positive momentum")
        groups.validate(op: "SGD")
        self.groups = groups
        self.momentum = momentum
        self.nesterov = nesterov
        buffers = groups.map { [Tensor?](repeating: nil, count: $0.parameters.count) }
    }

    /// One update with base values multiplied by each group's multipliers.
    public func step(learningRate: Double, weightDecay: Double = 0) {
        withNoGrad {
            for (gi, group) in groups.enumerated() {
                let lr = learningRate * group.lrMultiplier, wd = weightDecay * group.weightDecayMultiplier
                for (k, p) in group.parameters.enumerated() {
                    guard let grad = p.grad else { continue }
                    precondition(grad.shape == p.shape && grad.dtype == p.dtype,
                                 "SGD.step: gradient \(grad.shape) \(grad.dtype) for parameter '\(group.names[k])' \(p.shape) \(p.dtype)")
                    let first = buffers[gi][k] == nil
                    if momentum != 0 && first { buffers[gi][k] = p.zerosLike() }
                    switch p.dtype {
                    case .float32: kernel(Float.self, p, grad.contiguous(), buffers[gi][k], first: first, lr: lr, wd: wd)
                    case .float64: kernel(Double.self, p, grad.contiguous(), buffers[gi][k], first: first, lr: lr, wd: wd)
                    }
                }
            }
        }
    }

    func kernel<T: TensorScalar>(_: T.Type, _ param: Tensor, _ grad: Tensor, _ buffer: Tensor?, first: Bool,
                                 lr: Double, wd: Double) {
        let p = param.pointer(T.self), g = grad.pointer(T.self)
        let b = buffer?.pointer(T.self)
        let mu = T(momentum), negLR = T(-lr), decay = T(wd), applyDecay = wd != 0, nesterov = self.nesterov
        parallelFor(param.count, grain: 16_384) { r in
            for i in r {
                var d = g[i]
                if applyDecay { d = d + decay * p[i] }
                if let b {
                    let bi = first ? d : b[i] * mu + d
                    b[i] = bi
                    d = nesterov ? d + mu * bi : bi
                }
                p[i] = p[i] + negLR * d
            }
        }
    }
}
