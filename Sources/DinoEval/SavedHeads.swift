// The dense probes' trained heads on disk, and applied to new images: a linear segmentation
// head (SegmentationProbe.swift) or a linear depth head (DepthHead.swift) saved by
// `dino eval segmentation|depth --save-head FILE`, read back by `dino predict`.
//
// A head file is safetensors: the head's tensors with the reference's names (`bn.*`,
// `conv_seg.*`; `batchnorm_layer.*`, `conv_depth.*`), the batch norms' running statistics, and
// `dino.dense_head` metadata (kind, input size, width, classes or depth settings). The
// backbone is not in it: `dino predict` takes the same --run/--weights as the probe did.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// What a head file holds besides its tensors.
public struct DenseHeadInfo: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case segmentation, depth }
    public var kind: Kind
    /// The side images were resized to for the probe.
    public var imageSize: Int
    /// D, the backbone's width.
    public var embedDimensions: Int
    /// Segmentation: the number of classes.
    public var classes: Int?
    /// Depth: the head's settings.
    public var depth: DepthHeadConfig?
    /// The backbone the head was trained on (for the user).
    public var backbone: String

    public init(kind: Kind, imageSize: Int, embedDimensions: Int, classes: Int? = nil, depth: DepthHeadConfig? = nil, backbone: String) {
        self.kind = kind
        self.imageSize = imageSize
        self.embedDimensions = embedDimensions
        self.classes = classes
        self.depth = depth
        self.backbone = backbone
    }

    enum CodingKeys: String, CodingKey {
        case kind, classes, depth, backbone
        case imageSize = "image_size", embedDimensions = "embed_dimensions"
    }

    static let metadataKey = "dino.dense_head"
}

/// A trained dense head read from disk.
public enum DenseHead {
    case segmentation(LinearSegmentationHead)
    case depth(LinearDepthHead)
}

/// Why a head file cannot be used.
public struct DenseHeadError: Error, CustomStringConvertible {
    public let description: String
}

func batchNormTensors(_ bn: BatchNormRows, prefix: String) -> [String: Tensor] {
    [prefix + "weight": bn.weight, prefix + "bias": bn.bias, prefix + "running_mean": bn.runningMean,
     prefix + "running_var": bn.runningVariance]
}

/// Writes a segmentation head with its settings.
public func saveDenseHead(_ head: LinearSegmentationHead, info: DenseHeadInfo, to url: URL) throws {
    var tensors = batchNormTensors(head.batchNorm, prefix: "bn.")
    tensors["conv_seg.weight"] = head.weight
    tensors["conv_seg.bias"] = head.bias
    try writeDenseHead(tensors, info: info, to: url)
}

/// Writes a depth head with its settings.
public func saveDenseHead(_ head: LinearDepthHead, info: DenseHeadInfo, to url: URL) throws {
    var tensors = head.batchNorm.map { batchNormTensors($0, prefix: "batchnorm_layer.") } ?? [:]
    tensors["conv_depth.weight"] = head.weight
    tensors["conv_depth.bias"] = head.bias
    try writeDenseHead(tensors, info: info, to: url)
}

func writeDenseHead(_ tensors: [String: Tensor], info: DenseHeadInfo, to url: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    try SafeTensors.write(tensors.mapValues { $0.detach() },
                          metadata: [DenseHeadInfo.metadataKey: String(decoding: try encoder.encode(info), as: UTF8.self)], to: url)
}

/// Reads a head written by `saveDenseHead`.
///
/// - Throws: `DenseHeadError` naming the file and the missing metadata or tensor.
public func loadDenseHead(from url: URL) throws -> (DenseHead, DenseHeadInfo) {
    let file = try SafeTensors.read(from: url)
    guard let text = file.metadata[DenseHeadInfo.metadataKey] else {
        throw DenseHeadError(description: "\(url.path) has no '\(DenseHeadInfo.metadataKey)' metadata: is it a head saved by `dino eval segmentation|depth --save-head`?")
    }
    let info = try JSONDecoder().decode(DenseHeadInfo.self, from: Data(text.utf8))
    func copy(_ name: String, into t: Tensor) throws {
        guard let saved = file.tensors[name], saved.shape == t.shape else {
            throw DenseHeadError(description: "\(url.path): tensor '\(name)' is missing or not of shape \(t.shape)")
        }
        t.copyIn(saved.to(t.dtype))
    }
    func copyBatchNorm(_ bn: BatchNormRows, prefix: String) throws {
        for (name, t) in batchNormTensors(bn, prefix: prefix) { try copy(name, into: t) }
    }
    switch info.kind {
    case .segmentation:
        guard let classes = info.classes else { throw DenseHeadError(description: "\(url.path): a segmentation head without 'classes'") }
        let head = LinearSegmentationHead(dimensions: info.embedDimensions, classes: classes, generator: RandomGenerator(seed: 0))
        try copyBatchNorm(head.batchNorm, prefix: "bn.")
        try copy("conv_seg.weight", into: head.weight)
        try copy("conv_seg.bias", into: head.bias)
        return (.segmentation(head), info)
    case .depth:
        guard let config = info.depth else { throw DenseHeadError(description: "\(url.path): a depth head without 'depth' settings") }
        let head = LinearDepthHead(embedDimensions: info.embedDimensions, config: config, generator: RandomGenerator(seed: 0))
        if let bn = head.batchNorm { try copyBatchNorm(bn, prefix: "batchnorm_layer.") }
        try copy("conv_depth.weight", into: head.weight)
        try copy("conv_depth.bias", into: head.bias)
        return (.depth(head), info)
    }
}

