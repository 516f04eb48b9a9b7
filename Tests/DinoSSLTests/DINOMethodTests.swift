import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// A tiny DINO: the `test_dino` preset (width 32, depth 2, patch 8, 32 px), 64 prototypes.
func tinyDINO(freezeEpochs: Double = 0, seed: UInt64 = 0, images: Int = 64, batch: Int = 4, koleo: Double = 0,
              centering: CenteringMode? = .centering) throws -> DINO {
    var c = DINOConfig()
    c.teacher.centering = centering
    c.koleoLossWeight = koleo
    c.model = "test_dino"
    c.epochs = 2
    c.batchSize = batch
    c.seed = seed
    c.head.prototypes = 64
    c.head.hiddenDimensions = 48
    c.head.bottleneckDimensions = 16
    c.head.freezeLastLayerEpochs = freezeEpochs
    c.crops.localCount = 2
    return DINO(settings: try c.resolved(datasetSize: images))
}

/// Random multi-crop batches, each a pure function of (epoch, index).
struct RandomCrops: BatchSource {
    var batchesPerEpoch = 3
    var itemsPerBatch = 4
    var localViews = 2

    func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        var index = start
        let (count, b, l) = (batchesPerEpoch, itemsPerBatch, localViews)
        return AnyIterator {
            guard index < count else { return nil }
            defer { index += 1 }
            let g = RandomGenerator(seed: 99).fork(UInt64(epoch * 1000 + index))
            return MultiCropInput(globalCrops: g.normal([2 * b, 3, 32, 32]), localCrops: g.normal([l * b, 3, 16, 16]))
        }
    }
}

