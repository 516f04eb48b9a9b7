// Reverse-mode automatic differentiation on a tape recorded during the forward pass.
//
// Each differentiable op returns its result through `Tensor.record`, which attaches a
// `GradNode` holding the inputs and a closure mapping the output gradient to the input
// gradients. `backward()` visits nodes in reverse topological order, sums gradients of
// tensors used more than once, and accumulates into `.grad` of leaves. Backward closures run
// with recording off: there are no higher-order gradients.

/// The name of every operation that records itself on the tape, one case each (the raw value
/// is the name errors print). Recording takes one of these, so that the list is complete by
/// construction: `GradientCoverageTests` (DinoTensorTests) fails for a case that has neither
/// a finite-difference gradient check nor a PyTorch fixture with gradients.
enum GradOp: String, CaseIterable, CustomStringConvertible {
    case abs
    case add
    case addScalar = "add_scalar"
    case clamp
    case concat
    /// An op recorded by code outside DinoTensor with a backward of its own
    /// (`Tensor.recordWithBackward`): the differentiable all-gather of data-parallel training.
    case external
    case contiguous
    /// Cross-entropy with class labels and an ignore index, fused (`crossEntropy(logits:labels:ignoreIndex:)`).
    case crossEntropyLabels = "cross_entropy_labels"
    /// Depthwise 2-D convolution of channels-last images (ConvNeXt's 7 × 7 filters).
    case depthwiseConv2d = "depthwise_conv2d"
    case div
    case dropout
    case exp
    case expand
    case gather
    case gelu
    case indexAdd
    case indexSelect
    case l2Normalized
    case layerNorm
    case linear
    case log
    case logSoftmax
    case maskedFill
    case maskedSelect
    case matmul
    case max
    /// `max()` over every element (the gradient split among ties), apart from `max(axis:)`.
    case maxAll = "max_all"
    case min
    case minAll = "min_all"
    case mul
    case mulScalar = "mul_scalar"
    case neg
    case nllLoss
    case pad
    case permute
    case pow
    case powScalar = "pow_scalar"
    case rdivScalar = "rdiv_scalar"
    case relu
    case reshape
    case residual
    /// Float32 → bfloat16 rounding at an autocast boundary (Autocast.swift).
    case roundBF16 = "round_bf16"
    case rotaryEmbedding = "rotary_embedding"
    case rsqrt
    case scaledDotProductAttention
    case scatterAdd
    case sigmoid
    case silu
    case slice
    case softmax
    case sqrt
    case squeeze
    case sub
    case sum
    case tanh
    case to
    case unsqueeze
    case variance
    case `where`

    var description: String { rawValue }
}

/// One recorded operation: its inputs and how to map an output gradient to input gradients.
final class GradNode {
    let op: GradOp
    var inputs: [Tensor]
    var backward: ((Tensor) -> [Tensor?])?
    /// For an op whose input gradient is the output gradient scattered into zeros (a slice):
    /// adds the output gradient straight into an existing gradient of the input, which the
    /// engine then uses instead of running `backward` and summing a full-size tensor of zeros
    /// into it. Attention's q, k and v are three slices of one product: their gradients used to
    /// cost three zero-filled tensors of its size and two full-size sums.
    var addIntoInputGradient: ((_ inputGradient: Tensor, _ g: Tensor) -> Void)?

    init(op: GradOp, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether operations are recorded for autograd on the current thread or task.
public enum GradMode {
    @TaskLocal static var disabled = false

    /// True unless inside `withNoGrad`.
    public static var isEnabled: Bool { !disabled }
}

/// Runs `body` without recording operations: results have no producer and need no gradient.
@inline(__always)
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$disabled.withValue(true) { try body() }
}

extension Tensor {
    /// The operations recorded on the tape from the leaves to this tensor (what a backward
    /// pass from here runs through); empty off the tape. For tests of gradient coverage.
    var recordedOps: Set<GradOp> {
        var ops = Set<GradOp>(), seen = Set<ObjectIdentifier>(), stack = [self]
        while let t = stack.popLast() {
            guard seen.insert(ObjectIdentifier(t)).inserted, let node = t.node else { continue }
            ops.insert(node.op)
            stack += node.inputs
        }
        return ops
    }

