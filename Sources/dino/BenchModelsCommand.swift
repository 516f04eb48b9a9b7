// `dino bench models`: inference speed of backbones (images per second). Thin: building and
// running the model is DinoModels' API; this file only times it.

import ArgumentParser
import DinoModels
import DinoTensor
import Foundation

struct BenchModels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Time backbone inference (forward features, no gradients) in images per second.",
        discussion: """
            Random weights and images; `--warmup` untimed batches, then the median of `--repeats`.
            Build with -c release. scripts/bench_models_pytorch.py is the PyTorch eager peer; figures in docs/benchmarks-models.md.
            """
    )

    @Option(help: "Model presets, comma-separated (ViTs, and the DINOv3 ConvNeXts convnext_tiny|small|base|large).")
    var models: String = "dinov2_vits14,dinov3_vits16"

    @Option(help: "Images per batch.")
    var batchSize: Int = 8

    @Option(help: "Image side in pixels.")
    var imageSize: Int = 224

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Timed batches (the median is reported).")
    var repeats: Int = 5

    @Option(help: "Untimed batches first.")
    var warmup: Int = 2

    func run() throws {
        if let threads { Threads.count = threads }
        for name in models.split(separator: ",").map(String.init) {
            let forward: (Tensor) -> Void
            if let config = ConvNeXtPresets.all[name] {
                let model = ConvNeXt(config)
                model.initializeWeights(generator: RandomGenerator(seed: 0))
                model.eval()
                forward = { _ = model.forwardFeatures($0) }
            } else {
                guard let config = ModelPresets.all[name] else {
                    throw PresetError.unknown(name, known: ModelPresets.names + ConvNeXtPresets.names)
                }
                let model = VisionTransformer(config)
                model.initializeWeights(generator: RandomGenerator(seed: 0))
                model.eval()
                forward = { _ = model.forwardFeatures($0) }
            }
            let images = RandomGenerator(seed: 1).normal([batchSize, 3, imageSize, imageSize])
            var times: [Double] = []
            for i in 0..<(warmup + repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                withNoGrad { forward(images) }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if i >= warmup { times.append(seconds) }
            }
            let median = times.sorted()[times.count / 2]
            print(String(format: "{\"model\": \"%@\", \"framework\": \"swift-dino\", \"threads\": %d, \"batch_size\": %d, \"image_size\": %d, \"median_s\": %.4f, \"images_per_s\": %.2f}",
                         name, Threads.count, batchSize, imageSize, median, Double(batchSize) / median))
        }
    }
}
