// Collapse detection: the trainer watches the monitors every method logs and says, while the run
// goes on, when self-distillation has stopped carrying information about the images.
//
// Three ways a DINO-family run collapses (Caron et al. 2021, §5.3 and Fig. 7; Chen & He 2021,
// SimSiam §4.1), each read from values the methods log every step:
//
//     uniform targets     H(q)  ≥ (1 − ε_u)·ln K          every teacher target near uniform
//     identical targets   H(q̄) − H(q) ≤ ε_i·ln K          every image gets the same target
//                         (one prototype when H(q) ≤ ½ ln K as well)
//     feature collapse    σ(f) ≤ ε_f                       student features point one way
//
// H(q) is `teacher_entropy` (the mean entropy of one target), H(q̄) `teacher_mean_entropy` (the
// entropy of the batch's mean target), K the number of prototypes, σ(f) `feature_std` (the
// standard deviation over the batch of the L2-normalised backbone class tokens, averaged over
// the D channels and multiplied by √D: about 1 for features spread like random directions, 0
// when every image has the same feature; SimSiam's monitor scaled to be independent of D).
// A collapse is reported when the targets (any of the first three) or the features have been
// collapsed at every step of the last `window` steps: once when it starts, once when it ends.
//
// Its streaks are saved in every checkpoint's train state, so that a run resumed after each
// epoch is watched as an uninterrupted one. What it is not: a judge of quality (a run with
// informative targets can still learn slowly).

import DinoNN
import DinoTensor
import Foundation

/// A way a self-distillation run collapses.
public enum CollapseKind: String, CaseIterable, Sendable {
    /// The teacher's targets are (nearly) uniform over the prototypes.
    case uniformTargets = "uniform_targets"
    /// Every image gets (nearly) the same target, and that target is peaked: one prototype.
    case onePrototype = "one_prototype"
    /// Every image gets (nearly) the same target.
    case identicalTargets = "identical_targets"
    /// The student's features point the same way for every image.
    case features = "feature_collapse"

    /// The conditions are watched in two groups: the teacher's targets, and the features.
    public enum Group: String, CaseIterable, Sendable { case targets, features }
    public var group: Group { self == .features ? .features : .targets }

    /// What it means for the run, and what usually fixes it.
    public var explanation: String {
        switch self {
        case .uniformTargets:
            return "the teacher's targets are uniform over the prototypes, so the DINO/iBOT terms carry no information "
                + "about the images (only regularisers such as KoLeo move the features). Usually fixed by a lower teacher "
                + "temperature (teacher.temperature and teacher.warmup_temperature, e.g. 0.02 on small data), a LayerScale "
                + "that lets the class token see the image (student.layerscale=1 on shallow models), or a smaller teacher "
                + "momentum"
        case .onePrototype:
            return "every image gets the same one-hot target: centring no longer balances the prototypes. Usually fixed by "
                + "keeping centring on (a centre momentum below 1, or Sinkhorn-Knopp), a higher teacher temperature, or a "
                + "lower learning rate"
        case .identicalTargets:
            return "every image gets the same target, so the DINO/iBOT terms carry no information about the images. "
                + "Usually fixed by a LayerScale that lets the class token see the image (student.layerscale=1 on "
                + "shallow models), a lower teacher temperature, a centre that follows the teacher more closely "
                + "(teacher.center_momentum), or a lower learning rate"
        case .features:
            return "the student's features point the same way for every image (representation collapse). Usually fixed "
                + "by a lower learning rate, KoLeo (koleo_loss_weight=0.1) or stronger augmentations"
        }
    }
}

