// The method registry: lookup and listing, and the plug-in protocol carrying what the next
// methods need, shown by a method defined and registered here (TwoStudentToy.swift).

import DinoNN
@testable import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import Testing

@Suite struct RegistryTests {
    init() { MethodRegistry.register(TwoStudentToy.self) }

    static var images: String { RunFixtures.root.appendingPathComponent("images").path }

    static func temporary() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
    }

    /// A toy run in `dir` (resumed when it has a checkpoint) that stops after `maxSteps`.
    static func toyRun(_ dir: URL, maxSteps: Int? = nil, placement: DataParallelPlacement = .single,
                       config: TwoStudentToy.Config = .init()) throws -> (run: TrainingRun, method: TwoStudentToy) {
        let run = try TrainingRun(TwoStudentToy.self, config: config, dataPath: images, runDirectory: dir, placement: placement) { o in
            o.maxSteps = maxSteps
            o.progress = false
            o.tensorBoard = false
        }
        return (run, run.method as! TwoStudentToy)
    }

    @Test func builtInMethodsAndAddedOnesAreLookedUpByName() throws {
        #expect(Array(MethodRegistry.names.prefix(3)) == ["dino", "dinov2", "distill"])
        #expect(try MethodRegistry.method(named: "dinov2") == DINOv2.self)
        #expect(try MethodRegistry.method(named: "toy_two_students") == TwoStudentToy.self)
        #expect(throws: MethodError.unknown("dino3", available: MethodRegistry.names)) { try MethodRegistry.method(named: "dino3") }
        let lines = MethodRegistry.listing.split(separator: "\n")
        #expect(lines.count == MethodRegistry.methods.count)
        #expect(lines.contains { $0.hasPrefix("toy_two_students") && $0.hasSuffix(TwoStudentToy.summary) })
        // Summaries short enough for one line each in an 80-column help screen.
        #expect(MethodRegistry.methods.allSatisfy { $0.summary.count <= 70 })
        // Registering the same type again changes nothing.
        MethodRegistry.register(TwoStudentToy.self)
        #expect(MethodRegistry.names.filter { $0 == TwoStudentToy.name }.count == 1)
    }

    /// Two students with their own optimisers and EMAs, a frozen module in the checkpoint, and
    /// crop sizes changing every batch: stopped and resumed mid-epoch, bit for bit.
    @Test func severalOptimisersFrozenModulesAndChangingCropsResumeBitExactly() throws {
        let whole = Self.temporary(), parts = Self.temporary()
        defer { for d in [whole, parts] { try? FileManager.default.removeItem(at: d) } }
        let reference = try Self.toyRun(whole)
        let anchorBefore = reference.method.anchor.weight.value.scalars
        #expect(try reference.run.trainer.run() == .completed)
        #expect(reference.method.anchor.weight.value.scalars == anchorBefore)
        // Each student moved, each EMA followed its own student, and the learning rates differ.
        #expect(reference.method.emaA.weight.value.scalars != reference.method.emaB.weight.value.scalars)
        let stored = try #require(try TrainingRun.storedConfig(in: whole))
        #expect(stored.method == TwoStudentToy.name)

        _ = try Self.toyRun(parts, maxSteps: 3).run.trainer.run()
        let checkpoint = try #require(try CheckpointStore(directory: parts.appendingPathComponent("checkpoints")).loadLatest())
        let keys = Set(checkpoint.tensors.keys)
        for key in ["optimizer.a.student_a.weight.exp_avg", "optimizer.b.student_b.weight.exp_avg", "anchor.weight", "ema_b.bias",
                    "student_a.weight"] {
            #expect(keys.contains(key), "\(key)")
        }
        #expect(!keys.contains { $0.hasPrefix("optimizer.a.student_b") })
        let resumed = try Self.toyRun(parts)
        #expect(try resumed.run.trainer.run() == .completed)
        for (a, b) in [(resumed.method.studentA, reference.method.studentA), (resumed.method.emaB, reference.method.emaB),
                       (resumed.method.anchor, reference.method.anchor)] {
            for (k, t) in a.stateDict() { #expect(t.scalars == b.stateDict()[k]!.scalars, "\(k)") }
        }
        let metrics = try RunFixtures.metrics(whole).map { $0["loss"]! }
        #expect(metrics == (try RunFixtures.metrics(parts).map { $0["loss"]! }))
    }

    @Test func cropSizesChangeFromBatchToBatch() {
        let source = TwoStudentToy.Source(datasetSize: 8, config: .init(), placement: .single)
        let sides = Array(source.batches(epoch: 0, startingAt: 0)).map { $0.crops.shape[2] }
        #expect(sides == [4, 8, 4, 8])
        #expect(source.batch(epoch: 1, index: 0).crops.shape == [2, 1, 8, 8])
    }

    /// Each rank takes its share of an epoch: the shares are disjoint and together the epoch.
    @Test func batchSourcesKnowTheirRankAndTheWorldSize() throws {
        let config = TwoStudentToy.Config()
        let seen = (0..<2).map { rank in
            Set(Array(TwoStudentToy.Source(datasetSize: 8, config: config, placement: DataParallelPlacement(rank: rank, worldSize: 2))
                .batches(epoch: 0, startingAt: 0)).flatMap(\.indices))
        }
        #expect(seen[0].isDisjoint(with: seen[1]) && seen[0].union(seen[1]) == Set(0..<8))
        // A run builds its source with the placement; DINO refuses a global batch that does not
        // divide among the ranks (its data-parallel runs: DinoDistributedTests).
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (run, _) = try Self.toyRun(dir, placement: DataParallelPlacement(rank: 1, worldSize: 2))
        #expect((run.trainer as! Trainer<TwoStudentToy, TwoStudentToy.Source>).data.batchesPerEpoch == 1)
        var odd = DINOConfig()
        odd.batchSize = 3
        #expect(throws: ConfigError.self) {
            try TrainingRun(DINO.self, config: odd, dataPath: Self.images, runDirectory: dir,
                            placement: DataParallelPlacement(rank: 0, worldSize: 2))
        }
    }
}
