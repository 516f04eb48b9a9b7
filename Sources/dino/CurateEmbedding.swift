import ArgumentParser
import DinoCuration
import DinoModels
import DinoSSL
import DinoTensor
import DinoVision
import Foundation

/// Where `dino curate` gets embeddings: a `dino embed` file, or a backbone run here with
/// either descriptor — the normalised class token (`cls`, as `dino embed`), or DINO's
/// copy-detection descriptor (`copy-detection`: class token ⊕ GeM-pooled patch tokens of a
/// square-resized image, PCA-whitened; eval_copy_detection.py).
struct CurateEmbeddingOptions: ParsableArguments {
    @Option(name: .customLong("run"), help: "Embed with the teacher of this `dino train` run directory.")
    var runDirectory: String?
    @Option(help: "Model preset for embedding images (dinov2_vits14, …); optional when the weights store their config.")
    var model: String?
    @Option(help: "Weights (.safetensors) of the embedding model.")
    var weights: String?
    @Flag(help: "Embed with random weights (only for trying the pipeline).")
    var randomInit = false
    @Option(help: "Descriptor: cls (class token), copy-detection (class token ⊕ GeM patch tokens, whitened) or pixels (no model: the grey image box-resized to --image-size, centred, L2-normalised; a baseline).")
    var descriptor: String = "cls"
    @Option(help: "copy-detection: images to learn the whitening on (default: the pool itself; DINO used 20k YFCC images).")
    var whiteningImages: String?
    @Option(help: "Side of the image given to the model (default 224 for cls, a centre crop — a run's own crop size with --run; 320 for copy-detection, a square resize; 32 for pixels, a box resize).")
    var imageSize: Int?
    @Option(help: "Images per forward pass when embedding.")
    var batchSize: Int = 32

    func validate() throws {
        guard ["cls", "copy-detection", "pixels"].contains(descriptor) else {
            throw ValidationError("--descriptor '\(descriptor)': use cls, copy-detection or pixels")
        }
        if runDirectory != nil && (model != nil || weights != nil || randomInit) {
            throw ValidationError("give --run RUN, or --model/--weights, not both")
        }
    }

    /// Reads `file` when given (rows normalised), otherwise embeds `source`; caches the
    /// embeddings as `cache` when given. A copy-detection whitening is learnt once (on
    /// --whitening-images, else on the first set embedded) and reused through `whitening`.
    func table(file: String?, source: String?, cache: URL?, whitening: inout PCAWhitening?) throws -> EmbeddingTable {
        if let file {
            let t = try EmbeddingTable.read(URL(fileURLWithPath: file))
            t.normalizeRows()
            return t
        }
        guard let source else { throw ValidationError("give the images (a folder or list) or an --embeddings file") }
        if descriptor == "pixels" { return try cached(try pixels(source, side: size), cache: cache, size: size) }
        let vit: VisionTransformer
        var size = self.size
        if let runDirectory {
            let run = try TrainingRun.loadBackbone(run: URL(fileURLWithPath: runDirectory))
            vit = run.model
            if imageSize == nil && descriptor == "cls" { size = run.inputSize }      // the run's global crop
        } else {
            guard weights != nil || randomInit else {
                throw ValidationError("no embeddings for \(source): give --embeddings FILE (from `dino embed`), --run RUN, or --weights FILE / --random-init --model NAME")
            }
            vit = try VisionTransformer.load(preset: model, weights: weights.map { URL(fileURLWithPath: $0) })
        }
        var table: EmbeddingTable
        if descriptor == "cls" {
            table = try classTokens(vit, source, size: size)
        } else {
            table = try copyDetection(vit, source, size: size)
            if whitening == nil {
                whitening = PCAWhitening.fit(try whiteningImages.map { try copyDetection(vit, $0, size: size).vectors } ?? table.vectors)
            }
            table = try EmbeddingTable(paths: table.paths, vectors: whitening!.apply(table.vectors))
        }
        table.normalizeRows()
        return try cached(table, cache: cache, size: size)
    }

    /// Writes `table` as `cache` when given (with its paths and how it was made).
    func cached(_ table: EmbeddingTable, cache: URL?, size: Int) throws -> EmbeddingTable {
        if let cache {
            try SafeTensors.write(["embeddings": table.vectors], metadata: [
                "paths": String(decoding: try JSONEncoder().encode(table.paths), as: UTF8.self),
                "model": runDirectory ?? model ?? "", "descriptor": descriptor, "image_size": "\(size)",
            ], to: cache)
        }
        return table
    }

