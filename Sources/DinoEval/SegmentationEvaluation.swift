// The dense evaluation end to end: frozen patch tokens of a backbone for the images of a
// training and a validation folder, per-pixel labels from a masks folder that mirrors them, the
// linear segmentation probe (SegmentationProbe.swift) trained on one and scored on the other.
//
// Images are resized to the evaluation size (the model's input size by default; bicubic), their
// masks sampled to the same size (nearest); labels 255 are ignored, as in mmseg. Images or masks
// that cannot be read are logged and left out.

import DinoModels
import DinoTensor
import DinoVision
import Foundation

/// Settings of `evaluateSegmentation`.
public struct SegmentationEvaluationOptions: Sendable {
    /// Side of the square images the backbone sees; nil: the model's input size.
    public var imageSize: Int? = nil
    /// Images per forward pass.
    public var batchSize = 64
    /// Normalisation of the pixels (ImageNet's, as every DINO model was trained with).
    public var normalization = ImageNormalization.imageNet
    /// Number of classes; nil: one more than the largest label seen (255 excluded).
    public var classes: Int? = nil
    /// The probe's training settings.
    public var probe = SegmentationProbeConfig()

    public init() {}
}

/// Frozen patch tokens and labels of every readable image of `masks.images`.
///
/// - Parameters:
///   - model: the backbone, in evaluation mode (no drop path): a ViT's normed patch tokens, or a
///     ConvNeXt's normed final map (stride 32), as `x_norm_patchtokens`.
///   - masks: the images and their masks.
///   - size: the side images are resized to (a multiple of the patch size).
/// - Returns: features (N, h, w, D) and labels (N·size·size).
public func segmentationFeatures(model: any EmbeddingBackbone, masks: SegmentationMasks, size: Int, batchSize: Int = 64,
                                 normalization: ImageNormalization = .imageNet,
                                 issues: DataIssueLog = DataIssueLog()) -> SegmentationFeatures {
    precondition(size % model.patchSize == 0, "segmentationFeatures: size \(size) is not a multiple of the patch size \(model.patchSize)")
    let images = masks.images
    var chunks: [Tensor] = [], labels: [Int] = []
    var start = 0
    while start < images.count {
        var views: [RGBImage] = []
        for i in start..<Swift.min(start + batchSize, images.count) {
            guard let image = images.loadImage(at: i, issues: issues) else { continue }
            do {
                let l = try masks.labels(at: i, width: size, height: size)
                views.append(image.width == size && image.height == size ? image : image.resized(width: size, height: size, filter: .bicubic))
                labels += l
            } catch {
                issues.record(path: masks.path(at: i), kind: .unreadable, message: "\(error)")
            }
        }
        start += batchSize
        guard !views.isEmpty else { continue }
        let x = stackViews(views, normalization: normalization)                                   // (n, 3, S, S)
        let patches = withNoGrad { model.embeddingFeatures(x).patchTokens }                        // (n, h·w, D)
        let (h, w) = (size / model.patchSize, size / model.patchSize)
        chunks.append(patches.contiguous().reshape([views.count, h, w, model.embedDimensions]))    // (n, h, w, D)
    }
    precondition(!chunks.isEmpty, "segmentationFeatures: no readable image in \(images.root)")
    let features = chunks.count == 1 ? chunks[0] : Tensor.concat(chunks, axis: 0)
    return SegmentationFeatures(features: features, labels: labels, height: size, width: size)
}

/// Trains the linear segmentation probe on `train` and scores it on `val`.
///
/// - Parameter trainedHead: receives the trained head and the input size (to save it: SavedHeads.swift).
/// - Returns: mean IoU and pixel accuracy on val, in percent.
/// Reference: Oquab et al., "DINOv2" (2023), §7.4 "linear" semantic segmentation.
public func evaluateSegmentation(model: any EmbeddingBackbone, train: SegmentationMasks, val: SegmentationMasks,
                                 options: SegmentationEvaluationOptions = .init(), issues: DataIssueLog = DataIssueLog(),
                                 progress: ((Int, Double) -> Void)? = nil,
                                 trainedHead: ((LinearSegmentationHead, Int) -> Void)? = nil) -> SegmentationScores {
    model.eval()
    let size = options.imageSize ?? model.defaultInputSize
    let trainSet = segmentationFeatures(model: model, masks: train, size: size, batchSize: options.batchSize,
                                        normalization: options.normalization, issues: issues)
    let valSet = segmentationFeatures(model: model, masks: val, size: size, batchSize: options.batchSize,
                                      normalization: options.normalization, issues: issues)
    let ignore = options.probe.ignoreIndex
    let classes = options.classes ?? ((trainSet.labels + valSet.labels).filter { $0 != ignore }.max() ?? 0) + 1
    let head = trainSegmentationProbe(trainSet, classes: classes, config: options.probe, progress: progress)
    trainedHead?(head, size)
    return evaluateSegmentationProbe(head, on: valSet, batchSize: options.batchSize, ignoreIndex: ignore)
}
