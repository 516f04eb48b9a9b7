import DinoBench
import DinoTensor
import Foundation
import Testing

@Suite struct BenchTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(median([5, 1, 3]) == 3)
        #expect(median([4, 1, 3, 2]) == 2.5)
        #expect(median([7]) == 7)
    }

    @Test func measureRunsWarmupThenRepeatsWithTheThreadCount() {
        var prepared = 0, runs = 0, threadsSeen: Set<Int> = []
        let c = BenchCase(name: "count", detail: "", work: .flops(1e9)) {
            prepared += 1
            return { runs += 1; threadsSeen.insert(Threads.count) }
        }
        let saved = Threads.count
        let r = measure(c, threads: 1, warmup: 2, repeats: 5)
        #expect(prepared == 1 && runs == 7 && threadsSeen == [1])
        #expect(Threads.count == saved)
        #expect(r.repeats == 5 && r.threads == 1 && r.seconds >= 0)
    }

    @Test func jsonLineCarriesTheSharedSchema() throws {
        let r = BenchResult(name: "matmul_1024", detail: "x", threads: 2, work: .flops(2e9), seconds: 0.5, repeats: 3)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(r.jsonLine.utf8)) as? [String: Any])
        #expect(object["name"] as? String == "matmul_1024")
        #expect(object["threads"] as? Int == 2)
        #expect(object["gflops"] as? Double == 4)   // 2e9 flop in 0.5 s
        #expect(object["gbps"] == nil)
        let m = BenchResult(name: "gelu_fwd_bwd", detail: "x", threads: 1, work: .bytes(3e9), seconds: 2, repeats: 3)
        let mo = try #require(try JSONSerialization.jsonObject(with: Data(m.jsonLine.utf8)) as? [String: Any])
        #expect(mo["gbps"] as? Double == 1.5 && mo["gflops"] == nil)
        #expect(!r.jsonLine.contains("\n"))
    }

    @Test func caseNamesAreUniqueAndCoverTheViTTinyProducts() {
        let names = OpsBenchmark.cases().map(\.name)
        #expect(Set(names).count == names.count)
        for expected in ["matmul_qkv_fwd", "matmul_fc1_fwd", "matmul_fc2_fwd", "matmul_qkv_dx",
                         "matmul_qkv_dw", "matmul_1024"] {
            #expect(names.contains(expected), "missing case \(expected)")
        }
        // 2·M·N·K of the qkv forward: 4160 rows × 192 → 576.
        let qkv = OpsBenchmark.cases().first { $0.name == "matmul_qkv_fwd" }
        #expect(qkv?.work == .flops(2.0 * 4160 * 192 * 576))
    }
}
