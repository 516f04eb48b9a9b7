// The peak loops of `dino bench peak`: ISA detection against /proc/cpuinfo, and the loops'
// arithmetic against a scalar recurrence (bit-exact). No timings.

import DinoBench
import Foundation
import Testing

@Suite struct PeakTests {
    @Test func featuresAreConsistentAndMatchProcCpuinfo() throws {
        let f = CPUFeatures.current
        // Implications of the detection: bf16 needs AVX-512F, AVX-512F (with FMA) implies AVX2+FMA
        // on every CPU that has it.
        if f.avx512BF16 { #expect(f.avx512F) }
        if f.avx512F { #expect(f.avx2FMA) }
        // Linux lists the flags the kernel enabled; cpuid must agree.
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        #expect(f.avx2FMA == (flags.contains("avx2") && flags.contains("fma")))
        #expect(f.avx512F == flags.contains("avx512f"))
        #expect(f.avx512BF16 == flags.contains("avx512_bf16"))
        #expect(!cpuModelName().isEmpty)
    }

    @Test(arguments: [PeakKernel.fmaAVX2, .fmaAVX512])
    func fmaLoopMatchesScalarRecurrence(kernel: PeakKernel) throws {
        guard kernel.isSupported() else { return }
        let iterations = 37
        let (out, lanes) = kernel.run(iterations: iterations, init: 1)
        #expect(lanes == (kernel == .fmaAVX512 ? 384 : 96))
        let width = kernel == .fmaAVX512 ? 16 : 8
        for j in 0..<(lanes / width) {
            var acc = Float(1) + Float(j)
            for _ in 0..<iterations { acc = Float(0.001).addingProduct(acc, Float(0.999)) }   // one rounding
            for l in 0..<width { #expect(out[j * width + l].bitPattern == acc.bitPattern, "accumulator \(j) lane \(l)") }
        }
        if lanes < out.count { #expect(out[lanes].isNaN) }   // nothing written beyond the lanes
    }

    @Test func bf16DotLoopAddsTwoPerIteration() throws {
        guard PeakKernel.dotBF16.isSupported() else { return }
        let (out, lanes) = PeakKernel.dotBF16.run(iterations: 1000, init: 0.5)
        #expect(lanes == 384)
        for j in 0..<24 { for l in 0..<16 { #expect(out[j * 16 + l] == 0.5 + Float(j) + 2000) } }
    }

    @Test func peakFractionOnlyForFlopCases() {
        let r = BenchResult(name: "x", detail: "", threads: 1, work: .flops(2e9), seconds: 1, repeats: 1)
        #expect(r.fractionOfPeak(8) == 0.25)
        #expect(r.jsonLine(peak: 8).contains("\"peak_fraction\":0.2500"))
        let b = BenchResult(name: "y", detail: "", threads: 1, work: .bytes(2e9), seconds: 1, repeats: 1)
        #expect(b.fractionOfPeak(8) == nil)
        #expect(BenchTable.row(r, nameWidth: 4, peak: .some(8)).contains("25.0%"))
    }
}
