// Schedules: hyper-parameters (learning rate, weight decay, teacher momentum, teacher
// temperature) as pure functions of the training iteration.
//
// The reference implementations precompute NumPy arrays and index them. Each schedule here is
// a small value type that computes element `i` of that array directly, with the same
// floating-point operations in the same order, so the values are identical without storing
// anything. Iterations past the end of the reference array return the array's last element
// (DINOv2's `CosineScheduler` returns its final value there, which is the same thing).
// Schedules never change after creation: a variant (a frozen prefix, per-epoch steps) is a
// new schedule wrapping the old one.

import Foundation

/// A value that depends on the global training iteration (0-based, counted over the whole run).
public protocol Schedule: Sendable {
    /// The value at `iteration`.
    func value(at iteration: Int) -> Double
}

extension Schedule {
    /// The value at `iteration`; `schedule(i)` reads like the reference's `schedule[i]`.
    public func callAsFunction(_ iteration: Int) -> Double { value(at: iteration) }

    /// This schedule with the value 0 for the first `iterations` iterations and unchanged after,
    /// as DINOv2/v3 build the last layer's learning rate (`last_layer_lr[:n] = 0`).
    public func zeroed(before iterations: Int) -> ZeroPrefixSchedule<Self> {
        ZeroPrefixSchedule(self, iterations: iterations)
    }

    /// This schedule indexed by epoch: iteration `i` reads element `i / iterationsPerEpoch`,
    /// as DINO's teacher temperature is looked up per epoch.
    public func perEpoch(iterationsPerEpoch: Int) -> PerEpochSchedule<Self> {
        PerEpochSchedule(self, iterationsPerEpoch: iterationsPerEpoch)
    }
}

/// Element `i` of `np.linspace(start, stop, count, endpoint:)`, computed as NumPy does:
/// `i · step + start` with `step = (stop − start) / div`, `div = count − 1` (or `count` without
/// the endpoint); `(i / div) · delta + start` when the step underflows to zero; the endpoint
/// is exactly `stop`; a single element is `start`.
public func linspaceElement(_ start: Double, _ stop: Double, count: Int, endpoint: Bool = true, index i: Int) -> Double {
    precondition(i >= 0 && i < count, "linspace: index \(i) out of range for \(count) elements")
    let div = endpoint ? count - 1 : count
    if div <= 0 { return start }
    if endpoint && i == count - 1 { return stop }
    let delta = stop - start
    let step = delta / Double(div)
    let y = step == 0 ? Double(i) / Double(div) * delta : Double(i) * step
    return y + start
}

/// The half-cosine of DINO's schedules: `final + 0.5 (base − final) (1 + cos(π j / n))`,
/// evaluated in the reference's order (`0.5 · (base − final)` first, `π · j` before `/ n`).
@inline(__always)
func halfCosine(base: Double, final: Double, index j: Int, count n: Int) -> Double {
    final + 0.5 * (base - final) * (1 + Foundation.cos(Double.pi * Double(j) / Double(n)))
}

// MARK: - DINO

/// DINO's cosine schedule with linear warm-up (`utils.cosine_scheduler`).
///
/// Over `epochs · iterationsPerEpoch` iterations: the first `W = warmupEpochs · iterationsPerEpoch`
/// go linearly from `startWarmupValue` to `base` (`np.linspace`, both ends included); the
/// remaining `n` follow `final + ½ (base − final)(1 + cos(π j / n))` for `j = 0 … n−1`, so the
/// final value is approached but not reached.
///
/// DINO uses it for the learning rate (`lr · batch / 256` → `min_lr`, 10 warm-up epochs), the
/// weight decay (0.04 → 0.4) and the teacher momentum (0.996 → 1).
///
/// Reference: facebookresearch/dino `utils.py` (`cosine_scheduler`).
public struct CosineSchedule: Schedule, Codable, Equatable {
    public var base: Double
    public var final: Double
    public var epochs: Int
    public var iterationsPerEpoch: Int
    public var warmupEpochs: Int
    public var startWarmupValue: Double

    public init(base: Double, final: Double, epochs: Int, iterationsPerEpoch: Int,
                warmupEpochs: Int = 0, startWarmupValue: Double = 0) {
        precondition(epochs > 0 && iterationsPerEpoch > 0,
                     "CosineSchedule: epochs (\(epochs)) and iterationsPerEpoch (\(iterationsPerEpoch)) must be positive")
        precondition(warmupEpochs >= 0 && warmupEpochs <= epochs,
                     "CosineSchedule: warmupEpochs \(warmupEpochs) outside 0…\(epochs)")
        self.base = base
        self.final = final
        self.epochs = epochs
        self.iterationsPerEpoch = iterationsPerEpoch
        self.warmupEpochs = warmupEpochs
        self.startWarmupValue = startWarmupValue
    }

    /// Length of the reference array.
    public var totalIterations: Int { epochs * iterationsPerEpoch }
    public var warmupIterations: Int { warmupEpochs * iterationsPerEpoch }