@Suite struct DINOMethodTests {
    /// `koleo_loss_weight` adds DINOv2's KoLeo on the student's normalised CLS tokens of each
    /// global crop separately to the unchanged DINO loss, and its gradient reaches the backbone.
    @Test func koleoOptionAddsTheWeightedPerCropTerm() throws {
        let batch = RandomCrops().batches(epoch: 0, startingAt: 0).next()!
        let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])
        // Students in eval mode (no drop path), so that the CLS tokens can be recomputed.
        let reference = try tinyDINO()
        reference.student.eval()
        let plain = reference.step(batch: batch, schedules: values)
        #expect(plain["koleo_loss"] == nil && plain["dino_loss"] == nil)

        let dino = try tinyDINO(koleo: 0.25)
        dino.student.eval()
        let terms = dino.step(batch: batch, schedules: values)
        #expect(terms["dino_loss"]!.item() == plain["loss"]!.item())   // same seed: same networks, same DINO term
        let cls = withNoGrad { dino.student(batch.globalCrops) }        // (2B, D), B = 4
        let b = batch.images
        let expected = 0.25 * (Double(KoLeoLoss.loss(cls.slice(axis: 0, start: 0, end: b)).item())
                               + Double(KoLeoLoss.loss(cls.slice(axis: 0, start: b, end: 2 * b)).item()))
        #expect(abs(Double(terms["koleo_loss"]!.item()) - expected) < 1e-5 * max(1, abs(expected)))
        #expect(abs(terms["loss"]!.item() - terms["dino_loss"]!.item() - terms["koleo_loss"]!.item()) < 1e-5)
        // Both crops' terms against a concatenation: KoLeo across crops would differ.
        let mixed = 0.25 * Double(KoLeoLoss.loss(cls).item())
        #expect(abs(mixed - expected) > 1e-4)

        // The KoLeo term alone moves the backbone (its gradient is not zero).
        terms["koleo_loss"]!.backward()
        #expect(dino.student.parameters().contains { ($0.value.grad?.scalars.contains { $0 != 0 }) ?? false })
        #expect(dino.studentHead.parameters().allSatisfy { $0.value.grad == nil })

        var bad = DINOConfig()
        bad.koleoLossWeight = -1
        #expect(throws: ConfigError.self) { try bad.validate() }
    }

    @Test func teacherStartsAsTheStudentAndGroupsFollowRoles() throws {
        let dino = try tinyDINO()
        let s = dino.student.stateDict(), t = dino.teacher.stateDict()
        #expect(s.keys.sorted() == t.keys.sorted())
        for (k, v) in s { #expect(v.scalars == t[k]!.scalars, "\(k)") }
        #expect(dino.studentHead.lastLayer.direction.value.scalars == dino.teacherHead.lastLayer.direction.value.scalars)
        #expect(dino.teacher.parameters().allSatisfy { !$0.value.requiresGrad })

        let groups = dino.parameterGroups
        #expect(groups.count == 2)
        let decay = groups.first { $0.weightDecayMultiplier == 1 }!, noDecay = groups.first { $0.weightDecayMultiplier == 0 }!
        // DINO's get_params_groups: biases and 1-D tensors (norms) are not regularised.
        #expect(noDecay.names.allSatisfy { $0.hasSuffix(".bias") || $0.contains("norm") })
        #expect(noDecay.names.contains("student.backbone.blocks.0.norm1.weight"))
        #expect(noDecay.names.contains("student.head.mlp.0.bias"))
        #expect(decay.names.contains("student.backbone.cls_token") && decay.names.contains("student.backbone.pos_embed"))
        #expect(decay.names.contains("student.head.last_layer.weight_v"))
        #expect(!(decay.names + noDecay.names).contains("student.head.last_layer.weight_g"))
        #expect((decay.names + noDecay.names).allSatisfy { $0.hasPrefix("student.") })
        let trained = dino.student.parameters().count + dino.studentHead.parameters().count
        #expect(decay.parameters.count + noDecay.parameters.count == trained)
    }

    @Test func stepGivesAFiniteLossAndStudentGradientsOnly() throws {
        let dino = try tinyDINO(freezeEpochs: 1)
        let batch = RandomCrops().batches(epoch: 0, startingAt: 0).next()!
        #expect(batch.views == 4 && batch.images == 4)
        let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])
        let terms = dino.step(batch: batch, schedules: values)
        let loss = terms["loss"]!
        #expect(loss.item().isFinite && loss.item() > 0)
        // Teacher targets of random networks at τ_t = 0.04: entropies between 0 and log K.
        let h = terms["teacher_entropy"]!.item(), hm = terms["teacher_mean_entropy"]!.item()
        #expect(h >= 0 && h <= hm && hm <= Float(Foundation.log(64.0)) + 1e-4)
        loss.backward()
        #expect(dino.teacher.parameters().allSatisfy { $0.value.grad == nil })
        #expect(dino.teacherHead.parameters().allSatisfy { $0.value.grad == nil })
        #expect(dino.studentHead.lastLayer.direction.value.grad != nil)
        #expect(dino.student.blocks[1].attn.qkv.weight.value.grad != nil)
        // The last layer is frozen during the first epoch (here: its first 16 steps).
        dino.beforeOptimizerStep(schedules: values)
        #expect(dino.studentHead.lastLayer.direction.value.grad == nil)
        #expect(dino.student.blocks[1].attn.qkv.weight.value.grad != nil)
    }

    @Test func afterTheStepTheTeacherAndCentreMove() throws {
        let dino = try tinyDINO()
        let batch = RandomCrops().batches(epoch: 0, startingAt: 0).next()!
        let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])
        let teacherOut = dino.teacherOutput(batch)
        let expectedCenter = TeacherTargets.updatedCenter(dino.center, teacherOutput: teacherOut, momentum: 0.9).scalars
        _ = dino.step(batch: batch, schedules: values)
        // Pretend the optimiser moved one student weight.
        let w = dino.student.blocks[0].mlp as! MLP
        let before = dino.teacher.blocks[0].mlp as! MLP
        let t0 = before.fc1.weight.value.scalars
        withNoGrad { w.fc1.weight.value.copyIn(w.fc1.weight.value + 1) }
        let s1 = w.fc1.weight.value.scalars
        dino.afterOptimizerStep(schedules: values)
        let t1 = before.fc1.weight.value.scalars
        #expect(mismatch(t1, zip(t0, s1).map { 0.9 * $0 + 0.1 * $1 }, rtol: 1e-6, atol: 1e-7) == nil)
        #expect(mismatch(dino.center.scalars, expectedCenter, rtol: 1e-6, atol: 1e-7) == nil)
    }

    /// `teacher.centering=sinkhorn_knopp` takes the targets from Sinkhorn-Knopp (DINOv2's, 3
    /// iterations) instead of the centred softmax, and leaves the centre alone; the key is
    /// automatic (Sinkhorn-Knopp; the centred softmax with `recipe=reference`) and rejects
    /// unknown values.
    @Test func sinkhornKnoppCenteringReplacesTheCentredSoftmax() throws {
        let batch = RandomCrops().batches(epoch: 0, startingAt: 0).next()!
        let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])
        let sk = try tinyDINO(centering: .sinkhornKnopp), plain = try tinyDINO()
        sk.student.eval()
        plain.student.eval()
        let t = sk.teacherOutput(batch)                                                 // (2B, K)
        let q = TeacherTargets.sinkhornKnopp(teacherOutput: t, temperature: 0.04)
        let s = withNoGrad {                                                            // (V·B, K)
            sk.studentHead(Tensor.concat([sk.student(batch.globalCrops),
                                          sk.student.forwardFeatures(batch.localCrops!, local: true).classToken], axis: 0))
        }
        let expected = DINOLoss.loss(studentOutput: s, teacherProbabilities: q, studentTemperature: 0.1).item()
        let terms = sk.step(batch: batch, schedules: values)
        #expect(abs(terms["loss"]!.item() - expected) <= 1e-5 * abs(expected))
        #expect(abs(plain.step(batch: batch, schedules: values)["loss"]!.item() - expected) > 1e-3)
        sk.afterOptimizerStep(schedules: values)
        #expect(sk.center.scalars.allSatisfy { $0 == 0 })

        #expect(try ConfigLoader.load(DINOConfig.self, overrides: ["teacher.centering=sinkhorn_knopp"]).teacher.centering == .sinkhornKnopp)
        let auto = try ConfigLoader.load(DINOConfig.self, overrides: ["epochs=3"])
        #expect(auto.teacher.centering == nil && auto.teacher.centeringMode(recipe: auto.recipe) == .sinkhornKnopp)
        let reference = try ConfigLoader.load(DINOConfig.self, overrides: ["recipe=reference"])
        #expect(reference.teacher.centeringMode(recipe: reference.recipe) == .centering)
        // The automatic mode trains exactly as the explicit Sinkhorn-Knopp.
        #expect(try tinyDINO(centering: nil).step(batch: batch, schedules: values)["loss"]!.item()
                == (try tinyDINO(centering: .sinkhornKnopp)).step(batch: batch, schedules: values)["loss"]!.item())
        #expect(throws: (any Error).self) { try ConfigLoader.load(DINOConfig.self, overrides: ["teacher.centering=median"]) }
    }

    @Test func trainingResumesBitExactly() throws {
        func options(_ steps: Int?) -> TrainerOptions {
            var o = TrainerOptions()
            o.epochs = 2
            o.progress = false
            o.logEverySteps = 1
            o.checkpointEveryMinutes = nil
            o.maxSteps = steps
            o.tensorBoard = false
            return o
        }
        func trainer(_ dir: URL, _ steps: Int?) throws -> Trainer<DINO, RandomCrops> {
            let dino = try tinyDINO(freezeEpochs: 0.5, images: 12)
            return try Trainer(method: dino, data: RandomCrops(), schedules: dino.settings.schedules,
                               options: options(steps), runDirectory: dir)
        }
        let whole = FileManager.default.temporaryDirectory.appendingPathComponent("dino-whole-\(UUID().uuidString)")
        let parts = FileManager.default.temporaryDirectory.appendingPathComponent("dino-parts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: parts) }
        #expect(try trainer(whole, nil).run() == .completed)
        #expect(try trainer(parts, 4).run() == .stopped(reason: "reached max_steps 4"))   // mid-epoch 2
        let resumed = try trainer(parts, nil)
        #expect(try resumed.run() == .completed)
        let a = try MetricsLogger.read(whole.appendingPathComponent("metrics.jsonl")).map { $0["loss"]! }
        let b = try MetricsLogger.read(parts.appendingPathComponent("metrics.jsonl")).map { $0["loss"]! }
        #expect(a.count == 6 && a == b)
        #expect(resumed.method.center.scalars.allSatisfy { $0.isFinite })
    }
}
