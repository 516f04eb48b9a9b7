// Video object segmentation end to end on a DAVIS-2017-style folder: each clip's frames read and
// resized as DINO's eval_video_segmentation.py reads them, patch features from a frozen backbone
// (or any per-frame feature function), the first annotation propagated (VideoPropagation.swift),
// the DAVIS scores (DAVISMetrics.swift) beside the copy-the-first-mask baseline, and overlay
// pictures.
//
// Frame sizes (`read_frame` / `read_seg`): with S the target short side (480 in the reference;
// here the first frame's own short side unless given), a landscape or square frame becomes S
// tall and ⌊S·w/h / 64⌋·64 wide (portrait: S wide, ⌊S·h/w / 64⌋·64 tall); the first mask is
// resized to that size over the patch size with PIL's nearest neighbours. Pixels are normalised
// with DINO's `color_normalize` (mean 0.485, 0.456, 0.406; std 0.228, 0.224, 0.225).
// What it is not: cv2's INTER_LINEAR resize of the frames (ours is DinoVision's bilinear filter;
// frames already of the target size, as videos-dev's, are used as they are).

import DinoModels
import DinoTensor
import DinoVision
import Foundation

/// Settings of `evaluateVideo`.
public struct VideoEvaluationOptions: Sendable {
    /// Target short side S of the frames (reference: 480); nil: the first frame's short side.
    public var shortSide: Int? = nil
    /// DINO's `color_normalize` (its std of red is 0.228).
    public var normalization = ImageNormalization(mean: [0.485, 0.456, 0.406], std: [0.228, 0.224, 0.225])
    public var propagation = LabelPropagationConfig()
    /// Frames per clip shown in the overlay picture (evenly spaced; 0: no pictures).
    public var overlayFrames = 8

    public init() {}
}

/// The result of `evaluateVideo`.
public struct VideoEvaluation: Sendable {
    /// DAVIS scores of the propagated masks.
    public let scores: DAVISScores
    /// DAVIS scores of copying the first mask to every frame.
    public let copyFirstMask: DAVISScores
    /// Per clip: rows of truth and prediction overlays.
    public let overlays: [(sequence: String, picture: RGBImage)]
}

/// The frame size `read_frame` resizes an original w × h frame to, for short side S.
public func dinoVideoFrameSize(width w: Int, height h: Int, shortSide s: Int) -> (width: Int, height: Int) {
    if h > w { return (s, Int((Double(s) * Double(h) / Double(w) / 64).rounded(.down)) * 64) }
    return (Int((Double(s) * Double(w) / Double(h) / 64).rounded(.down)) * 64, s)
}

/// The size `read_seg` resizes the first mask to, before dividing by the patch size.
public func dinoVideoMaskSize(width w: Int, height h: Int, shortSide s: Int) -> (width: Int, height: Int) {
    if w > h { return (Int((Double(s) * Double(w) / Double(h) / 64).rounded(.down)) * 64, s) }
    return (s, Int((Double(s) * Double(h) / Double(w) / 64).rounded(.down)) * 64)
}

/// The PASCAL VOC / DAVIS colour of label k (bit-interleaved palette).
public func davisPaletteColour(_ k: Int) -> (UInt8, UInt8, UInt8) {
    var (r, g, b) = (0, 0, 0)
    var c = k
    for j in 0..<8 {
        r |= ((c >> 0) & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); b |= ((c >> 2) & 1) << (7 - j)
        c >>= 3
    }
    return (UInt8(r), UInt8(g), UInt8(b))
}

/// The frame with its labels blended in (half image, half palette colour; background untouched).
public func overlay(_ image: RGBImage, labels: [UInt8]) -> RGBImage {
    precondition(labels.count == image.width * image.height, "overlay: \(labels.count) labels for a \(image.width)×\(image.height) image")
    var out = image
    for (p, l) in labels.enumerated() where l > 0 && l != 255 {
        let (r, g, b) = davisPaletteColour(Int(l))
        out.pixels[3 * p] = UInt8((Int(out.pixels[3 * p]) + Int(r)) / 2)
        out.pixels[3 * p + 1] = UInt8((Int(out.pixels[3 * p + 1]) + Int(g)) / 2)
        out.pixels[3 * p + 2] = UInt8((Int(out.pixels[3 * p + 2]) + Int(b)) / 2)
    }
    return out
}