    public func value(at iteration: Int) -> Double {
        let i = Swift.min(Swift.max(iteration, 0), totalIterations - 1)
        let warmup = warmupIterations
        if i < warmup {
            return linspaceElement(startWarmupValue, base, count: warmup, index: i)
        }
        return halfCosine(base: base, final: final, index: i - warmup, count: totalIterations - warmup)
    }
}

// MARK: - DINOv2 / DINOv3

/// DINOv2's `CosineScheduler`: zeros while frozen, linear warm-up, then DINO's half-cosine.
///
/// Over `totalIterations`: `freezeIterations` zeros, then `warmupIterations` values of
/// `np.linspace(startWarmupValue, base, warmupIterations)`, then for the remaining `n`
/// iterations `final + ½ (base − final)(1 + cos(π j / n))`. At and after `totalIterations`
/// the value is `final`.
///
/// With `truncExtra > 0` (DINOv3's extension) the cosine is the first `n` points of a longer
/// cosine over `⌊(1 + truncExtra) n⌋` points, rescaled so that its last point is `final`:
/// `c_j = (cos θ_j + 1)/2`, `value = (c_j − c_{n−1}) / (1 − c_{n−1}) · (base − final) + final`.
///
/// Reference: facebookresearch/dinov2 `dinov2/utils/utils.py` (`CosineScheduler`);
/// facebookresearch/dinov3 `dinov3/train/cosine_lr_scheduler.py` (`trunc_extra`).
public struct DINOv2CosineSchedule: Schedule, Codable, Equatable {
    public var base: Double
    public var final: Double
    public var totalIterations: Int
    public var warmupIterations: Int
    public var startWarmupValue: Double
    public var freezeIterations: Int
    public var truncExtra: Double

    public init(base: Double, final: Double, totalIterations: Int, warmupIterations: Int = 0,
                startWarmupValue: Double = 0, freezeIterations: Int = 0, truncExtra: Double = 0) {
        precondition(warmupIterations >= 0 && freezeIterations >= 0
                     && warmupIterations + freezeIterations <= totalIterations,
                     "DINOv2CosineSchedule: warm-up \(warmupIterations) + freeze \(freezeIterations) exceeds total \(totalIterations)")
        precondition(truncExtra >= 0, "DINOv2CosineSchedule: truncExtra \(truncExtra) must be non-negative")
        self.base = base
        self.final = final
        self.totalIterations = totalIterations
        self.warmupIterations = warmupIterations
        self.startWarmupValue = startWarmupValue
        self.freezeIterations = freezeIterations
        self.truncExtra = truncExtra
    }

    public func value(at iteration: Int) -> Double {
        if iteration >= totalIterations { return final }
        let i = Swift.max(iteration, 0)
        if i < freezeIterations { return 0 }
        if i < freezeIterations + warmupIterations {
            return linspaceElement(startWarmupValue, base, count: warmupIterations, index: i - freezeIterations)
        }
        let j = i - freezeIterations - warmupIterations
        let n = totalIterations - warmupIterations - freezeIterations
        if truncExtra == 0 {
            return halfCosine(base: base, final: final, index: j, count: n)
        }
        // Points of np.cos(np.linspace(0, π, m))[:n], rescaled so the n-th is 0.
        let m = Int((1 + truncExtra) * Double(n))
        func c(_ k: Int) -> Double { (Foundation.cos(linspaceElement(0, Double.pi, count: m, index: k)) + 1) / 2 }
        let last = c(n - 1)
        return (c(j) - last) / (1 - last) * (base - final) + final
    }
}

/// DINOv3's `linear_warmup_cosine_decay`: warm-up, cosine, then constant.
///
/// `warmupIterations` values of `np.linspace(start, peak, W, endpoint=False)`; then
/// `cosineIterations` values `(peak − end) · (cos θ + 1)/2 + end` with
/// `θ = np.linspace(0, π, C)` (so the last cosine value is exactly `end`); then `end` until
/// `totalIterations`. `cosineIterations` defaults to all iterations after the warm-up.
/// DINOv3 writes constant schedules (teacher momentum, temperature of ViT-7B) as
/// `start = peak = end`, and warm-up-then-constant ones with `peak = end`.
///
/// Reference: facebookresearch/dinov3 `dinov3/train/cosine_lr_scheduler.py`
/// (`linear_warmup_cosine_decay`), used by `build_schedulers_v2` in `dinov3/train/train.py`.
public struct WarmupCosineSchedule: Schedule, Codable, Equatable {
    public var start: Double
    public var peak: Double
    public var end: Double
    public var warmupIterations: Int
    public var totalIterations: Int
    public var cosineIterations: Int

    public init(start: Double, peak: Double, end: Double, warmupIterations: Int, totalIterations: Int,
                cosineIterations: Int? = nil) {
        let cosine = cosineIterations ?? (totalIterations - warmupIterations)
        precondition(warmupIterations >= 0 && cosine >= 0 && warmupIterations + cosine <= totalIterations,
                     "WarmupCosineSchedule: warm-up \(warmupIterations) + cosine \(cosine) exceeds total \(totalIterations)")
        self.start = start
        self.peak = peak
        self.end = end
        self.warmupIterations = warmupIterations
        self.totalIterations = totalIterations
        self.cosineIterations = cosine
    }