    /// Attaches `backward` to `output` when recording is on and any input requires a gradient.
    ///
    /// `backward` receives the gradient of `output` and returns one gradient (or nil) per
    /// input, each of the input's shape.
    @inline(__always)
    static func record(_ output: Tensor, op: GradOp, inputs: [Tensor],
                       backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        OpProfiler.forward(op)
        if GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad }) {
            output.node = GradNode(op: op, inputs: inputs, backward: backward)
        }
        return output
    }

    /// Records `output`, computed from `inputs` by the caller, on the tape with the caller's
    /// `backward` (which runs with recording off and returns one gradient, or nil, per input, of
    /// the input's shape). For ops whose backward is not a tensor computation, such as the
    /// all-gather of data-parallel training whose backward is an all-reduce (PyTorch's
    /// `torch.autograd.Function`). `output` must be a fresh tensor, not on the tape.
    public static func recordWithBackward(_ output: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        precondition(output.node == nil, "recordWithBackward: the output is already on the tape")
        return record(output, op: .external, inputs: inputs, backward: backward)
    }

    /// Computes gradients of this tensor with respect to every leaf that requires one.
    ///
    /// - Parameters:
    ///   - seed: the gradient of some scalar with respect to this tensor; defaults to 1 for
    ///     a one-element tensor and is required otherwise.
    ///   - retainGraph: keep the recorded closures so that `backward` can run again.
    ///   - onLeafGradient: called with each leaf as soon as its gradient is final for this
    ///     pass (every use of it is summed in), in the order backward reaches them — the hook
    ///     data-parallel training starts a bucket's all-reduce from (PyTorch's
    ///     `AccumulateGrad` post-hooks, which DDP's reducer registers).
    public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false, onLeafGradient: ((Tensor) -> Void)? = nil) {
        precondition(requiresGrad, "backward: tensor does not require grad and has no recorded producer")
        OpProfiler.mark("untracked")
        defer { OpProfiler.mark("autograd engine") }
        let seedGrad: Tensor
        if let seed {
            precondition(seed.shape == shape,
                         "backward: seed gradient of shape \(fmt(seed.shape)) for tensor of shape \(fmt(shape))")
            seedGrad = seed
        } else {
            precondition(count == 1,
                         "backward: a seed gradient is required for a non-scalar tensor of shape \(fmt(shape))")
            seedGrad = Tensor.full(shape, 1, dtype: dtype)
        }

        // Topological order of the tensors that lead to `self`, by iterative DFS.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if !visited.insert(ObjectIdentifier(t)).inserted { continue }
            stack.append((t, true))
            if let node = t.node {
                for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seedGrad]
        // A leaf's gradient is final once every node that uses it has run: count the uses, so
        // that it is accumulated (and `onLeafGradient` told) right then rather than where the
        // depth-first order happens to place the leaf (usually near the end).
        var pendingUses: [ObjectIdentifier: Int] = [:]
        for t in order {
            guard let node = t.node else { continue }
            for input in node.inputs where input.requiresGrad && input.isLeaf { pendingUses[ObjectIdentifier(input), default: 0] += 1 }
        }
        var finished = Set<ObjectIdentifier>()

        /// Moves leaf t's summed gradient into `.grad`.
        func finishLeaf(_ t: Tensor) {
            guard finished.insert(ObjectIdentifier(t)).inserted,
                  var g = grads.removeValue(forKey: ObjectIdentifier(t)) else { return }
            if !t.leafRequiresGrad { return }
            if t.grad == nil && Tensor.isUnshared(&g) {
                // Nothing else can see g or its storage: adopt it instead of copying
                // (as PyTorch's AccumulateGrad steals an unshared gradient).
                t.grad = g
            } else {
                t.accumulateGrad(g)
            }
            onLeafGradient?(t)
        }

        /// Runs t's backward closure and sums its input gradients; returns the leaves whose
        /// last use this was.
        func propagate(_ t: Tensor, _ g: Tensor, _ node: GradNode) -> [Tensor] {
            if let addInto = node.addIntoInputGradient, node.backward != nil, node.inputs.count == 1, node.inputs[0].requiresGrad {
                let input = node.inputs[0], key = ObjectIdentifier(input)
                if var existing = grads.removeValue(forKey: key) {
                    if Tensor.isUnshared(&existing) {
                        OpProfiler.timed(node.op.rawValue + " backward", before: "autograd engine") { addInto(existing, g) }
                        grads[key] = existing
                        if !retainGraph { node.backward = nil; node.addIntoInputGradient = nil }
                        guard input.isLeaf else { return [] }
                        pendingUses[key]! -= 1
                        return pendingUses[key]! == 0 ? [input] : []
                    }
                    grads[key] = existing
                }
            }
            guard let fn = node.backward else {
                preconditionFailure("backward: the graph through '\(node.op)' was already freed; pass retainGraph: true to the first backward")
            }
            let inputGrads = OpProfiler.timed(node.op.rawValue + " backward", before: "autograd engine") { fn(g) }
            precondition(inputGrads.count == node.inputs.count,
                         "backward: '\(node.op)' returned \(inputGrads.count) gradients for \(node.inputs.count) inputs")
            var ready: [Tensor] = []
            for (input, ig) in Swift.zip(node.inputs, inputGrads) {
                guard input.requiresGrad else { continue }
                if input.isLeaf {
                    let key = ObjectIdentifier(input)
                    pendingUses[key]! -= 1
                    if pendingUses[key]! == 0 { ready.append(input) }
                }
                guard let ig else { continue }
                precondition(ig.shape == input.shape,
                             "backward: '\(node.op)' produced gradient \(fmt(ig.shape)) for input \(fmt(input.shape))")
                let key = ObjectIdentifier(input)
                if var existing = grads.removeValue(forKey: key) {
                    // Sum into the first gradient when nothing else holds it (no new buffer).
                    if Tensor.isUnshared(&existing) {
                        existing.addInPlace(ig)
                        grads[key] = existing
                    } else {
                        grads[key] = existing + ig
                    }
                } else {
                    grads[key] = ig
                }
            }
            if !retainGraph {
                node.backward = nil
            }
            return ready
        }

        // Products in backward closures run in Float32: the bf16 roundings of an autocast op's
        // backward are recorded nodes of their own (Autocast.swift), whatever the caller's precision.
        withNoGrad { withPrecision(.float32) {
            for t in order.reversed() {
                if t.isLeaf {
                    finishLeaf(t)
                    continue
                }
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                if t.retainsGrad { t.accumulateGrad(g) }
                guard let node = t.node else { continue }
                // The input gradients are released before the leaves adopt theirs.
                for leaf in propagate(t, g, node) { finishLeaf(leaf) }
            }
        } }
    }

    /// True when this tensor is contiguous over its whole storage and neither it nor its
    /// storage has another reference: `isKnownUniquelyReferenced` on the caller's variable
    /// and on `storage`.
    fileprivate static func isUnshared(_ t: inout Tensor) -> Bool {
        isKnownUniquelyReferenced(&t) && t.offset == 0 && t.count == t.storage.count && t.isContiguous
            && isKnownUniquelyReferenced(&t.storage)
    }

    /// Adds `g` into `.grad`, allocating it on first use.
    func accumulateGrad(_ g: Tensor) {
        if let existing = grad {
            existing.addInPlace(g)
        } else {
            // Own a fresh contiguous copy, so later in-place accumulation never touches
            // storage that another tensor shares.
            grad = g.contiguousCopy()
        }
    }
}
