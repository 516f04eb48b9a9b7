// `dino bench …`: timings of the engine. Thin: the cases and the timing live in DinoBench.

import ArgumentParser
import DinoBench
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the engine.",
        subcommands: [BenchOps.self, BenchData.self, BenchModels.self, BenchAllReduce.self]
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

    @Flag(help: "One JSON object per line (name, threads, ms, gflops or gbps, repeats) instead of a table.")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0, got \(warmup)") }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--threads needs positive integers separated by commas, got '\(threads)'")
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
        if !json { print(BenchTable.header(nameWidth: nameWidth)) }
        OpsBenchmark.run(cases, threads: threadCounts, warmup: warmup, repeats: repeats) { result in
            print(json ? result.jsonLine : BenchTable.row(result, nameWidth: nameWidth))
            fflush(stdout)
        }
    }
}
