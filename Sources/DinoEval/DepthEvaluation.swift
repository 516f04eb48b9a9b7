// The depth evaluation end to end: frozen tokens of a backbone for the images of a training and
// a validation folder, depths from NYU-style 16-bit PNGs that mirror them (DinoVision
// `DepthMaps`), the linear depth head (DepthHead.swift) trained on one and scored on the other,
// beside the mean-depth baseline; and a picture (image | truth | prediction) per image.
//
// Images are resized to the evaluation size (the model's input size by default; bicubic) and
// their depth maps sampled to it (nearest). Images or maps that cannot be read are logged and
// left out.

import DinoModels
import DinoTensor
import DinoVision
import Foundation

/// Settings of `evaluateDepth`.
public struct DepthEvaluationOptions: Sendable {
    /// Side of the square images the backbone sees; nil: the model's input size.
    public var imageSize: Int? = nil
    /// Images per forward pass.
    public var batchSize = 64
    /// Normalisation of the pixels (ImageNet's).
    public var normalization = ImageNormalization.imageNet
    /// The head (DINOv2 lin.4 by default) and its training.
    public var head = DepthHeadConfig()
    public var probe = DepthProbeConfig()
    /// Validation images kept for the picture (their predictions), from the first.
    public var pictureCount = 8

    public init() {}
}

/// The result of `evaluateDepth`.
public struct DepthEvaluation: Sendable {
    /// Mean per-image metrics of the head on val.
    public let metrics: DepthMetrics
    /// The baseline that predicts the training set's mean depth everywhere, and that mean.
    public let baseline: DepthMetrics
    public let trainMeanDepth: Double
    /// The baseline that predicts the training set's mean depth at each pixel (position only).
    public let mapBaseline: DepthMetrics
    public let trainCount: Int
    public let valCount: Int
    /// image | truth | prediction for the first `pictureCount` val images.
    public let picture: RGBImage?
}

/// The blocks whose tokens a depth head with `head`'s settings reads from `model`
/// (`DepthHeadConfig.blockIndices` over the backbone's blocks), when they all lie on the backbone's
/// patch grid with its width: every block of a ViT; of a ConvNeXt, whose four stages are its blocks
/// at strides 4, 8, 16 and 32 and of four widths, only the last stage (`lin.1`).
///
/// - Throws: `EvaluationError` naming the blocks, strides and widths when they do not (`lin.4` on
///   a ConvNeXt: the reference reads those maps with a DPT head, not the linear one).
public func depthHeadBlocks(model: any EmbeddingBackbone, head: DepthHeadConfig) throws -> [Int] {
    let n = model.blockCount
    guard head.layers == 1 || n >= 4 else {
        throw EvaluationError("the depth head's \(head.layers) layers need a backbone of at least 4 blocks, this one has \(n); use 1 layer")
    }
    let blocks = head.blockIndices(depth: n)
    let (strides, widths) = (model.blockStrides, model.blockDimensions)
    let off = blocks.filter { strides[$0] != model.patchSize || widths[$0] != model.embedDimensions }
    guard off.isEmpty else {
        throw EvaluationError("the linear depth head reads tokens of one grid and width; blocks \(blocks) of this \(type(of: model)) have strides \(blocks.map { strides[$0] }) and widths \(blocks.map { widths[$0] }) (a ConvNeXt's stages): use 1 layer (lin.1, the last stage at stride \(model.patchSize))")
    }
    return blocks
}

/// A problem with an evaluation request.
public struct EvaluationError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The backbone tokens a depth head with `head`'s settings reads, and the depth maps, of every
/// readable image of `maps.images`.
///
/// - Returns: per block (N, h, w, D) patch tokens and (N, D) class tokens; depths N·size·size.
public func depthFeatures(model: any EmbeddingBackbone, maps: DepthMaps, size: Int, head: DepthHeadConfig, batchSize: Int = 64,
                          normalization: ImageNormalization = .imageNet, issues: DataIssueLog = DataIssueLog(),
                          keepImages: Int = 0, kept: ((RGBImage) -> Void)? = nil) -> DepthFeatures {
    precondition(size % model.patchSize == 0, "depthFeatures: size \(size) is not a multiple of the patch size \(model.patchSize)")
    let images = maps.images
    let blocks: [Int]
    do { blocks = try depthHeadBlocks(model: model, head: head) } catch { preconditionFailure("depthFeatures: \(error)") }
    var patchChunks = [[Tensor]](repeating: [], count: blocks.count)
    var classChunks = [[Tensor]](repeating: [], count: blocks.count)
    var depths: [Float] = []
    var keptCount = 0
    var start = 0
    while start < images.count {
        var views: [RGBImage] = []
        for i in start..<Swift.min(start + batchSize, images.count) {
            guard let image = images.loadImage(at: i, issues: issues) else { continue }
            do {
                let d = try maps.depth(at: i, width: size, height: size)
                let view = image.width == size && image.height == size ? image : image.resized(width: size, height: size, filter: .bicubic)
                views.append(view)
                depths += d
                if keptCount < keepImages { kept?(view); keptCount += 1 }
            } catch {
                issues.record(path: maps.path(at: i), kind: .unreadable, message: "\(error)")
            }
        }
        start += batchSize
        guard !views.isEmpty else { continue }
        let x = stackViews(views, normalization: normalization)                                   // (n, 3, S, S)
        let outs = withNoGrad { model.intermediateLayers(x, blocks: blocks, norm: head.backboneNorm) }
        let (h, w) = (size / model.patchSize, size / model.patchSize)
        for (l, o) in outs.enumerated() {
            patchChunks[l].append(o.patchTokens.contiguous().reshape([views.count, h, w, model.embedDimensions]))  // (n, h, w, D)
            classChunks[l].append(o.classToken.contiguous())                                                      // (n, D)
        }
    }
    precondition(!patchChunks[0].isEmpty, "depthFeatures: no readable image with a depth map in \(images.root)")
    func join(_ parts: [Tensor]) -> Tensor { parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 0) }
    return DepthFeatures(patchTokens: patchChunks.map(join), classTokens: head.useClassToken ? classChunks.map(join) : [],
                         depths: depths, height: size, width: size)
}