/// The thresholds of the collapse monitor (JSON/YAML keys in snake_case).
public struct CollapseMonitorOptions: Codable, Equatable, Sendable {
    /// Steps a condition must hold, every one of them, before it is reported; nil: auto,
    /// `automaticWindow(totalSteps:)` (50 steps, or a twentieth of a shorter run, at least 10).
    public var windowSteps: Int? = nil
    /// ε_u: uniform when H(q) ≥ (1 − ε_u)·ln K (healthy DINO runs on small data: H(q) up to
    /// 0.93 ln K, docs/benchmarks-dino.md).
    public var uniformMargin = 0.02
    /// ε_i: identical when H(q̄) − H(q) ≤ ε_i·ln K (healthy DINO runs on small data: 0.03–0.07 ln K).
    public var identicalMargin = 0.01
    /// ε_f: features collapsed when σ(f) ≤ ε_f (random directions: 1).
    public var featureStdFloor = 0.05

    public init() {}

    /// The window of a run of `totalSteps` steps: 50, or a twentieth of a shorter run (at least
    /// 10), so that a collapse in a short run is reported before the run ends (a 10-epoch run on
    /// 1198 digits has 180 steps).
    public static func automaticWindow(totalSteps: Int) -> Int {
        Swift.min(50, Swift.max(10, totalSteps / 20))
    }

    enum CodingKeys: String, CodingKey {
        case windowSteps = "window_steps", uniformMargin = "uniform_margin"
        case identicalMargin = "identical_margin", featureStdFloor = "feature_std_floor"
    }

    /// Checks ranges, naming the key of the first bad value.
    public func validate(prefix: String = "") throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ConfigError.invalidValue(path: prefix + key, message: message) }
        }
        try check(windowSteps.map { $0 >= 1 } ?? true, "window_steps", "must be at least 1, or null for auto")
        try check((0..<1).contains(uniformMargin), "uniform_margin", "must lie in [0, 1)")
        try check((0..<1).contains(identicalMargin), "identical_margin", "must lie in [0, 1)")
        try check(featureStdFloor >= 0, "feature_std_floor", "must be non-negative")
    }
}

/// Watches the logged monitors step by step and reports collapses that last a whole window.
public struct CollapseMonitor: Sendable {
    /// Names of the logged values it reads.
    public static let targetEntropy = LossTerm.teacherEntropy
    public static let meanTargetEntropy = LossTerm.teacherMeanEntropy
    public static let featureStd = LossTerm.featureStd

    public let options: CollapseMonitorOptions
    /// Steps a condition must hold before it is reported.
    public let window: Int
    /// K, the number of prototypes of the teacher's targets (nil: the target checks are off).
    public let prototypes: Int?
    /// Consecutive steps each group of conditions (targets, features) has held.
    var streaks: [CollapseKind.Group: Int] = [:]
    /// The kinds reported and not yet over (at most one per group).
    public private(set) var active: Set<CollapseKind> = []
    /// The first step of the newest reported collapse's window.
    public private(set) var onsetStep: Int?

    /// - Parameter totalSteps: the run's length, for the automatic window (nil: 50 steps).
    public init(options: CollapseMonitorOptions = CollapseMonitorOptions(), prototypes: Int?, totalSteps: Int? = nil) {
        self.options = options
        self.prototypes = prototypes
        window = options.windowSteps ?? totalSteps.map(CollapseMonitorOptions.automaticWindow) ?? 50
    }

    /// A change of state at one step.
    public enum Event: Equatable, Sendable {
        /// `kind` (or another kind of its group) has held since `since`, the window's first
        /// step, up to `step`; `kind` is what the values of `step` show.
        case started(CollapseKind, since: Int, step: Int, detail: String)
        /// `kind` no longer holds at `step`.
        case ended(CollapseKind, step: Int)
    }

