// A tiny method for trainer tests: noisy linear regression on plain tensors, with a
// teacher-like EMA copy of the weight (method state), a random generator (input noise) and a
// switch that makes the loss NaN at a chosen step.

import DinoNN
import DinoSSL
import DinoTensor
import Foundation

final class ToyRegression: TrainingMethod {
    typealias Batch = (x: Tensor, y: Tensor)

    let weight: Tensor          // (1, 3)
    let bias = Tensor.zeros([1]).requiringGrad()
    let teacher = Tensor.zeros([1, 3])
    var noise: RandomGenerator
    /// The loss is NaN at this global step.
    var nanAtStep: Int?
    /// Called with the global step at the start of each step (to raise a stop signal).
    var onStep: ((Int) -> Void)?

    init(seed: UInt64 = 3) {
        weight = RandomGenerator(seed: seed).normal([1, 3], std: 0.1).requiringGrad()
        noise = RandomGenerator(seed: seed + 100)
    }

    var parameterGroups: [ParameterGroup] {
        [ParameterGroup(role: "decay", parameters: [weight], names: ["student.weight"]),
         ParameterGroup(role: "no_decay", parameters: [bias], names: ["student.bias"], weightDecayMultiplier: 0)]
    }

    func step(batch: Batch, schedules: ScheduleValues) -> [String: Tensor] {
        onStep?(schedules.iteration)
        let x = batch.x + noise.normal(batch.x.shape) * 0.01        // (B, 3)
        let diff = x.linear(weight: weight, bias: bias) - batch.y   // (B, 1)
        let mse = (diff * diff).mean()
        let l2 = (weight * weight).sum() * 1e-3
        var loss = mse + l2
        if schedules.iteration == nanAtStep { loss = loss * Double.nan }
        return ["loss": loss, "mse": mse, "l2": l2]
    }

    /// Clip weight and bias as two modules (with `ClipMode.totalNormPerModule`).
    var weightAndBiasModules = false
    /// Gradient norms of (weight, bias) seen before each optimiser step, after clipping.
    var normsBeforeStep: [(Double, Double)] = []

    var clippingModules: [(name: String, parameters: [Tensor])] {
        weightAndBiasModules ? [(name: "weight", parameters: [weight]), (name: "bias", parameters: [bias])]
            : [(name: "all", parameters: [weight, bias])]
    }

    func beforeOptimizerStep(schedules: ScheduleValues) {
        normsBeforeStep.append((l2Norm(weight.grad!), l2Norm(bias.grad!)))
    }

    func afterOptimizerStep(schedules: ScheduleValues) {
        let m = schedules[ScheduleValues.teacherMomentum]
        withNoGrad { teacher.copyIn(teacher * m + weight * (1 - m)) }
    }

    func stateTensors() -> [String: Tensor] { ["teacher.weight": teacher] }

    var randomGenerators: [String: RandomGenerator] {
        get { ["noise": noise] }
        set { noise = newValue["noise"]! }
    }
}

/// Batches of y = x·(1, −2, 0.5) + 0.3, each a pure function of (epoch, index).
struct ToyData: BatchSource {
    var batchesPerEpoch = 8
    var itemsPerBatch = 16

    func batches(epoch: Int, startingAt start: Int) -> AnyIterator<ToyRegression.Batch> {
        var index = start
        let count = batchesPerEpoch, n = itemsPerBatch
        return AnyIterator {
            guard index < count else { return nil }
            defer { index += 1 }
            let g = RandomGenerator(seed: 77).fork(UInt64(epoch * 1000 + index))
            let x = g.normal([n, 3])
            let y = x.linear(weight: Tensor([1, -2, 0.5], shape: [1, 3]), bias: Tensor([0.3], shape: [1]))
            return (x, y)
        }
    }
}

/// DINO-shaped schedules over `epochs` of `perEpoch` iterations.
func toySchedules(epochs: Int, perEpoch: Int) -> ScheduleSet {
    ScheduleSet([
        ScheduleValues.learningRate: CosineSchedule(base: 0.3, final: 1e-3, epochs: epochs, iterationsPerEpoch: perEpoch, warmupEpochs: 1),
        ScheduleValues.weightDecay: CosineSchedule(base: 0.04, final: 0.4, epochs: epochs, iterationsPerEpoch: perEpoch),
        ScheduleValues.teacherMomentum: CosineSchedule(base: 0.9, final: 1, epochs: epochs, iterationsPerEpoch: perEpoch),
    ])
}

func temporaryDirectory(_ label: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dino-\(label)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Options for fast, quiet test runs.
func quietOptions(epochs: Int) -> TrainerOptions {
    var o = TrainerOptions()
    o.epochs = epochs
    o.logEverySteps = 1
    o.progress = false
    o.checkpointEveryMinutes = nil
    o.clipGrad = 1.0
    return o
}
