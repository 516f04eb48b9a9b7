// `dino bench probes`: wall time of the probes' heads, losses and metrics on cached features.
// Thin: reading the features file and running each probe is DinoEval's (ProbeBenchmark.swift),
// which calls the same functions as `dino eval`; this file only times and prints.

import ArgumentParser
import DinoBench
import DinoEval
import DinoTensor
import Foundation

struct BenchProbes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probes",
        abstract: "Time the evaluation probes (heads, losses, metrics) on cached features.",
        discussion: """
            Reads a features file (safetensors; scripts/bench_probes_reference.py --write makes one) \
            and times, per probe, training the head from scratch and scoring it: segmentation (DINOv2 \
            linear head, mIoU), depth (DINOv2 lin.1, SigLoss, depth metrics), video (DINO label \
            propagation, DAVIS J&F), linear (DINOv2's 48-classifier grid, cached). One untimed run, \
            then the median of --repeats. The backbone is not run. scripts/bench_probes.sh times the \
            reference modules' math on the same file and prints the ratios (docs/benchmarks-eval.md).
            """
    )

    @Option(help: "The cached-features file (.safetensors).")
    var features: String

    @Option(help: "Probes to time, comma-separated: segmentation, depth, video, linear.")
    var probes: String = ProbeBenchKind.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Timed runs per probe (the median is reported), after one untimed run.")
    var repeats: Int = 3

    @Option(help: "Epochs of the segmentation probe (batch 16).")
    var segmentationEpochs: Int = 1

    @Option(help: "Epochs of the depth probe (batch 16).")
    var depthEpochs: Int = 1

    @Option(help: "Epochs of the linear classifier grid (batch 128).")
    var linearEpochs: Int = 10

    @Flag(help: "One JSON object (cpu, threads, repeats, results) instead of the table.")
    var json = false

    var kinds: [ProbeBenchKind] {
        get throws {
            try probes.split(separator: ",").map { part in
                let name = part.trimmingCharacters(in: .whitespaces)
                guard let k = ProbeBenchKind(rawValue: name) else {
                    throw ValidationError("--probes: unknown probe '\(name)'; probes: "
                                          + ProbeBenchKind.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return k
            }
        }
    }

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        for (name, v) in [("--segmentation-epochs", segmentationEpochs), ("--depth-epochs", depthEpochs), ("--linear-epochs", linearEpochs)]
        where v < 1 { throw ValidationError("\(name) must be at least 1, got \(v)") }
        guard try !kinds.isEmpty else { throw ValidationError("--probes names no probe") }
    }

    func run() throws {
        if let threads { Threads.count = threads }
        let selected = try kinds
        var settings = ProbeBenchSettings()
        settings.segmentationEpochs = segmentationEpochs
        settings.depthEpochs = depthEpochs
        settings.linearEpochs = linearEpochs
        let data = try ProbeBenchFeatures.load(URL(fileURLWithPath: features), probes: selected)
        if !json {
            print("CPU: \(cpuModelName()); \(Threads.count) threads; median of \(repeats) after 1 untimed run")
            print("probe           median s  runs s                     score          work")
        }
        var results: [String] = []
        for kind in selected {
            var times: [Double] = []
            var outcome: ProbeBenchOutcome? = nil
            for i in 0...repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                outcome = data.run(kind, settings: settings)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                if i > 0 { times.append(seconds) }
            }
            let m = median(times), o = outcome!
            if json {
                results.append("{\"probe\":\"\(kind.rawValue)\",\"median_s\":\(String(format: "%.4f", m)),\"times_s\":["
                    + times.map { String(format: "%.4f", $0) }.joined(separator: ",") + "],\"score_name\":\"\(o.scoreName)\","
                    + "\"score\":\(o.score.isFinite ? String(format: "%.4f", o.score) : "null"),\"work\":\"\(o.work)\"}")
            } else {
                let runs = times.map { String(format: "%.2f", $0) }.joined(separator: " ")
                print(pad(kind.rawValue, 14) + "  " + padLeft(String(format: "%.3f", m), 8) + "  " + pad(runs, 25)
                      + "  " + padLeft(String(format: "%.2f", o.score), 7) + " " + pad(o.scoreName, 7) + "  " + o.work)
                fflush(stdout)
            }
        }
        if json {
            print("{\"framework\":\"swift-dino\",\"cpu\":\"\(cpuModelName())\",\"threads\":\(Threads.count),\"repeats\":\(repeats),"
                  + "\"segmentation_epochs\":\(segmentationEpochs),\"depth_epochs\":\(depthEpochs),\"linear_epochs\":\(linearEpochs),"
                  + "\"results\":[" + results.joined(separator: ",") + "]}")
        }
    }
}

