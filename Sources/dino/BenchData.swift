// `dino bench data`: images/s of decode + DINO multi-crop + batching, per worker count.

import ArgumentParser
import DinoTensor
import DinoVision
import Foundation

struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Throughput of decoding plus multi-crop augmentation (compare: scripts/bench_data_torchvision.py)."
    )

    @Option(help: "Folder of images (searched recursively) or a text file listing paths.")
    var data: String

    @OptionGroup var crops: MultiCropOptions

    @Option(help: "Worker counts to measure, comma-separated.")
    var workers: String = "1,2"

    @Option(help: "Images per batch.")
    var batchSize: Int = 32

    @Option(help: "Batches timed per worker count (after one warm-up batch).")
    var batches: Int = 8

    @Flag(help: "Read every file once before timing, so that no measurement waits for the disk.")
    var warmCache = false

    func run() throws {
        let config = try crops.config()
        let dataset = try ImageFileDataset.open(data)
        guard dataset.count >= batchSize * (batches + 1) else {
            throw ValidationError("\(data) has \(dataset.count) images; need \(batchSize * (batches + 1)) for \(batches + 1) batches of \(batchSize)")
        }
        if warmCache {
            for i in 0..<dataset.count { _ = try? Data(contentsOf: URL(fileURLWithPath: dataset.path(at: i))) }
        }
        print("data: \(data) (\(dataset.count) images), \(crops.method), 2×\(crops.globalSize) + \(crops.localCount)×\(crops.localSize), batch \(batchSize)")
        for w in workers.split(separator: ",").compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            let r = DataBenchmark.run(dataset: dataset, config: config, workers: w, batchSize: batchSize, batches: batches)
            print(String(format: "workers %d: %8.1f images/s  (%d images in %.2f s)", w, r.imagesPerSecond, r.images, r.seconds))
        }
    }
}