/// Trains the linear depth head on `train` and scores it on `val`, beside the mean-depth baseline
/// and the mean-depth-map (position only) baseline.
///
/// Reference: Oquab et al., "DINOv2" (2023), §7.4 depth estimation ("lin. 1", "lin. 4");
/// Siméoni et al., "DINOv3" (2025), depth estimation with a linear head.
///
/// - Parameter trainedHead: receives the trained head and the input size (to save it: SavedHeads.swift).
public func evaluateDepth(model: any EmbeddingBackbone, train: DepthMaps, val: DepthMaps, options: DepthEvaluationOptions = .init(),
                          issues: DataIssueLog = DataIssueLog(), progress: ((Int, Double) -> Void)? = nil,
                          trainedHead: ((LinearDepthHead, Int) -> Void)? = nil) -> DepthEvaluation {
    model.eval()
    let size = options.imageSize ?? model.defaultInputSize
    let trainSet = depthFeatures(model: model, maps: train, size: size, head: options.head, batchSize: options.batchSize,
                                 normalization: options.normalization, issues: issues)
    var views: [RGBImage] = []
    let valSet = depthFeatures(model: model, maps: val, size: size, head: options.head, batchSize: options.batchSize,
                               normalization: options.normalization, issues: issues,
                               keepImages: options.pictureCount) { views.append($0) }
    let head = trainDepthProbe(trainSet, head: options.head, config: options.probe, progress: progress)
    trainedHead?(head, size)
    var predicted: [[Float]] = []
    let metrics = evaluateDepthProbe(head, on: valSet, batchSize: options.batchSize) { i, p in
        if i < views.count { predicted.append(p) }
    }
    let (mean, baseline) = meanDepthBaseline(trainDepths: trainSet.depths, val: valSet.depths, pixelsPerImage: size * size,
                                             minDepth: options.head.minDepth, maxDepth: options.head.maxDepth)
    let mapBaseline = meanDepthMapBaseline(trainDepths: trainSet.depths, val: valSet.depths, pixelsPerImage: size * size,
                                           minDepth: options.head.minDepth, maxDepth: options.head.maxDepth)
    let per = size * size
    let truths = (0..<views.count).map { Array(valSet.depths[($0 * per)..<(($0 + 1) * per)]) }
    let picture = views.isEmpty ? nil : depthPicture(images: views, truth: truths, predictions: predicted)
    return DepthEvaluation(metrics: metrics, baseline: baseline, trainMeanDepth: mean, mapBaseline: mapBaseline,
                           trainCount: trainSet.count,
                           valCount: valSet.count, picture: picture)
}

/// Rows of image | truth | prediction, the depths coloured on one ramp (near: dark, far: bright;
/// FeatureMaps.heat) from 0 to the largest true depth shown; unknown depth is black.
public func depthPicture(images: [RGBImage], truth: [[Float]], predictions: [[Float]]) -> RGBImage {
    precondition(images.count == truth.count && images.count == predictions.count,
                 "depthPicture: \(images.count) images, \(truth.count) truths, \(predictions.count) predictions")
    let top = Double(truth.flatMap { $0 }.max() ?? 1)
    func colour(_ d: [Float], _ like: RGBImage) -> RGBImage {
        precondition(d.count == like.width * like.height, "depthPicture: \(d.count) depths for a \(like.width)×\(like.height) image")
        var raster = RGBImage(width: like.width, height: like.height)
        for (p, v) in d.enumerated() where v > 0 {
            let (r, g, b) = FeatureMaps.heat(Double(v) / Swift.max(top, 1e-6))
            raster.pixels[3 * p] = r; raster.pixels[3 * p + 1] = g; raster.pixels[3 * p + 2] = b
        }
        return raster
    }
    let rows = images.indices.map { RGBImage.sideBySide([images[$0], colour(truth[$0], images[$0]), colour(predictions[$0], images[$0])]) }
    return RGBImage.stacked(rows)
}
