// `dino bench …`: timings of the engine. Thin: the cases and the timing live in DinoBench.

import ArgumentParser
import DinoBench
import DinoTensor
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the engine.",
        subcommands: [BenchPeak.self, BenchOps.self, BenchData.self, BenchModels.self, BenchAllReduce.self, BenchProbes.self]
    )
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Time single ops: the matrix products of a ViT-Tiny training step and the fused kernels.",
        discussion: """
            Each case runs `--warmup` times untimed, then `--repeats` times; the median is reported.
            Build with -c release before reading the figures. scripts/bench_ops.sh (make bench)
            adds the PyTorch figures.
            """
    )

    @Option(help: "Thread counts to run each case with, comma-separated.")
    var threads: String = "1,2"

    @Option(help: "Timed runs per case and thread count (the median is reported).")
    var repeats: Int = 10

    @Option(help: "Untimed runs before timing.")
    var warmup: Int = 2

    @Option(help: "Run only the cases whose name contains this text.")
    var filter: String?

    @Flag(help: "One JSON object per line (name, threads, ms, gflops or gbps, peak_fraction, repeats) instead of a table.")
    var json = false

    @Flag(help: "Skip measuring the Float32 peak per thread count (then no peak column).")
    var noPeak = false

    @Option(help: "Precision of the products: float32, bf16 (native where the CPU has AVX512_BF16), or bf16-emulated.")
    var precision: String = "float32"

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0, got \(warmup)") }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--threads needs positive integers separated by commas, got '\(threads)'")
        }
        guard ["float32", "bf16", "bf16-emulated"].contains(precision) else {
            throw ValidationError("--precision must be float32, bf16 or bf16-emulated, got '\(precision)'")
        }
        if let filter, selectedCases.isEmpty {
            throw ValidationError("no case matches --filter '\(filter)'; cases: "
                                  + OpsBenchmark.cases().map(\.name).joined(separator: ", "))
        }
    }

    var threadCounts: [Int] {
        let parts = threads.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? [] : parts.compactMap { $0 }
    }

    var selectedCases: [BenchCase] {
        let all = OpsBenchmark.cases()
        guard let filter else { return all }
        return all.filter { $0.name.contains(filter) }
    }

    func run() throws {
        let cases = selectedCases
        let nameWidth = cases.map(\.name.count).max() ?? 4
        // The measured Float32 peak of each thread count (about 0.2 s each), for the peak column.
        var peaks: [Int: Double] = [:]
        if !noPeak {
            for t in Set(threadCounts) { peaks[t] = PeakBenchmark.float32Peak(threads: t) }
        }
        if !json {
            if !noPeak {
                print("Float32 peak (\(cpuModelName()), " + threadCounts.map { t in
                    "\(t) thr \(peaks[t].map { String(format: "%.1f", $0) } ?? "n/a") GFLOP/s" }
                    .joined(separator: ", ") + "); peak column = rate / peak")
            }
            print(BenchTable.header(nameWidth: nameWidth, peak: !noPeak))
        }
        let run = {
            OpsBenchmark.run(cases, threads: threadCounts, warmup: warmup, repeats: repeats) { result in
                let peak = peaks[result.threads]
                print(json ? result.jsonLine(peak: peak)
                           : BenchTable.row(result, nameWidth: nameWidth, peak: noPeak ? nil : .some(peak)))
                fflush(stdout)
            }
        }
        // bf16: the products as autocast runs them (rounding of operands and results included);
        // the peak column stays the Float32 peak.
        switch precision {
        case "bf16": withPrecision(.bf16) { run() }
        case "bf16-emulated": Autocast.withEmulatedBF16 { withPrecision(.bf16) { run() } }
        default: run()
        }
    }
}

struct BenchPeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "Measure the machine's arithmetic peak: Float32 FMA and bf16 dot products, 1 and all threads.",
        discussion: """
            Register-blocked loops with no memory traffic (CDinoKernels/peak.c): Float32 FMA with
            AVX2+FMA (12 ymm accumulators) and AVX-512F (24 zmm), and vdpbf16ps where the CPU has
            AVX512_BF16. The best of --repeats runs is reported (the median beside it). `dino bench
            ops` measures the same Float32 peak for its peak column.
            """
    )

    @Option(help: "Thread counts, comma-separated (default: 1 and all active processors).")
    var threads: String?

    @Option(help: "Loop iterations per thread per run (each iteration is 192–1536 FLOP per thread).")
    var iterations: Int = 20_000_000

    @Option(help: "Timed runs per kernel and thread count.")
    var repeats: Int = 5

    @Flag(help: "Print one JSON object (cpu, isa, compute, results) instead of the table.")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
        guard let counts = threadCounts, !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--threads needs positive integers separated by commas, got '\(threads ?? "")'")
        }
        _ = counts
    }

    var threadCounts: [Int]? {
        guard let threads else {
            let all = ProcessInfo.processInfo.activeProcessorCount
            return all > 1 ? [1, all] : [1]
        }
        let parts = threads.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : parts.compactMap { $0 }
    }

    func run() throws {
        let features = CPUFeatures.current
        let model = cpuModelName()
        let table = !json
        // DINO_MAX_ISA (CDinoKernels/dispatch.c) caps what the kernels, oneDNN and these loops use.
        let cap = CPUFeatures.maxISA
        if table {
            print("CPU: \(model)")
            print("ISA: \(features.names.isEmpty ? "baseline x86-64 only" : features.names.joined(separator: ", "))"
                  + (cap.map { " (as capped by DINO_MAX_ISA=\($0))" } ?? ""))
            print("compute: \(ComputeBackend.description) (recorded in every checkpoint's train state)")
            print("kernel             thr   GFLOP/s  median   per thread")
        }
        var results: [PeakResult] = []
        for kernel in PeakKernel.allCases {
            for t in threadCounts ?? [1] {
                guard let r = PeakBenchmark.measure(kernel, threads: t, iterations: iterations, repeats: repeats) else {
                    if table { print(pad(kernel.rawValue, 17) + "  " + padLeft(String(t), 3) + "  not supported by this CPU"
                                  + (cap == nil ? "" : " as capped")) }
                    break
                }
                results.append(r)
                if table { print(pad(kernel.rawValue, 17) + "  " + padLeft(String(t), 3) + "  "
                      + padLeft(String(format: "%.1f", r.gflops), 8) + "  " + padLeft(String(format: "%.1f", r.medianGflops), 6)
                      + "  " + padLeft(String(format: "%.1f", r.gflops / Double(t)), 10)) }
                fflush(stdout)
            }
        }
        if json {
            let body = "{\"cpu\":\"\(model)\",\"isa\":[" + features.names.map { "\"\($0)\"" }.joined(separator: ",")
                + "]" + (cap.map { ",\"max_isa\":\"\($0)\"" } ?? "") + ",\"compute\":\"\(ComputeBackend.description)\""
                + ",\"results\":[" + results.map(\.jsonLine).joined(separator: ",") + "]}\n"
            print(body, terminator: "")
        }
    }
}

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
func padLeft(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
