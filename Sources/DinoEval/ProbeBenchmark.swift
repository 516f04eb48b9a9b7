// The probes' heads on cached features, for `dino bench probes` (issue 13: each probe's wall time
// beside the reference modules): a safetensors file of frozen features with their labels, depths
// and masks, read and checked here, and one run of each probe through the functions `dino eval`
// calls — `trainSegmentationProbe` + `evaluateSegmentationProbe`, `trainDepthProbe` +
// `evaluateDepthProbe`, `videoClipScores` per clip, `runLinearProtocol` (cached). The backbone is
// never run: what a run costs is the head, its loss, its optimiser and its metrics.
//
// The file (written by scripts/bench_probes_reference.py, which times the reference modules' math
// on the same tensors; `__metadata__` "format" = `ProbeBenchFeatures.format`):
//
//     scenes.{train,val}.features      F32 (N, h, w, D)   patch tokens (segmentation; depth's patch tokens)
//     scenes.{train,val}.class_token   F32 (N, D)         class token (depth lin.1 concatenates it)
//     scenes.{train,val}.labels        U8  (N, H, W)      classes 0..<scenes_classes, 255 ignored
//     scenes.{train,val}.depth         F32 (N, H, W)      metres, 0 unknown
//     videos.features                  F32 (S, T, h, w, D) per clip and frame, patch tokens
//     videos.masks                     U8  (S, T, H, W)   annotations (0 background, 1…n objects); H = patch · h
//     glyphs.{train,val}.class_tokens  F32 (N, L, D)      class tokens of the last L blocks, oldest first
//     glyphs.{train,val}.patch_mean    F32 (N, D)         mean patch token of the last block
//     glyphs.{train,val}.labels        U8  (N)            classes 0..<glyphs_classes
//     metadata: scenes_classes, glyphs_classes, max_depth (metres)
//
// Only the tensors of the probes asked for are read. What this is not: a timer (the command takes
// medians) or another implementation of any probe.

import DinoTensor
import Foundation

/// The probes `dino bench probes` times, in the order they run.
public enum ProbeBenchKind: String, CaseIterable, Sendable {
    /// DINOv2's linear segmentation head (BN + 1×1 conv, CE, AdamW) and mean IoU.
    case segmentation
    /// DINOv2 `lin.1` depth head, SigLoss, the depth metrics.
    case depth
    /// DINO's label propagation and the DAVIS J&F.
    case video
    /// DINOv2's grid of linear classifiers (cached features, 48 classifiers).
    case linear

    /// The tensor names this probe reads.
    var tensorNames: [String] {
        switch self {
        case .segmentation: return ["train", "val"].flatMap { ["scenes.\($0).features", "scenes.\($0).labels"] }
        case .depth: return ["train", "val"].flatMap { ["scenes.\($0).features", "scenes.\($0).class_token", "scenes.\($0).depth"] }
        case .video: return ["videos.features", "videos.masks"]
        case .linear: return ["train", "val"].flatMap { ["glyphs.\($0).class_tokens", "glyphs.\($0).patch_mean", "glyphs.\($0).labels"] }
        }
    }
}

/// Why a features file cannot be used; every case names the file and the tensor or key.
public enum ProbeBenchError: Error, CustomStringConvertible, Equatable {
    case wrongFormat(file: String, found: String?)
    case missingTensor(file: String, tensor: String)
    case badShape(file: String, tensor: String, shape: [Int], expected: String)
    case badValues(file: String, tensor: String, reason: String)
    case badMetadata(file: String, key: String, value: String?, expected: String)

    public var description: String {
        switch self {
        case let .wrongFormat(file, found):
            return "\(file): not a probe-bench features file (metadata \"format\" is \(found.map { "'\($0)'" } ?? "missing"), "
                + "expected '\(ProbeBenchFeatures.format)'; scripts/bench_probes_reference.py --write writes one)"
        case let .missingTensor(file, tensor): return "\(file): no tensor '\(tensor)'"
        case let .badShape(file, tensor, shape, expected): return "\(file): tensor '\(tensor)' has shape \(shape), expected \(expected)"
        case let .badValues(file, tensor, reason): return "\(file): tensor '\(tensor)': \(reason)"
        case let .badMetadata(file, key, value, expected):
            return "\(file): metadata '\(key)' is \(value.map { "'\($0)'" } ?? "missing"), expected \(expected)"
        }
    }
}

