// Parameter groups: the optimiser's unit of hyper-parameters.
//
// A group is a list of parameter tensors with a name for each (used as checkpoint keys) and
// multipliers on the scheduled learning rate and weight decay. Groups are declared by whoever
// builds the model, from the roles of its parameters (biases and norms without weight decay,
// the head's last layer on its own learning-rate schedule, a multiplier per depth for
// layer-wise decay) — never found afterwards by matching strings in parameter names.

import DinoTensor

/// Parameters that share a learning-rate and weight-decay rule.
///
/// The effective values of one step are
/// `lr = schedules[learningRateSchedule] · lrMultiplier` and
/// `wd = schedules[weightDecaySchedule] · weightDecayMultiplier`, as DINOv2/v3's
/// `apply_optim_scheduler` sets `param_group["lr"]` and `param_group["weight_decay"]`.
public struct ParameterGroup {
    /// A label for messages and logs (e.g. "decay", "no_decay", "last_layer").
    public var role: String
    /// The tensors updated in place; each must be a contiguous leaf.
    public var parameters: [Tensor]
    /// One unique name per parameter, e.g. `student.blocks.0.attn.qkv.weight`.
    public var names: [String]
    /// Factor on the scheduled learning rate (layer-wise decay, patch-embed multiplier).
    public var lrMultiplier: Double
    /// Factor on the scheduled weight decay (0 for biases, norms, tokens).
    public var weightDecayMultiplier: Double
    /// The named schedule giving the base learning rate (`"lr"`, or `"last_layer_lr"`).
    public var learningRateSchedule: String
    /// The named schedule giving the base weight decay.
    public var weightDecaySchedule: String

    public init(role: String, parameters: [Tensor], names: [String], lrMultiplier: Double = 1,
                weightDecayMultiplier: Double = 1,
                learningRateSchedule: String = ScheduleValues.learningRate,
                weightDecaySchedule: String = ScheduleValues.weightDecay) {
        precondition(parameters.count == names.count,
                     "ParameterGroup '\(role)': \(parameters.count) parameters but \(names.count) names")
        self.role = role
        self.parameters = parameters
        self.names = names
        self.lrMultiplier = lrMultiplier
        self.weightDecayMultiplier = weightDecayMultiplier
        self.learningRateSchedule = learningRateSchedule
        self.weightDecaySchedule = weightDecaySchedule
    }

    /// The group's learning rate and weight decay at one iteration.
    public func hyperparameters(_ values: ScheduleValues) -> (learningRate: Double, weightDecay: Double) {
        (values[learningRateSchedule] * lrMultiplier, values[weightDecaySchedule] * weightDecayMultiplier)
    }
}

extension Array where Element == ParameterGroup {
    /// Every parameter of every group, in order.
    public var allParameters: [Tensor] { flatMap(\.parameters) }

    /// Every (name, parameter) pair, in order.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        flatMap { g in Swift.zip(g.names, g.parameters).map { (name: $0.0, tensor: $0.1) } }
    }

    /// Groups with equal multipliers and schedules merged into the first of them, in order of
    /// first appearance (a backbone and its heads each declare decay / no-decay groups; the
    /// optimiser needs one group per rule).
    public func merged() -> [ParameterGroup] {
        var out: [ParameterGroup] = []
        for g in self {
            if let i = out.firstIndex(where: { $0.lrMultiplier == g.lrMultiplier && $0.weightDecayMultiplier == g.weightDecayMultiplier
                                              && $0.learningRateSchedule == g.learningRateSchedule
                                              && $0.weightDecaySchedule == g.weightDecaySchedule }) {
                out[i].parameters += g.parameters
                out[i].names += g.names
            } else {
                out.append(g)
            }
        }
        return out
    }

    /// Clears the gradients of all parameters.
    public func zeroGrad() {
        for g in self { for p in g.parameters { p.zeroGrad() } }
    }

    /// Checks that no parameter or name appears twice and that parameters are contiguous leaves.
    func validate(op: String) {
        var seen = Set<ObjectIdentifier>(), seenNames = Set<String>()
        for g in self {
            for (name, p) in Swift.zip(g.names, g.parameters) {
                precondition(seenNames.insert(name).inserted, "\(op): parameter name '\(name)' appears twice")
                precondition(seen.insert(ObjectIdentifier(p)).inserted,
                             "\(op): parameter '\(name)' appears in more than one place")
                precondition(p.isLeaf, "\(op): parameter '\(name)' is not a leaf tensor")
                precondition(p.isContiguous, "\(op): parameter '\(name)' of shape \(p.shape) is not contiguous")
            }
        }
    }
}
