// DINO_MAX_ISA: a process started with it runs what a CPU with that instruction set at most
// runs — the fused kernels' variant, oneDNN's sgemm (through ONEDNN_MAX_CPU_ISA) and the peak
// loops — as `dino bench peak --json` reports. The variable is read before main, so the tests
// start the `dino` built beside them.

import DinoTestSupport
import Foundation
import Testing

@Suite struct MaxISATests {
    /// `dino bench peak --json` (a short loop) with `environment` added; its JSON and stderr.
    static func peak(_ environment: [String: String]) throws -> (json: [String: Any], stderr: String) {
        let p = Process()
        p.executableURL = builtExecutable("dino")
        p.arguments = ["bench", "peak", "--json", "--threads", "1", "--iterations", "1000", "--repeats", "1"]
        var env = ProcessInfo.processInfo.environment
        env["DINO_MAX_ISA"] = nil
        env["ONEDNN_MAX_CPU_ISA"] = nil
        env.merge(environment) { _, new in new }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
        return (json, stderr)
    }

    static func kernels(_ json: [String: Any]) -> Set<String> {
        Set(((json["results"] as? [[String: Any]]) ?? []).compactMap { $0["kernel"] as? String })
    }

    @Test func avx2CapsTheKernelsOneDNNAndThePeakLoops() throws {
        let full = try Self.peak([:]).json
        let isa = try #require(full["isa"] as? [String])
        try #require(isa.contains("avx2+fma"), "this CPU has no AVX2: nothing to cap")
        let capped = try Self.peak(["DINO_MAX_ISA": "avx2"]).json
        #expect(capped["isa"] as? [String] == ["avx2+fma"])
        #expect(capped["max_isa"] as? String == "avx2")
        let compute = try #require(capped["compute"] as? String)
        #expect(compute.contains("sgemm avx2,") && compute.hasSuffix("fused kernels avx2"), "\(compute)")
        #expect(Self.kernels(capped) == ["fp32_fma_avx2"])
        if isa.contains("avx512f") {
            // Uncapped, the same CPU runs its AVX-512 variants.
            #expect(Self.kernels(full).contains("fp32_fma_avx512"))
            #expect((full["compute"] as? String)?.contains("fused kernels avx512") == true)
            // oneDNN's Float32 matmul with a bias runs a brgemm kernel on AVX-512 only: there, and
            // not under the cap, the Float32 `linear` puts its bias in the product.
            #expect((full["compute"] as? String)?.contains("linear bias in the product (brg:avx512") == true)
            #expect((full["compute"] as? String)?.contains("sgemm avx512") == true)
        }
    }

    @Test func genericLeavesOnlyTheBaselineAndAnUnknownNameIsReportedAndIgnored() throws {
        let generic = try Self.peak(["DINO_MAX_ISA": "generic"]).json
        #expect(generic["isa"] as? [String] == [])
        #expect((generic["compute"] as? String)?.hasSuffix("fused kernels generic") == true)
        #expect(Self.kernels(generic).isEmpty)
        let (typo, stderr) = try Self.peak(["DINO_MAX_ISA": "avx3"])
        #expect(stderr.contains("DINO_MAX_ISA=avx3 is not one of avx512, avx2, generic; ignored"))
        #expect(typo["isa"] as? [String] == (try Self.peak([:]).json["isa"] as? [String]))
    }
}