/// The cached features of the four probes, checked against each other.
public struct ProbeBenchFeatures: @unchecked Sendable {
    /// The `__metadata__` "format" value of a features file.
    public static let format = "dino-probe-bench-features/1"

    /// Segmentation: patch tokens and per-pixel labels (nil when the probe was not loaded).
    public var segmentationTrain: SegmentationFeatures?, segmentationVal: SegmentationFeatures?
    public var sceneClasses = 0
    /// Depth (lin.1): the same patch tokens with the class token, and depths.
    public var depthTrain: DepthFeatures?, depthVal: DepthFeatures?
    public var maxDepth = 0.0
    /// Video: per clip, per frame (h·w, D) features and the annotations (H·W each).
    public var videoFeatures: [[Tensor]] = [], videoMasks: [[[UInt8]]] = []
    public var videoGrid = (height: 0, width: 0), videoFrameSize = (width: 0, height: 0), videoPatchSize = 0
    /// Linear protocol: class tokens of the last L blocks, mean patch tokens, labels.
    public var linearTrain: LinearProtocolFeatures?, linearVal: LinearProtocolFeatures?
    public var glyphClasses = 0

    /// Reads the tensors of `probes` from `url` and checks their shapes and values.
    ///
    /// - Throws: `ProbeBenchError` naming the file and the tensor or metadata key at fault;
    ///   `SafeTensorsError` for a file that is not valid safetensors.
    public static func load(_ url: URL, probes: [ProbeBenchKind] = ProbeBenchKind.allCases) throws -> ProbeBenchFeatures {
        let file = url.path
        let header = try SafeTensors.readHeader(from: url)
        guard header.metadata["format"] == format else { throw ProbeBenchError.wrongFormat(file: file, found: header.metadata["format"]) }
        let shapes = Dictionary(header.entries.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        let wanted = Set(probes.flatMap(\.tensorNames))
        for name in wanted.sorted() where shapes[name] == nil { throw ProbeBenchError.missingTensor(file: file, tensor: name) }
        func shape(_ name: String, rank: Int, _ expected: String) throws -> [Int] {
            let s = shapes[name]!
            guard s.count == rank, s.allSatisfy({ $0 > 0 }) else { throw ProbeBenchError.badShape(file: file, tensor: name, shape: s, expected: expected) }
            return s
        }
        func require(_ ok: Bool, _ name: String, _ expected: String) throws {
            if !ok { throw ProbeBenchError.badShape(file: file, tensor: name, shape: shapes[name]!, expected: expected) }
        }
        func metadata<T>(_ key: String, _ expected: String, _ parse: (String) -> T?) throws -> T {
            guard let v = header.metadata[key], let x = parse(v) else {
                throw ProbeBenchError.badMetadata(file: file, key: key, value: header.metadata[key], expected: expected)
            }
            return x
        }
        // Shapes first, so that a wrong file fails before anything large is read.
        let needScenes = probes.contains(.segmentation) || probes.contains(.depth)
        var sceneShape: [String: [Int]] = [:]   // split → (N, h, w, D, H, W)
        if needScenes {
            for split in ["train", "val"] {
                let f = try shape("scenes.\(split).features", rank: 4, "(N, h, w, D)")
                let n = f[0]
                var label: [Int]? = nil
                if probes.contains(.segmentation) {
                    label = try shape("scenes.\(split).labels", rank: 3, "(N, H, W)")
                    try require(label![0] == n, "scenes.\(split).labels", "(\(n), H, W): one label map per image of scenes.\(split).features")
                }
                if probes.contains(.depth) {
                    let c = try shape("scenes.\(split).class_token", rank: 2, "(\(n), \(f[3]))")
                    try require(c == [n, f[3]], "scenes.\(split).class_token", "(\(n), \(f[3]))")
                    let d = try shape("scenes.\(split).depth", rank: 3, "(\(n), H, W)")
                    try require(d[0] == n && (label == nil || Array(d[1...]) == Array(label![1...])), "scenes.\(split).depth",
                                "(\(n), H, W) with the labels' H, W")
                    label = label ?? d
                }
                sceneShape[split] = f + Array(label![1...])
            }
            let (t, v) = (sceneShape["train"]!, sceneShape["val"]!)
            try require(Array(t[1...]) == Array(v[1...]), "scenes.val.features",
                        "the train split's grid, width and label size \(Array(t[1...]))")
        }
        var out = ProbeBenchFeatures()
        if probes.contains(.segmentation) {
            out.sceneClasses = try metadata("scenes_classes", "a positive integer (classes of the labels)") { Int($0).flatMap { $0 > 0 && $0 < 255 ? $0 : nil } }
        }
        if probes.contains(.depth) {
            out.maxDepth = try metadata("max_depth", "a positive number of metres") { Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        }
        var videoShape: [Int] = []
        if probes.contains(.video) {
            let f = try shape("videos.features", rank: 5, "(S, T, h, w, D)")
            let m = try shape("videos.masks", rank: 4, "(S, T, H, W)")
            try require(m[0] == f[0] && m[1] == f[1] && f[1] >= 3, "videos.masks", "(\(f[0]), \(f[1]), H, W) with T ≥ 3 frames")
            try require(m[2] % f[2] == 0 && m[3] % f[3] == 0 && m[2] / f[2] == m[3] / f[3], "videos.masks",
                        "frames of p·\(f[2]) × p·\(f[3]) pixels (one patch size p for the grid of videos.features)")
            videoShape = f + [m[2], m[3]]
        }
        var glyphShape: [String: [Int]] = [:]
        if probes.contains(.linear) {
            for split in ["train", "val"] {
                let c = try shape("glyphs.\(split).class_tokens", rank: 3, "(N, L, D)")
                let p = try shape("glyphs.\(split).patch_mean", rank: 2, "(\(c[0]), \(c[2]))")
                try require(p == [c[0], c[2]], "glyphs.\(split).patch_mean", "(\(c[0]), \(c[2]))")
                let l = try shape("glyphs.\(split).labels", rank: 1, "(\(c[0]))")
                try require(l == [c[0]], "glyphs.\(split).labels", "(\(c[0]))")
                glyphShape[split] = c
            }
            try require(Array(glyphShape["train"]![1...]) == Array(glyphShape["val"]![1...]), "glyphs.val.class_tokens",
                        "the train split's (L, D) \(Array(glyphShape["train"]![1...]))")
            out.glyphClasses = try metadata("glyphs_classes", "a positive integer (classes of the labels)") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        }

        let read = try SafeTensors.read(from: url, only: wanted)
        func tensor(_ name: String) -> Tensor { read.tensors[name]!.to(.float32).contiguous() }
        func integers(_ name: String, below limit: Int, orIgnored ignored: Int? = nil) throws -> [Int] {
            let values = tensor(name).scalars.map { Int($0) }
            if let bad = values.first(where: { ($0 < 0 || $0 >= limit) && $0 != ignored }) {
                throw ProbeBenchError.badValues(file: file, tensor: name, reason: "value \(bad) outside 0..<\(limit)\(ignored.map { " (or \($0), ignored)" } ?? "")")
            }
            return values
        }
        for split in ["train", "val"] where needScenes {
            let s = sceneShape[split]!
            let (height, width) = (s[4], s[5])
            let features = tensor("scenes.\(split).features")
            if probes.contains(.segmentation) {
                let labels = try integers("scenes.\(split).labels", below: out.sceneClasses, orIgnored: 255)
                let set = SegmentationFeatures(features: features, labels: labels, height: height, width: width)
                if split == "train" { out.segmentationTrain = set } else { out.segmentationVal = set }
            }
            if probes.contains(.depth) {
                let depths = tensor("scenes.\(split).depth").scalars
                if let bad = depths.first(where: { !$0.isFinite || $0 < 0 }) {
                    throw ProbeBenchError.badValues(file: file, tensor: "scenes.\(split).depth", reason: "depth \(bad) is negative or not finite")
                }
                let set = DepthFeatures(patchTokens: [features], classTokens: [tensor("scenes.\(split).class_token")], depths: depths,
                                        height: height, width: width)
                if split == "train" { out.depthTrain = set } else { out.depthVal = set }
            }
        }
        if probes.contains(.video) {
            let (clips, frames, h, w, d, hh, ww) = (videoShape[0], videoShape[1], videoShape[2], videoShape[3], videoShape[4], videoShape[5], videoShape[6])
            let features = tensor("videos.features")                                       // (S, T, h, w, D)
            let masks = try integers("videos.masks", below: 255)
            out.videoFeatures = (0..<clips).map { s in
                (0..<frames).map { t in features.slice(axis: 0, start: s, end: s + 1).slice(axis: 1, start: t, end: t + 1)
                    .contiguous().reshape([h * w, d]) }                                    // (h·w, D)
            }
            let per = hh * ww
            out.videoMasks = (0..<clips).map { s in
                (0..<frames).map { t in masks[((s * frames + t) * per)..<((s * frames + t + 1) * per)].map { UInt8($0) } }
            }
            out.videoGrid = (h, w)
            out.videoFrameSize = (ww, hh)
            out.videoPatchSize = hh / h
        }
        if probes.contains(.linear) {
            for split in ["train", "val"] {
                let labels = try integers("glyphs.\(split).labels", below: out.glyphClasses)
                let set = LinearProtocolFeatures(classTokens: tensor("glyphs.\(split).class_tokens"),
                                                 patchMean: tensor("glyphs.\(split).patch_mean"), labels: labels)
                if split == "train" { out.linearTrain = set } else { out.linearVal = set }
            }
        }
        return out
    }
}

/// Work done per probe run (the same on the reference side: scripts/bench_probes_reference.py).
public struct ProbeBenchSettings: Sendable, Equatable {
    /// Passes of the segmentation probe over its training images (batch 16).
    public var segmentationEpochs = 1
    /// Passes of the depth probe over its training images (batch 16).
    public var depthEpochs = 1
    /// Passes of the linear classifier grid over its training images (batch 128).
    public var linearEpochs = 10

    public init() {}
}

/// What one run of a probe produced: its headline score (for a glance that the work was done; on
/// random features it means nothing) and a description of the work.
public struct ProbeBenchOutcome: Sendable {
    public var scoreName: String
    public var score: Double
    public var work: String
}

extension ProbeBenchFeatures {
    /// Trains and scores one probe from scratch, as `dino eval` does after computing features.
    public func run(_ kind: ProbeBenchKind, settings: ProbeBenchSettings = .init()) -> ProbeBenchOutcome {
        switch kind {
        case .segmentation:
            let (train, val) = (segmentationTrain!, segmentationVal!)
            var config = SegmentationProbeConfig()
            config.epochs = settings.segmentationEpochs
            let head = trainSegmentationProbe(train, classes: sceneClasses, config: config)
            let scores = evaluateSegmentationProbe(head, on: val, batchSize: 64, ignoreIndex: config.ignoreIndex)
            let steps = (train.count + config.batchSize - 1) / config.batchSize * config.epochs
            return .init(scoreName: "mIoU %", score: scores.miou,
                         work: "\(steps) steps × \(config.batchSize) of \(train.features.shape) → \(sceneClasses) classes at \(train.height)×\(train.width); mIoU on \(val.count)")
        case .depth:
            let (train, val) = (depthTrain!, depthVal!)
            var head = DepthHeadConfig.dinov2(layers: 1)
            head.maxDepth = maxDepth
            var config = DepthProbeConfig()
            config.epochs = settings.depthEpochs
            let trained = trainDepthProbe(train, head: head, config: config)
            let metrics = evaluateDepthProbe(trained, on: val, batchSize: 64)
            let steps = (train.count + config.batchSize - 1) / config.batchSize * config.epochs
            return .init(scoreName: "RMSE m", score: metrics.rmse,
                         work: "lin.1: \(steps) steps × \(config.batchSize), \(head.bins) bins at ×\(head.upsample) → \(train.height)×\(train.width); metrics on \(val.count)")
        case .video:
            var objects: [DAVISObjectScores] = []
            for (s, features) in videoFeatures.enumerated() {
                objects += videoClipScores(name: "clip\(s)", truth: videoMasks[s], size: videoFrameSize, features: features,
                                           grid: videoGrid, patchSize: videoPatchSize).objects
            }
            let scores = DAVISScores(objects: objects)
            return .init(scoreName: "J&F %", score: 100 * scores.jAndF,
                         work: "\(videoFeatures.count) clips × \(videoMasks.first?.count ?? 0) frames, \(videoGrid.height)×\(videoGrid.width) grid, \(objects.count) objects")
        case .linear:
            let (train, val) = (linearTrain!, linearVal!)
            var options = LinearProtocolOptions(.dinov2)
            options.cached = true
            options.epochs = settings.linearEpochs
            let result = runLinearProtocol(train: train, val: val, classes: glyphClasses, options: options, protocolName: "dinov2")
            return .init(scoreName: "top-1 %", score: result.chosen.val.top1,
                         work: "\(result.rows.count) classifiers, \(result.iterations) iterations × \(options.batchSize) of \(result.fitImages); scored on \(result.heldOutImages) + \(result.valImages)")
        }
    }
}
