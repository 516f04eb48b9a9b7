// Running `dino` under mpirun from the tests: where the executables are, the MCA settings a
// 2-core container needs, a timeout on every process, and reading checkpoints back.

import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import XCTest

enum MPISupport {
    /// The `dino` built beside this test bundle (the test target depends on it).
    static var dino: URL { builtExecutable("dino") }

    /// mpirun from PATH, or a skip that says how to install it.
    static func mpirun() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for dir in path where FileManager.default.isExecutableFile(atPath: "\(dir)/mpirun") { return "\(dir)/mpirun" }
        throw XCTSkip("mpirun is not installed: the data-parallel tests need Open MPI (`make setup` installs openmpi-bin)")
    }

    /// mpirun's options for this machine: more ranks than cores, as root, shared memory without
    /// the single-copy mechanism (no CMA in containers), ranks that yield when idle, no binding.
    static let mpirunOptions = ["--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
                                "--mca", "btl_vader_single_copy_mechanism", "none", "--mca", "mpi_yield_when_idle", "1"]

    /// The images every run trains on.
    static var images: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/glyphs-mini/train").path
    }

    /// Runs a program with a timeout (killed after it); returns its status and output.
    @discardableResult
    static func run(_ program: String, _ arguments: [String], timeout: Double = 120) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("dino-mpi-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            p.terminate()
            usleep(500_000)
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            try? handle.close()
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            XCTFail("\(program) \(arguments.joined(separator: " ")) did not finish within \(timeout) s:\n\(output)")
            return (-1, output)
        }
        p.waitUntilExit()
        try? handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        return (p.terminationStatus, output)
    }

    /// `dino train` arguments of a tiny run: the test model, `steps` steps, one thread, drop
    /// path on (dino: per-sample masks at its default 0.1; dinov2: batch subsets at 0.2, both
    /// drawn on the global batch), KoLeo on (per rank, as the reference: the one-process run
    /// passes `--emulate-ranks N` to compute it per slice); dinov2 with softmax centring (its
    /// iBOT centre the mean of the ranks' means, emulated too), distill with Sinkhorn-Knopp;
    /// dinov3 with the Gram loss (per rank, emulated as KoLeo is).
    /// - Parameter warmup: keep the automatic learning-rate warm-up (dino and dinov2; the
    ///   Float64 comparisons, whose 1e-10 bound fails a wrong per-rank term either way).
    static func trainArguments(method: String, out: URL, steps: Int, extra: [String] = [], warmup: Bool = false) -> [String] {
        let common = ["train", "--method", method, "--data", images, "--out", out.path, "--max-steps", String(steps),
                      "--batch-size", "12", "--quiet", "--threads", "1"]
        let noWarmup = warmup ? [] : ["optim.warmup_epochs=0"]
        switch method {
        case "dino":
            // No learning-rate warm-up (here and for dinov2), as for dinov3 below: 3 steps must
            // move the weights enough for a wrong per-rank term to fail the comparison.
            return common + ["--model", "test_dino", "head.hidden_dimensions=32", "head.bottleneck_dimensions=16", "head.prototypes=64",
                             "data.workers=1"] + noWarmup + extra
        case "dinov3":
            // Small heads and crops (32 px global, 16 px local: 4×4 and 2×2 patches of 8); drop
            // path on exact batch subsets at 0.2, RoPE shift, jitter and rescale on; the Gram
            // loss over the batch (img_level false) from step 1 (the Gram teacher loaded from
            // the EMA teacher then), refreshed after every step from step 2. No learning-rate
            // warm-up, so that 3 steps move the weights enough for a per-rank term computed on
            // the whole batch instead (KoLeo or Gram without --emulate-ranks: 1.2e-3) to fail
            // the 1e-4 comparison (measured with the emulation: 3.3e-7).
            return common + ["--model", "test_dinov3", "data.workers=1", "student.drop_path_rate=0.2", "optim.warmup_epochs=0",
                             "dino.head.prototypes=16", "dino.head.hidden_dimensions=24", "dino.head.bottleneck_dimensions=8",
                             "ibot.head.prototypes=12", "ibot.head.hidden_dimensions=24", "ibot.head.bottleneck_dimensions=8",
                             "crops.global_size=32", "crops.local_size=16", "crops.local_count=2",
                             "student.rope_shift_coords=0.1", "student.rope_jitter_coords=1.2",
                             "gram.use_loss=true", "gram.it_load_ema_teacher=1", "gram.update_frequency=1", "gram.it_first_update=2"] + extra
        case "distill":
            return common + ["--model", "test_dinov2", "data.workers=1", "teacher.centering=sinkhorn_knopp"] + extra
        default:
            return common + ["--model", "test_dinov2", "dino.head.hidden_dimensions=32", "dino.head.bottleneck_dimensions=16",
                             "dino.head.prototypes=64", "data.workers=1", "student.drop_path_rate=0.2"] + noWarmup + extra
        }
    }

    /// Runs `dino ARGS` on `ranks` processes under mpirun (one process without it when 0).
    static func train(ranks: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
        if ranks == 0 { return try run(dino.path, arguments) }
        return try run(try mpirun(), ["-np", String(ranks)] + mpirunOptions + [dino.path] + arguments
                       + ["--verify-replicas", "--collective-timeout", "60"])
    }

    /// The newest checkpoint's tensors (parameters, teacher, centres; optimiser state left out).
    static func finalTensors(_ run: URL) throws -> [String: Tensor] {
        guard let c = try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).loadLatest() else {
            throw XCTSkip("no checkpoint in \(run.path)")
        }
        return c.tensors.filter { !$0.key.hasPrefix("optimizer.") }
    }

    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dino-mpi-\(name)-\(UUID().uuidString)")
    }
}