    /// The input side unless a run says otherwise.
    var size: Int { imageSize ?? (descriptor == "cls" ? 224 : descriptor == "pixels" ? 32 : 320) }

    /// `PixelDescriptor` rows of every readable image of `source` (no model).
    func pixels(_ source: String, side: Int) throws -> EmbeddingTable {
        let paths = try paths(source)
        var rows = [[Float]?](repeating: nil, count: paths.count)
        var errors = [String?](repeating: nil, count: paths.count)
        rows.withUnsafeMutableBufferPointer { out in
            errors.withUnsafeMutableBufferPointer { err in
                DispatchQueue.concurrentPerform(iterations: paths.count) { i in
                    do { out[i] = PixelDescriptor.descriptor(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: paths[i])), side: side) }
                    catch { err[i] = "\(error)" }
                }
            }
        }
        let good = paths.indices.filter { rows[$0] != nil }
        report(paths.indices.compactMap { i in errors[i].map { (paths[i], $0) } })
        let t = Tensor(zeros: [good.count, side * side])
        let p = t.pointer(Float.self)
        for (r, i) in good.enumerated() { rows[i]!.withUnsafeBufferPointer { (p + r * side * side).update(from: $0.baseAddress!, count: side * side) } }
        return try EmbeddingTable(paths: good.map { paths[$0] }, vectors: t)
    }

    func paths(_ source: String) throws -> [String] {
        let dataset = try ImageFileDataset.open(source)
        return (0..<dataset.count).map { dataset.path(at: $0) }
    }

    func classTokens(_ vit: VisionTransformer, _ source: String, size: Int) throws -> EmbeddingTable {
        let paths = try paths(source)
        let bar = ProgressBar(total: paths.count, label: "embed \(URL(fileURLWithPath: source).lastPathComponent)", itemsPerStep: 1)
        let e = try vit.embed(paths: paths, transform: EvaluationTransform(imageSize: size), batchSize: batchSize) { done, _ in
            bar.update(completed: done)
        }
        bar.finish()
        report(e.failures)
        return try EmbeddingTable(paths: e.paths, vectors: e.classTokens)
    }

    /// eval_copy_detection.py's `extract_features`: Resize((S, S), bicubic), ImageNet
    /// normalisation, the last block's normed tokens, [cls ; GeM₄(patches)].
    func copyDetection(_ vit: VisionTransformer, _ source: String, size: Int) throws -> EmbeddingTable {
        guard size % vit.patchSize == 0 else { throw ValidationError("--image-size \(size) is not a multiple of the patch size \(vit.patchSize)") }
        let paths = try paths(source)
        let s = size
        vit.eval()
        let bar = ProgressBar(total: paths.count, label: "copy-detection descriptors \(URL(fileURLWithPath: source).lastPathComponent)", itemsPerStep: 1)
        var kept: [String] = [], parts: [Tensor] = [], failures: [(path: String, reason: String)] = []
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let batch = Array(paths[start..<Swift.min(start + batchSize, paths.count)])
            let images = Tensor(zeros: [batch.count, 3, s, s])
            let base = images.pointer(Float.self)
            var errors = [String?](repeating: nil, count: batch.count)
            errors.withUnsafeMutableBufferPointer { err in
                DispatchQueue.concurrentPerform(iterations: batch.count) { i in
                    do {
                        let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: batch[i]))
                        ImageNormalization.imageNet.write(image.resized(width: s, height: s, filter: .bicubic), to: base + i * 3 * s * s)
                    } catch { err[i] = "\(error)" }
                }
            }
            let good = batch.indices.filter { errors[$0] == nil }
            for i in batch.indices { if let e = errors[i] { failures.append((batch[i], e)) } }
            if !good.isEmpty {
                let input = good.count == batch.count ? images : images.indexSelect(axis: 0, indices: good)
                let f = withNoGrad { vit.forwardFeatures(input) }
                parts.append(CopyDetectionDescriptor.descriptor(classToken: f.classToken, patchTokens: f.patchTokens))  // (B, 2D)
                kept += good.map { batch[$0] }
            }
            bar.update(completed: start + batch.count)
        }
        bar.finish()
        report(failures)
        return try EmbeddingTable(paths: kept, vectors: parts.isEmpty ? Tensor(zeros: [0, 2 * vit.embedDimensions]) : Tensor.concat(parts, axis: 0))
    }

    func report(_ failures: [(path: String, reason: String)]) {
        if let first = failures.first { print("skipped \(failures.count) unreadable images (first: \(first.path): \(first.reason))") }
    }
}
