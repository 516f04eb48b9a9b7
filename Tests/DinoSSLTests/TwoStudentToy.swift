// A test-only training method, registered from the test target, that uses what the next
// methods need from the plug-in protocol — each shown working by RegistryTests:
//
//   - several students, each with its own optimiser and its own EMA (multi-student distillation);
//   - an extra frozen module saved in checkpoints (DINOv3's Gram teacher);
//   - crop sizes that change from batch to batch (DINOv3's high-resolution phase);
//   - a batch source that takes its rank's share of each epoch (data-parallel training).
//
// The task is trivial: two linear students regress a frozen random "anchor" projection of
// simple image statistics. Adding it touched only this file and one `register` call.

import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

final class TwoStudentToy: MethodPlugin {
    /// The toy's settings (strict, snake_case, as every method's).
    struct Config: Configuration, Equatable {
        var epochs = 2
        var batchSize = 2
        var seed: UInt64 = 0
        /// Learning rates of the two students' optimisers.
        var lrA = 0.05
        var lrB = 0.01
        /// Crop sides, used in turn from batch to batch.
        var cropSizes = [4, 8]
        var momentum = 0.9

        init() {}
        enum CodingKeys: String, CodingKey {
            case epochs, seed, momentum
            case batchSize = "batch_size", lrA = "lr_a", lrB = "lr_b", cropSizes = "crop_sizes"
        }
    }

    struct Resolved {
        var config: Config
        var datasetSize: Int
        var placement: DataParallelPlacement
    }

    /// B crops of one side S: (B, 1, S, S), and the data-set indices they come from.
    struct Batch {
        var crops: Tensor
        var indices: [Int]
    }

    /// The rank's share of each epoch: sample i belongs to rank i mod worldSize; the crop side
    /// of batch k is `cropSizes[(epoch + k) mod count]`; contents drawn from (seed, epoch, i).
    struct Source: BatchSource {
        var datasetSize: Int
        var config: Config
        var placement: DataParallelPlacement

        var share: [Int] { (0..<datasetSize).filter { $0 % placement.worldSize == placement.rank } }
        var batchesPerEpoch: Int { share.count / config.batchSize }
        var itemsPerBatch: Int { config.batchSize }

        func batch(epoch: Int, index k: Int) -> Batch {
            let order = RandomGenerator(seed: config.seed).fork(UInt64(epoch)).permutation(share.count).map { share[$0] }
            let indices = Array(order[(k * config.batchSize)..<((k + 1) * config.batchSize)])
            let side = config.cropSizes[(epoch + k) % config.cropSizes.count]
            let crops = indices.map { i in
                RandomGenerator(seed: config.seed).fork(1000 + UInt64(epoch)).fork(UInt64(i)).normal([1, 1, side, side])
            }
            return Batch(crops: Tensor.concat(crops, axis: 0), indices: indices)
        }

        func batches(epoch: Int, startingAt start: Int) -> AnyIterator<Batch> {
            var k = start
            return AnyIterator {
                guard k < batchesPerEpoch else { return nil }
                defer { k += 1 }
                return batch(epoch: epoch, index: k)
            }
        }
    }

    static let name = "toy_two_students"
    static let summary = "test only: two students with own optimisers and EMAs"

    let config: Config
    let studentA = Linear(2, 3), studentB = Linear(2, 3)
    let emaA = Linear(2, 3), emaB = Linear(2, 3)
    /// Frozen, never trained, saved in every checkpoint (as a Gram teacher would be).
    let anchor = Linear(2, 3)

    init(_ r: Resolved) {
        config = r.config
        let g = RandomGenerator(seed: r.config.seed).fork(7)
        for (i, m) in [studentA, studentB, anchor].enumerated() {
            m.weight.value.copyIn(g.fork(UInt64(i)).normal([3, 2], std: 0.5))
        }
        for (ema, s) in [(emaA, studentA), (emaB, studentB)] {
            try! ema.load(stateDict: s.stateDict().mapValues { $0.detach() })
            ema.freeze()
        }
        anchor.freeze()
    }

    static func resolve(_ config: Config, context: MethodContext) throws -> Resolved {
        Resolved(config: config, datasetSize: context.dataset.count, placement: context.placement)
    }
    static func build(_ r: Resolved) throws -> TwoStudentToy { TwoStudentToy(r) }
    static func batchSource(_ r: Resolved, context: MethodContext) throws -> Source {
        Source(datasetSize: r.datasetSize, config: r.config, placement: r.placement)
    }
    static func schedules(_ r: Resolved) -> ScheduleSet {
        ScheduleSet(["lr_a": ConstantSchedule(r.config.lrA), "lr_b": ConstantSchedule(r.config.lrB),
                     "wd": ConstantSchedule(0), "momentum": ConstantSchedule(r.config.momentum)])
    }
    static func trainerOptions(_ r: Resolved) -> TrainerOptions {
        var o = TrainerOptions()
        o.epochs = r.config.epochs
        return o
    }
    static func describe(_ r: Resolved, context: MethodContext) -> String { "toy: \(r.datasetSize) images" }
    static func exportedModel(_ config: Config) throws -> ExportedModel {
        throw MethodError.unsupported("\(name) exports no backbone")
    }

    // MARK: TrainingMethod

    func groups(_ m: Linear, _ name: String, _ lr: String) -> [ParameterGroup] {
        m.parameterGroups(prefix: name + ".").map { g in
            var g = g
            g.learningRateSchedule = lr
            return g
        }
    }
    var parameterGroups: [ParameterGroup] { optimizerGroups.flatMap(\.groups) }
    var optimizerGroups: [(name: String, groups: [ParameterGroup])] {
        [(name: "a", groups: groups(studentA, "student_a", "lr_a")), (name: "b", groups: groups(studentB, "student_b", "lr_b"))]
    }

    /// (B, 2): the mean and the mean square of each crop, whatever its side.
    static func statistics(_ crops: Tensor) -> Tensor {
        let flat = crops.reshape([crops.shape[0], -1])                          // (B, S·S)
        return Tensor.concat([flat.mean(axes: [1], keepDims: true), (flat * flat).mean(axes: [1], keepDims: true)], axis: 1)
    }

    func step(batch: Batch, schedules: ScheduleValues) -> [String: Tensor] {
        let x = Self.statistics(batch.crops)                                    // (B, 2)
        let target = withNoGrad { anchor(x) }                                   // (B, 3)
        let da = studentA(x) - target, db = studentB(x) - target
        let la = (da * da).mean(), lb = (db * db).mean()
        return [LossTerm.total: la + lb, "student_a_loss": la, "student_b_loss": lb]
    }

    func afterOptimizerStep(schedules: ScheduleValues) {
        let m = schedules["momentum"]
        emaA.updateExponentialMovingAverage(of: studentA, momentum: m)
        emaB.updateExponentialMovingAverage(of: studentB, momentum: m)
    }

    func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (prefix, m) in [("ema_a.", emaA), ("ema_b.", emaB), ("anchor.", anchor)] {
            for (k, t) in m.stateDict() { out[prefix + k] = t }
        }
        return out
    }

    func loadStateTensors(_ tensors: [String: Tensor]) throws {
        for (prefix, m) in [("ema_a.", emaA), ("ema_b.", emaB), ("anchor.", anchor)] {
            var own: [String: Tensor] = [:]
            for (k, t) in tensors where k.hasPrefix(prefix) { own[String(k.dropFirst(prefix.count))] = t }
            try m.load(stateDict: own)
        }
    }
}
