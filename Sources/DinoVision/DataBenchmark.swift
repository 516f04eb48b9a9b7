// Throughput of the data pipeline: decode + multi-crop + normalise + batch, in images/s.
//
// The measured loop is exactly what training consumes: `MultiCropPipeline.loader` batches
// pulled one after the other, after one warm-up batch. iBOT masks are left out so the work
// equals torchvision's DataLoader with the same transforms (scripts/bench_data_torchvision.py).

import DinoTensor
import Foundation

/// One measurement of the loader's throughput.
public struct DataBenchmarkResult: Sendable {
    /// Worker threads used.
    public let workers: Int
    /// Images delivered in the timed batches.
    public let images: Int
    /// Wall-clock time of the timed batches.
    public let seconds: Double
    /// Throughput: images / seconds.
    public var imagesPerSecond: Double { Double(images) / seconds }
}

/// Times the multi-crop loader.
public enum DataBenchmark {
    /// Loads `batches` batches (after one warm-up batch) and times them.
    public static func run(dataset: ImageFileDataset, config: MultiCropConfig, workers: Int,
                           batchSize: Int, batches: Int, seed: UInt64 = 0) -> DataBenchmarkResult {
        let pipeline = MultiCropPipeline(dataset: dataset, config: config, issues: DataIssueLog(report: DataIssueLog.silent))
        let options = LoaderOptions(batchSize: batchSize, shuffle: true, dropLast: true, seed: seed,
                                    workers: workers, prefetchBatches: max(2, workers))
        let loader = pipeline.loader(options)
        let epoch = loader.epoch(0)
        _ = epoch.next()
        var images = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<batches {
            guard let b = epoch.next() else { break }
            images += b.count
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        epoch.stop()
        return DataBenchmarkResult(workers: workers, images: images, seconds: seconds)
    }
}
