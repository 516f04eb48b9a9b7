// The machine's arithmetic peak, measured (`dino bench peak`): register-blocked loops of fused
// multiply-adds (Float32, AVX2+FMA and AVX-512F) and of bf16 dot products (`vdpbf16ps`, where
// the CPU has AVX512_BF16) in CDinoKernels/peak.c, run on 1 thread and on every thread at once.
// No memory is touched in the loops, so the rate is the cores' FMA throughput: the ceiling any
// product can reach. Other benchmark reports state their GFLOP/s as a fraction of it.

import CDinoKernels
import Dispatch
import DinoTensor
import Foundation

/// What the CPU offers, from cpuid (peak.c: `dino_cpu_features`).
public struct CPUFeatures: Sendable, Equatable {
    public let avx2FMA: Bool
    public let avx512F: Bool
    public let avx512BF16: Bool
    public let amxBF16: Bool

    public init(bits: Int32) {
        avx2FMA = bits & Int32(DINO_CPU_AVX2_FMA) != 0
        avx512F = bits & Int32(DINO_CPU_AVX512F) != 0
        avx512BF16 = bits & Int32(DINO_CPU_AVX512_BF16) != 0
        amxBF16 = bits & Int32(DINO_CPU_AMX_BF16) != 0
    }

    /// This CPU's features, as the environment's DINO_MAX_ISA caps them.
    public static var current: CPUFeatures { CPUFeatures(bits: dino_cpu_features()) }

    /// The cap DINO_MAX_ISA sets ("avx512", "avx2" or "generic"; CDinoKernels/dispatch.c), nil
    /// when it is unset or names none of them.
    public static var maxISA: String? { dino_kernels_max_isa().map { String(cString: $0) } }

    /// The instruction-set names present, e.g. ["avx2+fma", "avx512f", "avx512_bf16"].
    public var names: [String] {
        [avx2FMA ? "avx2+fma" : nil, avx512F ? "avx512f" : nil, avx512BF16 ? "avx512_bf16" : nil,
         amxBF16 ? "amx_bf16" : nil].compactMap { $0 }
    }
}

/// The CPU's brand string from cpuid ("AMD EPYC …"), or "unknown".
public func cpuModelName() -> String {
    var buf = [CChar](repeating: 0, count: 64)
    dino_cpu_model(&buf, 64)
    let s = String(cString: buf)
    return s.isEmpty ? "unknown" : s
}

/// One peak loop.
public enum PeakKernel: String, Sendable, CaseIterable {
    case fmaAVX2 = "fp32_fma_avx2"
    case fmaAVX512 = "fp32_fma_avx512"
    case dotBF16 = "bf16_dot_avx512"

    /// FLOP per lane per iteration: 2 for an FMA, 4 for a bf16 pair dot product.
    var flopsPerLane: Double { self == .dotBF16 ? 4 : 2 }

    /// Whether this CPU can run it.
    public func isSupported(on f: CPUFeatures = .current) -> Bool {
        switch self {
        case .fmaAVX2: return f.avx2FMA
        case .fmaAVX512: return f.avx512F
        case .dotBF16: return f.avx512BF16
        }
    }

    /// Runs the loop `iterations` times on the calling thread and returns its 384-float
    /// accumulator state (accumulator-major, lanes contiguous; only the first `lanes` are
    /// written) and the lane count (0 when unsupported). FMA: acc ← fma(acc, 0.999, 0.001) from
    /// init + j; bf16: acc ← acc + 1·1 + 1·1 from init + j (bf16 1.0 = 0x3F80).
    public func run(iterations: Int, init start: Float = 1) -> (out: [Float], lanes: Int) {
        var out = [Float](repeating: .nan, count: 384)
        let lanes = out.withUnsafeMutableBufferPointer { p -> Int in
            switch self {
            case .fmaAVX2: return dino_peak_fma_f32(Int32(DINO_PEAK_AVX2), iterations, start, 0.999, 0.001, p.baseAddress)
            case .fmaAVX512: return dino_peak_fma_f32(Int32(DINO_PEAK_AVX512), iterations, start, 0.999, 0.001, p.baseAddress)
            case .dotBF16: return dino_peak_dot_bf16(iterations, start, 0x3F80, 0x3F80, 0x3F80, 0x3F80, p.baseAddress)
            }
        }
        return (out, lanes)
    }
}

/// One measured peak.
public struct PeakResult: Sendable, Equatable {
    public let kernel: String
    public let threads: Int
    /// The best of the repeats, GFLOP/s (the peak is a ceiling: the fastest run is the closest to it).
    public let gflops: Double
    /// The median of the repeats, GFLOP/s.
    public let medianGflops: Double
    public let repeats: Int

    public var jsonLine: String {
        "{\"kernel\":\"\(kernel)\",\"threads\":\(threads),\"gflops\":\(format(gflops, 2)),"
            + "\"median_gflops\":\(format(medianGflops, 2)),\"repeats\":\(repeats)}"
    }
}

/// Measurement of the peak loops.
public enum PeakBenchmark {
    /// Times `kernel` on `threads` threads at once (each its own copy of the loop), `repeats`
    /// times, each run `iterations` loop iterations per thread. Nil when the CPU lacks it.
    public static func measure(_ kernel: PeakKernel, threads: Int, iterations: Int, repeats: Int) -> PeakResult? {
        guard kernel.isSupported() else { return nil }
        let lanes = kernel.run(iterations: 1).lanes
        let flops = kernel.flopsPerLane * Double(lanes) * Double(iterations) * Double(threads)
        var rates: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { _ in _ = kernel.run(iterations: iterations) }
            let s = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            rates.append(flops / s / 1e9)
        }
        return PeakResult(kernel: kernel.rawValue, threads: threads, gflops: rates.max()!,
                          medianGflops: median(rates), repeats: repeats)
    }

    /// The Float32 peak of this machine with `threads` threads: the faster of the FMA loops.
    public static func float32Peak(threads: Int, iterations: Int = 4_000_000, repeats: Int = 3) -> Double? {
        [PeakKernel.fmaAVX512, .fmaAVX2].compactMap { measure($0, threads: threads, iterations: iterations, repeats: repeats) }
            .map(\.gflops).max()
    }
}