    /// The conditions that hold for one step's values (at most one per group).
    ///
    /// Targets: uniform when H(q) ≥ (1 − ε_u)·ln K; otherwise, when H(q̄) − H(q) ≤ ε_i·ln K,
    /// one prototype if H(q) ≤ ½ ln K, else identical targets.
    public func conditions(_ values: [String: Double]) -> Set<CollapseKind> {
        var out: Set<CollapseKind> = []
        if let k = prototypes, k > 1, let h = values[Self.targetEntropy], let hMean = values[Self.meanTargetEntropy] {
            let lnK = Foundation.log(Double(k))
            let identical = hMean - h <= options.identicalMargin * lnK
            if h >= (1 - options.uniformMargin) * lnK { out.insert(.uniformTargets) }
            else if identical && h <= 0.5 * lnK { out.insert(.onePrototype) }
            else if identical { out.insert(.identicalTargets) }
        }
        if let s = values[Self.featureStd], s <= options.featureStdFloor { out.insert(.features) }
        return out
    }

    /// Records the values logged at `step` and returns what started or ended there. A group's
    /// window counts every step at which any of its kinds holds (targets can pass from
    /// identical to uniform while they stay uninformative).
    public mutating func observe(step: Int, values: [String: Double]) -> [Event] {
        let now = conditions(values)
        var events: [Event] = []
        for group in CollapseKind.Group.allCases {
            let reported = active.first { $0.group == group }
            if let kind = now.first(where: { $0.group == group }) {
                let n = (streaks[group] ?? 0) + 1
                streaks[group] = n
                if n == window && reported == nil {
                    active.insert(kind)
                    onsetStep = step - n + 1
                    events.append(.started(kind, since: step - n + 1, step: step, detail: detail(kind, values)))
                }
            } else {
                streaks[group] = 0
                if let reported {
                    active.remove(reported)
                    events.append(.ended(reported, step: step))
                }
            }
        }
        return events
    }

    /// The numbers behind a report: `H(q) 6.92, H(q̄) 6.93 of ln K 6.93`.
    func detail(_ kind: CollapseKind, _ values: [String: Double]) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "?" }
        switch kind {
        case .features:
            return "feature_std \(f(values[Self.featureStd])) (random directions: 1)"
        default:
            let lnK = prototypes.map { Foundation.log(Double($0)) }
            return "teacher_entropy \(f(values[Self.targetEntropy])), teacher_mean_entropy \(f(values[Self.meanTargetEntropy])) "
                + "of ln K = \(f(lnK))"
        }
    }

    /// The spread of features `x` (N, D) over the batch: the standard deviation of each
    /// channel of the L2-normalised rows, averaged over channels, times √D (SimSiam's monitor,
    /// scaled so that random directions give about 1 and identical rows 0).
    public static func featureSpread(_ x: Tensor) -> Tensor {
        withNoGrad {
            let d = Double(x.shape[1])
            let z = x.l2Normalized(axis: 1)                                 // (N, D), unit rows
            let mean = z.mean(axes: [0], keepDims: true)                    // (1, D)
            let variance = ((z - mean) * (z - mean)).mean(axes: [0])        // (D)
            return variance.sqrt().mean() * d.squareRoot()                 // ()
        }
    }
}

extension CollapseMonitor {
    /// What the monitor carries across a resume (saved in the checkpoint's train state).
    public struct State: Codable, Equatable, Sendable {
        /// Consecutive steps each group of conditions has held, by group name.
        public var streaks: [String: Int]
        /// The kinds reported and not yet over.
        public var active: [String]
        public var onsetStep: Int?
    }

    /// The streaks, reported kinds and onset; setting it restores them (unknown names are ignored).
    public var state: State {
        get {
            State(streaks: Dictionary(uniqueKeysWithValues: streaks.map { ($0.key.rawValue, $0.value) }),
                  active: active.map(\.rawValue).sorted(), onsetStep: onsetStep)
        }
        set {
            streaks = Dictionary(uniqueKeysWithValues: newValue.streaks.compactMap { k, v in CollapseKind.Group(rawValue: k).map { ($0, v) } })
            active = Set(newValue.active.compactMap(CollapseKind.init(rawValue:)))
            onsetStep = newValue.onsetStep
        }
    }
}