    public func value(at iteration: Int) -> Double {
        if iteration >= totalIterations && totalIterations > 0 { return value(at: totalIterations - 1) }
        let i = Swift.max(iteration, 0)
        if i < warmupIterations {
            return linspaceElement(start, peak, count: warmupIterations, endpoint: false, index: i)
        }
        let j = i - warmupIterations
        if j < cosineIterations {
            let c = (Foundation.cos(linspaceElement(0, Double.pi, count: cosineIterations, index: j)) + 1) / 2
            return (peak - end) * c + end
        }
        return end
    }
}

// MARK: - Simple schedules and combinators

/// The same value at every iteration.
public struct ConstantSchedule: Schedule, Codable, Equatable {
    public var constant: Double
    public init(_ value: Double) { constant = value }
    public func value(at iteration: Int) -> Double { constant }
}

/// A linear ramp from `start` to `end` over `warmupIterations`, then `end` for ever.
///
/// The ramp is `np.linspace(start, end, W, endpoint: includesEndpoint)`: with the endpoint
/// (DINO's teacher temperature, `np.linspace(0.04, 0.07, 30)` per epoch followed by
/// `np.ones(...) · 0.07`) the last warm-up value is already `end`; without it (DINOv3's warm-up)
/// `end` is first reached right after the warm-up.
///
/// Reference: facebookresearch/dino `main_dino.py` (`DINOLoss.teacher_temp_schedule`).
public struct LinearWarmupSchedule: Schedule, Codable, Equatable {
    public var start: Double
    public var end: Double
    public var warmupIterations: Int
    public var includesEndpoint: Bool

    public init(start: Double, end: Double, warmupIterations: Int, includesEndpoint: Bool = true) {
        precondition(warmupIterations >= 0, "LinearWarmupSchedule: negative warm-up \(warmupIterations)")
        self.start = start
        self.end = end
        self.warmupIterations = warmupIterations
        self.includesEndpoint = includesEndpoint
    }

    public func value(at iteration: Int) -> Double {
        let i = Swift.max(iteration, 0)
        if i < warmupIterations {
            return linspaceElement(start, end, count: warmupIterations, endpoint: includesEndpoint, index: i)
        }
        return end
    }
}

/// `inner` with the value 0 for the first `iterations` iterations (a frozen parameter group).
public struct ZeroPrefixSchedule<Inner: Schedule>: Schedule {
    public let inner: Inner
    public let iterations: Int
    public init(_ inner: Inner, iterations: Int) {
        self.inner = inner
        self.iterations = iterations
    }
    public func value(at iteration: Int) -> Double { iteration < iterations ? 0 : inner.value(at: iteration) }
}

/// `inner` indexed by epoch: iteration `i` reads `inner.value(at: i / iterationsPerEpoch)`.
public struct PerEpochSchedule<Inner: Schedule>: Schedule {
    public let inner: Inner
    public let iterationsPerEpoch: Int
    public init(_ inner: Inner, iterationsPerEpoch: Int) {
        precondition(iterationsPerEpoch > 0, "PerEpochSchedule: iterationsPerEpoch must be positive, got \(iterationsPerEpoch)")
        self.inner = inner
        self.iterationsPerEpoch = iterationsPerEpoch
    }
    public func value(at iteration: Int) -> Double { inner.value(at: Swift.max(iteration, 0) / iterationsPerEpoch) }
}

// MARK: - A named set of schedules

/// The hyper-parameters of one iteration, by name: what the trainer hands to a method's step.
public struct ScheduleValues: Sendable, Equatable {
    /// Standard names. Methods may add their own.
    public static let learningRate = "lr"
    public static let weightDecay = "wd"
    public static let teacherMomentum = "momentum"
    public static let teacherTemperature = "teacher_temp"
    public static let lastLayerLearningRate = "last_layer_lr"

    public let iteration: Int
    public let epoch: Int
    public let values: [String: Double]

    public init(iteration: Int, epoch: Int, values: [String: Double]) {
        self.iteration = iteration
        self.epoch = epoch
        self.values = values
    }

    /// The value named `name`; a missing name is a programming error that lists the known ones.
    public subscript(_ name: String) -> Double {
        guard let v = values[name] else {
            preconditionFailure("ScheduleValues: no schedule named '\(name)'; known: \(values.keys.sorted().joined(separator: ", "))")
        }
        return v
    }
}

/// Named schedules evaluated together at each iteration.
public struct ScheduleSet: Sendable {
    public var schedules: [String: any Schedule]

    public init(_ schedules: [String: any Schedule] = [:]) { self.schedules = schedules }

    public subscript(_ name: String) -> (any Schedule)? {
        get { schedules[name] }
        set { schedules[name] = newValue }
    }

    /// Every schedule's value at `iteration`.
    public func values(at iteration: Int, epoch: Int) -> ScheduleValues {
        ScheduleValues(iteration: iteration, epoch: epoch, values: schedules.mapValues { $0.value(at: iteration) })
    }
}
