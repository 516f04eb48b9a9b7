// Applying a fine-tuned classifier to image files: the k most probable classes of each, as
// `dino predict` prints them and writes them to JSON and CSV.

import DinoModels
import DinoTensor
import DinoVision
import Foundation

/// The top classes of one image.
public struct ImagePrediction: Codable, Equatable, Sendable {
    public struct Score: Codable, Equatable, Sendable {
        public var label: String
        public var index: Int
        public var probability: Double
    }
    public var path: String
    /// Best first.
    public var top: [Score]
}

/// The `k` most probable classes of each image (softmax of the logits), with the evaluation
/// view (`EvaluationTransform.forInput`, as the classifier was scored).
///
/// - Throws: `ImageDecodingError` naming the first file that cannot be read.
public func predictClasses(_ model: ImageClassifier, info: ClassifierInfo, paths: [String], k: Int = 5,
                           batchSize: Int = 32) throws -> [ImagePrediction] {
    let t = EvaluationTransform.forInput(size: info.inputSize)
    model.train(false)
    var out: [ImagePrediction] = []
    for start in stride(from: 0, to: paths.count, by: batchSize) {
        let chunk = Array(paths[start..<Swift.min(start + batchSize, paths.count)])
        let views = try chunk.map { try t.view(ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0),
                                                                   options: DecodeOptions(minimumShorterSide: t.resizeSize))) }
        let logits = withNoGrad { model(stackViews(views, normalization: t.normalization)) }   // (b, K)
        for (path, row) in zip(chunk, topClasses(logits, k: Swift.min(k, model.classes))) {
            out.append(ImagePrediction(path: path, top: row.map {
                ImagePrediction.Score(label: info.classes[$0.index], index: $0.index, probability: $0.probability)
            }))
        }
    }
    return out
}

/// CSV of predictions: `path,label_1,score_1,…,label_k,score_k` (RFC 4180 quoting).
public func predictionsCSV(_ predictions: [ImagePrediction]) -> String {
    let k = predictions.map(\.top.count).max() ?? 0
    func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
    var lines = [(["path"] + (1...Swift.max(k, 1)).flatMap { ["label_\($0)", "score_\($0)"] }).joined(separator: ",")]
    for p in predictions {
        lines.append(([quote(p.path)] + p.top.flatMap { [quote($0.label), String(format: "%.6f", $0.probability)] }).joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
}
