// AdamW: Adam with decoupled weight decay, as torch.optim.AdamW computes it.
//
// The update writes into the parameters' storage through raw pointers, off the autograd tape.
// Each element's update depends only on that element, so the result is the same for any
// number of threads. Scalars are rounded to the parameter's dtype where PyTorch rounds them
// (a Python float meeting a float32 tensor), and the element operations follow PyTorch's
// AVX-512 CPU kernels in order, including their fused multiply-adds (lerp, addcmul). Against
// torch 2.13 the float32 results are bit-identical except where torch's vectorised square root
// (MKL VML) is not correctly rounded: there the two differ in the last bit (tests/fixtures:
// 99.4 % of values identical, the rest within 1e-6 relative).
//
// Not here: AMSGrad, maximise, capturable/differentiable variants (none of the DINO recipes
// uses them).

import DinoTensor
import Foundation

/// Errors reading optimiser state back from a checkpoint.
public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    case missing(key: String)
    case shapeMismatch(key: String, expected: [Int], found: [Int])
    case unexpected(keys: [String])
    case invalidStep(key: String, value: Double)

    public var description: String {
        switch self {
        case .missing(let key): return "optimizer state: missing tensor '\(key)'"
        case .shapeMismatch(let key, let e, let f): return "optimizer state: '\(key)' has shape \(f), expected \(e)"
        case .unexpected(let keys): return "optimizer state: unexpected tensors \(keys.joined(separator: ", ")) (does the model match the checkpoint?)"
        case .invalidStep(let key, let v): return "optimizer state: '\(key)' holds \(v), not a step count"
        }
    }
}

/// AdamW over parameter groups (torch.optim.AdamW, single-tensor CPU path).
///
/// For each parameter `p` with a gradient `g`, at its own step count `t` (incremented first):
///
///     p ← p · (1 − lr · wd)                          (decoupled weight decay, skipped if wd = 0)
///     m ← m + (1 − β₁)(g − m)                        (lerp)
///     v ← β₂ v + (1 − β₂) g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// Parameters whose gradient is nil are skipped entirely: no decay, no moment update, no step
/// count (DINO's `cancel_gradients_last_layer` relies on this).
///
/// Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019);
/// PyTorch `torch/optim/adamw.py`, `torch/optim/adam.py` (`_single_tensor_adam`).
public final class AdamW {
    /// Coefficient of the running mean of gradients (PyTorch default 0.9).
    public let beta1: Double
    /// Coefficient of the running mean of squared gradients (PyTorch default 0.999).
    public let beta2: Double
    /// Added to the denominator after the square root (PyTorch default 1e-8).
    public let eps: Double
    /// The parameter groups, fixed at construction.
    public let groups: [ParameterGroup]

    /// Per-parameter state, parallel to `groups[g].parameters`.
    struct State {
        var step = 0
        var expAvg: Tensor?
        var expAvgSq: Tensor?
    }
    var states: [[State]]

    public init(groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        precondition(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
                     "AdamW: betas (\(beta1), \(beta2)) must lie in [0, 1)")
        precondition(eps >= 0, "AdamW: eps \(eps) must be non-negative")
        groups.validate(op: "AdamW")
        self.groups = groups
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        states = groups.map { [State](repeating: State(), count: $0.parameters.count) }
    }

    /// The number of updates parameter `name` has received, or nil for an unknown name.
    public func stepCount(of name: String) -> Int? {
        for (gi, g) in groups.enumerated() {
            if let k = g.names.firstIndex(of: name) { return states[gi][k].step }
        }
        return nil
    }

    /// One update with every group's learning rate and weight decay taken from `values`
    /// (schedule value × group multiplier).
    public func step(_ values: ScheduleValues) {
        step(hyperparameters: groups.map { $0.hyperparameters(values) })
    }

    /// One update with base values multiplied by each group's multipliers.
    public func step(learningRate: Double, weightDecay: Double) {
        step(hyperparameters: groups.map { (learningRate * $0.lrMultiplier, weightDecay * $0.weightDecayMultiplier) })
    }

    /// One update with an explicit (learning rate, weight decay) per group.
    public func step(hyperparameters: [(learningRate: Double, weightDecay: Double)]) {
        precondition(hyperparameters.count == groups.count,
                     "AdamW.step: \(hyperparameters.count) hyper-parameter pairs for \(groups.count) groups")
        withNoGrad {
            for (gi, group) in groups.enumerated() {
                let (lr, wd) = hyperparameters[gi]
                for (k, p) in group.parameters.enumerated() {
                    guard let grad = p.grad else { continue }
                    precondition(grad.shape == p.shape && grad.dtype == p.dtype,
                                 "AdamW.step: gradient \(grad.shape) \(grad.dtype) for parameter '\(group.names[k])' \(p.shape) \(p.dtype)")
                    update(p, grad.contiguous(), &states[gi][k], lr: lr, wd: wd)
                }
            }
        }
    }