/// The image as the probes saw it: resized (bicubic) to `size` × `size`, normalised, (1, 3, S, S).
func probeView(_ image: RGBImage, size: Int) -> (RGBImage, Tensor) {
    let view = image.width == size && image.height == size ? image : image.resized(width: size, height: size, filter: .bicubic)
    return (view, stackViews([view], normalization: .imageNet))
}

/// The predicted class of every pixel of the probe's view (size × size, row-major).
public func predictMask(model: any EmbeddingBackbone, head: LinearSegmentationHead, image: RGBImage, size: Int) -> [Int] {
    let (_, x) = probeView(image, size: size)
    let patches = withNoGrad { model.embeddingFeatures(x).patchTokens }                                   // (1, h·w, D)
    let tokens = patches.contiguous().reshape([1, size / model.patchSize, size / model.patchSize, model.embedDimensions])  // (1, h, w, D)
    return head.predict(tokens, height: size, width: size)
}

/// The predicted depth in metres of every pixel of the probe's view (size × size, row-major).
public func predictDepthMap(model: any EmbeddingBackbone, head: LinearDepthHead, image: RGBImage, size: Int) -> [Float] {
    let (_, x) = probeView(image, size: size)
    let blocks: [Int]
    do { blocks = try depthHeadBlocks(model: model, head: head.config) } catch { preconditionFailure("predictDepthMap: \(error)") }
    return withNoGrad {
        let outs = model.intermediateLayers(x, blocks: blocks, norm: head.config.backboneNorm)
        let (h, w) = (size / model.patchSize, size / model.patchSize)
        let patches = outs.map { $0.patchTokens.contiguous().reshape([1, h, w, model.embedDimensions]) }   // (1, h, w, D)
        let input = head.input(patchTokens: patches, classTokens: head.config.useClassToken ? outs.map { $0.classToken } : [])
        return head.depth(input, height: size, width: size, training: false).scalars
    }
}

/// A class-index mask as an RGB picture: class 0 black, the others in distinct hues.
public func maskPicture(_ mask: [Int], width: Int, height: Int) -> RGBImage {
    RGBImage(width: width, height: height) { p in
        for (i, c) in mask.enumerated() {
            let (r, g, b) = maskColour(c)
            p[3 * i] = r; p[3 * i + 1] = g; p[3 * i + 2] = b
        }
    }
}

/// Class 0 black; class k a hue stepped by the golden angle, full value.
func maskColour(_ c: Int) -> (UInt8, UInt8, UInt8) {
    guard c > 0 else { return (0, 0, 0) }
    let h = (Double(c) * 0.618033988749895).truncatingRemainder(dividingBy: 1) * 6
    let x = 1 - abs(h.truncatingRemainder(dividingBy: 2) - 1)
    let (r, g, b): (Double, Double, Double)
    switch Int(h) {
    case 0: (r, g, b) = (1, x, 0)
    case 1: (r, g, b) = (x, 1, 0)
    case 2: (r, g, b) = (0, 1, x)
    case 3: (r, g, b) = (0, x, 1)
    case 4: (r, g, b) = (x, 0, 1)
    default: (r, g, b) = (1, 0, x)
    }
    return (UInt8(r * 255), UInt8(g * 255), UInt8(b * 255))
}

/// A depth map as an RGB picture on the heat ramp (near dark, far bright) from 0 to `maxDepth`.
public func depthMapPicture(_ depth: [Float], width: Int, height: Int, maxDepth: Double) -> RGBImage {
    RGBImage(width: width, height: height) { p in
        for (i, d) in depth.enumerated() {
            let (r, g, b) = FeatureMaps.heat(Swift.max(0, Swift.min(1, Double(d) / maxDepth)))
            p[3 * i] = r; p[3 * i + 1] = g; p[3 * i + 2] = b
        }
    }
}