/// Propagates and scores every clip of `dataset`, with features from `features`.
///
/// - Parameters:
///   - features: for a clip's frames (resized to the DINO size), per frame the patch features
///     (h·w, D) on a grid of `grid` patches of `patchSize` px.
///   - progress: called after each clip with (clips done, clips in all).
/// - Throws: `DatasetError` / `ImageDecodingError` naming a missing clip, frame or annotation.
public func evaluateVideoPropagation(dataset: DAVISDataset, patchSize: Int, options: VideoEvaluationOptions = .init(),
                                     features: (_ sequence: String, _ frames: [RGBImage]) throws -> [Tensor],
                                     progress: ((Int, Int) -> Void)? = nil) throws -> VideoEvaluation {
    var objects: [DAVISObjectScores] = [], copied: [DAVISObjectScores] = []
    var overlays: [(String, RGBImage)] = []
    for (si, sequence) in dataset.sequences.enumerated() {
        let paths = try dataset.frames(of: sequence)
        let originals = try paths.map { try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0)) }
        let (w0, h0) = (originals[0].width, originals[0].height)
        let s = options.shortSide ?? Swift.min(w0, h0)
        let size = dinoVideoFrameSize(width: w0, height: h0, shortSide: s)
        guard size.width > 0 && size.height > 0 && size.width % patchSize == 0 && size.height % patchSize == 0 else {
            throw DatasetError.unreadable(paths[0], "frames of \(w0)×\(h0) at short side \(s) become \(size.width)×\(size.height), not a positive multiple of the patch size \(patchSize)")
        }
        let frames = originals.map { $0.width == size.width && $0.height == size.height ? $0 : $0.resized(width: size.width, height: size.height, filter: .bilinear) }
        let truth = try paths.map { path -> [UInt8] in
            let a = try DAVISDataset.labels(dataset.annotationPath(sequence: sequence, frame: path))
            guard a.width == w0 && a.height == h0 else {
                throw DatasetError.unreadable(dataset.annotationPath(sequence: sequence, frame: path), "annotation of \(a.width)×\(a.height) for frames of \(w0)×\(h0)")
            }
            return a.labels
        }
        let maskSize = dinoVideoMaskSize(width: w0, height: h0, shortSide: s)
        let grid = (height: size.height / patchSize, width: size.width / patchSize)
        let (gw, gh) = (maskSize.width / patchSize, maskSize.height / patchSize)
        guard gw == grid.width && gh == grid.height else {
            throw DatasetError.unreadable(paths[0], "the first mask's grid \(gw)×\(gh) differs from the frames' \(grid.width)×\(grid.height)")
        }
        let f = try features(sequence, frames)
        let (predicted, clipObjects) = videoClipScores(name: sequence, truth: truth, size: (w0, h0), features: f, grid: grid,
                                                       patchSize: patchSize, config: options.propagation)
        objects += clipObjects
        copied += davisSequenceScores(name: sequence, truth: truth, prediction: truth.map { _ in truth[0] }, width: w0, height: h0)
        if options.overlayFrames > 0 {
            let k = Swift.min(options.overlayFrames, originals.count)
            let picks = (0..<k).map { k == 1 ? 0 : $0 * (originals.count - 1) / (k - 1) }
            let top = RGBImage.sideBySide(picks.map { overlay(originals[$0], labels: truth[$0]) })
            let bottom = RGBImage.sideBySide(picks.map { overlay(originals[$0], labels: predicted[$0]) })
            overlays.append((sequence, RGBImage.stacked([top, bottom])))
        }
        progress?(si + 1, dataset.sequences.count)
    }
    return VideoEvaluation(scores: DAVISScores(objects: objects), copyFirstMask: DAVISScores(objects: copied), overlays: overlays)
}