    func update(_ p: Tensor, _ g: Tensor, _ s: inout State, lr: Double, wd: Double) {
        if s.expAvg == nil {
            s.expAvg = p.zerosLike()
            s.expAvgSq = p.zerosLike()
        }
        s.step += 1
        let t = Double(s.step)
        // Python floats, as torch computes them before they meet the tensor.
        let biasCorrection1 = 1 - Foundation.pow(beta1, t)
        let biasCorrection2 = 1 - Foundation.pow(beta2, t)
        let scalars = Scalars(decay: wd != 0 ? 1 - lr * wd : nil, lerpWeight: 1 - beta1, beta2: beta2,
                              oneMinusBeta2: 1 - beta2, stepSize: lr / biasCorrection1,
                              biasCorrection2Sqrt: Foundation.pow(biasCorrection2, 0.5), eps: eps)
        switch p.dtype {
        case .float32 where p.isContiguous:
            // The same arithmetic as `kernel`, vectorised in C (AdamWTests: the same bits).
            FusedKernels.adamWUpdate(param: p, grad: g, expAvg: s.expAvg!, expAvgSq: s.expAvgSq!,
                                     decay: scalars.decay.map(Float.init), lerpWeight: Float(scalars.lerpWeight),
                                     beta2: Float(scalars.beta2), oneMinusBeta2: Float(scalars.oneMinusBeta2),
                                     negativeStepSize: Float(-scalars.stepSize),
                                     biasCorrection2Sqrt: Float(scalars.biasCorrection2Sqrt), eps: Float(scalars.eps))
        case .float32: AdamW.kernel(Float.self, p, g, s.expAvg!, s.expAvgSq!, scalars)
        case .float64: AdamW.kernel(Double.self, p, g, s.expAvg!, s.expAvgSq!, scalars)
        }
    }

    struct Scalars {
        let decay: Double?
        let lerpWeight, beta2, oneMinusBeta2, stepSize, biasCorrection2Sqrt, eps: Double
    }

    /// The element update, in PyTorch's operation order with scalars rounded to `T`.
    @inline(__always)
    static func kernel<T: TensorScalar>(_: T.Type, _ param: Tensor, _ grad: Tensor, _ expAvg: Tensor,
                                        _ expAvgSq: Tensor, _ s: Scalars) {
        let p = param.pointer(T.self), g = grad.pointer(T.self)
        let m = expAvg.pointer(T.self), v = expAvgSq.pointer(T.self)
        let decay = T(s.decay ?? 1), applyDecay = s.decay != nil
        let w = T(s.lerpWeight), b2 = T(s.beta2), c2 = T(s.oneMinusBeta2)
        let negStep = T(-s.stepSize), bc2 = T(s.biasCorrection2Sqrt), eps = T(s.eps)
        parallelFor(param.count, grain: 16_384) { r in
            for i in r {
                let gi = g[i]
                var pi = p[i]
                if applyDecay { pi = pi * decay }
                // lerp with a small weight: m + w (g − m), fused as ATen's vectorised lerp.
                let mi = m[i].addingProduct(w, gi - m[i])
                // mul_(β₂) then addcmul_: β₂ v + ((1 − β₂) g) g, fused as ATen's AVX kernel.
                let vi = (v[i] * b2).addingProduct(c2 * gi, gi)
                let denom = vi.squareRoot() / bc2 + eps
                m[i] = mi
                v[i] = vi
                p[i] = pi + negStep * mi / denom
            }
        }
    }

    // MARK: State for checkpoints

    /// The optimiser state as named tensors: `NAME.exp_avg`, `NAME.exp_avg_sq` (the parameter's
    /// shape and dtype) and `NAME.step` (a float64 scalar) for every parameter. Parameters not
    /// yet updated have zero moments and step 0, which is the state they would start from.
    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (gi, g) in groups.enumerated() {
            for (k, name) in g.names.enumerated() {
                let s = states[gi][k], p = g.parameters[k]
                out[name + ".exp_avg"] = (s.expAvg ?? p.zerosLike()).contiguousCopy()
                out[name + ".exp_avg_sq"] = (s.expAvgSq ?? p.zerosLike()).contiguousCopy()
                out[name + ".step"] = Tensor(doubles: [Double(s.step)], shape: [])
            }
        }
        return out
    }

    /// Restores state written by `stateTensors()`; every parameter's three tensors must be
    /// present with matching shapes, and nothing else.
    public func loadStateTensors(_ tensors: [String: Tensor]) throws {
        var remaining = Set(tensors.keys)
        var loaded = states
        for (gi, g) in groups.enumerated() {
            for (k, name) in g.names.enumerated() {
                let p = g.parameters[k]
                func fetch(_ suffix: String, shape: [Int]) throws -> Tensor {
                    let key = name + suffix
                    guard let t = tensors[key] else { throw OptimizerStateError.missing(key: key) }
                    guard t.shape == shape else {
                        throw OptimizerStateError.shapeMismatch(key: key, expected: shape, found: t.shape)
                    }
                    remaining.remove(key)
                    return t
                }
                let m = try fetch(".exp_avg", shape: p.shape), v = try fetch(".exp_avg_sq", shape: p.shape)
                let stepTensor = try fetch(".step", shape: [])
                let step = stepTensor.doubles[0]
                guard step >= 0, step == step.rounded(), step < 0x1p53 else {
                    throw OptimizerStateError.invalidStep(key: name + ".step", value: step)
                }
                loaded[gi][k] = State(step: Int(step), expAvg: m.to(p.dtype).contiguousCopy(),
                                      expAvgSq: v.to(p.dtype).contiguousCopy())
            }
        }
        if !remaining.isEmpty { throw OptimizerStateError.unexpected(keys: remaining.sorted()) }
        states = loaded
    }
}
