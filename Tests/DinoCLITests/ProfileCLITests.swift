// `dino train --profile WARMUP,STEPS`: the profile of the steps after the warm-up, as a table and
// RUN/profile.json; a malformed value is refused.

@testable import dino
import DinoTensor
import Foundation
import Testing

@Suite(.serialized) struct ProfileCLITests {
    struct Profile: Decodable { let steps: Int; let first_step: Int; let threads: Int; let entries: [OpProfiler.Entry] }

    @Test func profilesTheStepsAfterTheWarmUp() throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: run) }
        try TrainCommand.parse(["--method", "dino", "--model", "test_dinov2", "--data", fixtureRuns.appendingPathComponent("images").path,
                                "--out", run.path, "--batch-size", "2", "--max-steps", "4", "--quiet", "--profile", "1,2",
                                "head.hidden_dimensions=16", "head.bottleneck_dimensions=8", "head.prototypes=32",
                                "crops.global_size=32", "crops.local_size=16", "crops.local_count=2", "data.workers=1"]).run()
        let profile = try JSONDecoder().decode(Profile.self, from: Data(contentsOf: run.appendingPathComponent("profile.json")))
        #expect(profile.steps == 2 && profile.first_step == 2)
        let byName = Dictionary(uniqueKeysWithValues: profile.entries.map { ($0.name, $0) })
        // Once per step: the trainer's phases; the backbone's products forward and backward.
        for phase in ["trainer: optimizer", "trainer: zero grad", "method: after optimizer step (EMA, …)"] {
            #expect(byName[phase]?.calls == 2, "\(phase): \(byName[phase].map { "\($0.calls)" } ?? "missing")")
        }
        #expect((byName["linear"]?.calls ?? 0) > 0 && (byName["linear backward"]?.calls ?? 0) > 0)
        #expect((byName["scaledDotProductAttention backward"]?.calls ?? 0) > 0)
        #expect(profile.entries.allSatisfy { $0.seconds >= 0 } && !OpProfiler.isActive)

        for bad in ["3", "1,0", "-1,2", "a,b", "1,2,3"] {
            do {
                _ = try TrainCommand.parse(["--data", "unused", "--out", "unused", "--profile=\(bad)"])
                Issue.record("--profile \(bad) was accepted")
            } catch {
                #expect(TrainCommand.message(for: error).contains("--profile WARMUP,STEPS"), "--profile \(bad): \(error)")
            }
        }
        #expect(try TrainCommand.parse(["--data", "unused", "--out", "unused", "--profile", "0,5"]).parsedProfile()! == (0, 5))
    }
}