/// One clip's propagation and scores from its frames' features: the first annotation at the patch
/// grid (`patchOneHot`), propagated through the later frames (`propagateLabels`) and scored against
/// every annotation (`davisSequenceScores`).
///
/// - Parameters:
///   - truth: every frame's annotation at the original frame size, row-major.
///   - size: the original frame size (width, height).
///   - features: per frame, the patch features (h·w, D) on `grid`.
/// - Returns: the predicted label maps (frame 0 is the given annotation) and one score per object.
public func videoClipScores(name: String, truth: [[UInt8]], size: (width: Int, height: Int), features: [Tensor],
                            grid: (height: Int, width: Int), patchSize: Int,
                            config: LabelPropagationConfig = .init()) -> (predicted: [[UInt8]], objects: [DAVISObjectScores]) {
    precondition(truth.count == features.count && !truth.isEmpty,
                 "videoClipScores: \(truth.count) annotations and \(features.count) feature sets for \(name)")
    let (oneHot, classes) = patchOneHot(truth[0], width: size.width, height: size.height, gridWidth: grid.width, gridHeight: grid.height)
    let predicted = [truth[0]] + propagateLabels(features: features, firstLabels: oneHot, classes: classes, grid: grid,
                                                 patchSize: patchSize, outputSize: size, config: config)
    return (predicted, davisSequenceScores(name: name, truth: truth, prediction: predicted, width: size.width, height: size.height))
}

/// Video object segmentation with a frozen backbone: a ViT's normed last-block patch tokens (the
/// class and register tokens dropped), as DINO's `extract_feature`; a ConvNeXt's normed final map,
/// on its own stride-32 grid, or with `patchSize` resized to the grid of a ViT of that patch size
/// (bilinear, antialiased when shrinking) before the norm, as the reference's pseudo `patch_size`
/// (dinov3/models/convnext.py `_get_intermediate_layers`, the way DINOv3 reads a ConvNeXt densely).
///
/// - Parameter patchSize: a ConvNeXt's pseudo patch size (frames must be multiples of it); for a
///   ViT nil or its own patch size.
/// - Throws: `EvaluationError` for a pseudo patch size on a ViT; `DatasetError` /
///   `ImageDecodingError` naming a missing clip, frame or annotation.
///
/// Reference: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (2021),
/// DAVIS-2017 video object segmentation; facebookresearch/dino eval_video_segmentation.py.
public func evaluateVideo(model: any EmbeddingBackbone, patchSize: Int? = nil, dataset: DAVISDataset,
                          options: VideoEvaluationOptions = .init(), batchSize: Int = 16,
                          progress: ((Int, Int) -> Void)? = nil) throws -> VideoEvaluation {
    let convNeXt = model as? ConvNeXt
    if let patchSize {
        guard patchSize > 0 else { throw EvaluationError("the patch size must be positive, not \(patchSize)") }
        guard convNeXt != nil || patchSize == model.patchSize else {
            throw EvaluationError("a pseudo patch size resizes a ConvNeXt's final map; this \(type(of: model))'s patches are \(model.patchSize) px: leave --patch-size out")
        }
    }
    let patch = patchSize ?? model.patchSize
    model.eval()
    return try evaluateVideoPropagation(dataset: dataset, patchSize: patch, options: options, features: { _, frames in
        var out: [Tensor] = []
        var start = 0
        while start < frames.count {
            let part = Array(frames[start..<Swift.min(start + batchSize, frames.count)])
            let x = stackViews(part, normalization: options.normalization)                      // (n, 3, H, W)
            let tokens = withNoGrad { () -> Tensor in
                if let convNeXt, patch != convNeXt.patchSize {
                    return convNeXt.forwardFeatures(x, patchGrid: (x.shape[2] / patch, x.shape[3] / patch)).patchTokens
                }
                return model.embeddingFeatures(x).patchTokens
            }.contiguous()                                                                       // (n, h·w, D)
            for i in 0..<part.count { out.append(tokens.slice(axis: 0, start: i, end: i + 1).reshape([tokens.shape[1], tokens.shape[2]])) }
            start += batchSize
        }
        return out
    }, progress: progress)
}
