// DINOv3's linear semantic segmentation recipe (ADE20K): a linear head on the last block's normed
// patch tokens, trained on augmented crops passed through the frozen backbone every iteration,
// scored by sliding-window inference.
//
// What it is: facebookresearch/dinov3 dinov3/eval/segmentation with
// configs/config-ade20k-linear-training.yaml —
// - data (transforms.py `make_segmentation_train_transforms`): FixedSideResize of the shorter side
//   to ⌊S · U(0.5, 2)⌋ (image bilinear, label nearest), `reduce_zero_label` (0 → 255, l → l − 1),
//   RandomCropWithLabel(S × S, cat_max_ratio 0.75, up to 10 tries), horizontal flip p 0.5,
//   PhotoMetricDistortion, ImageNet normalisation, padding to S × S (image 0, label 255);
// - head (models/heads/linear_head.py `LinearHead`): Dropout2d(0.1) → BatchNorm → 1×1 conv
//   (N(0, 0.01²), zero bias); logits resized bilinearly to the crop (train.py) and
//   mmseg's CrossEntropyLoss (ignore 255, mean over all pixels, the ignored ones counting 0);
// - AdamW (lr 1e-3, betas 0.9/0.999, weight decay 1e-3), no gradient clipping, WarmupOneCycleLR
//   (warm-up 1500 of 40 000 iterations, warmup_ratio 1e-6, cosine to 0) stepped as train.py steps
//   it (not after the first iteration); batch 16 (2 × 8 GPUs);
// - evaluation (eval.py, inference.py): the image's shorter side resized to S, `slide_inference`
//   with S × S windows and stride ⌊S · 341/512⌋, the averaged logits resized bilinearly to the
//   label's own size, argmax; `calculate_intersect_and_union(..., reduce_zero_label=True)` summed
//   over images, mIoU = nanmean over classes.
// What it differs in: S is the model's input size (512 there); the iteration count is the CLI's
// (40 000 there), the warm-up scaled with it; one process (BatchNorm statistics of one batch of 16
// instead of SyncBatchNorm over 8 × 2). Random numbers come from our generator, not NumPy's.
// What it is not: the default `linear` recipe (SegmentationProbe.swift: cached features, no
// augmentation), Mask2Former.

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// Which segmentation recipe `dino eval segmentation` runs.
public enum SegmentationRecipe: String, Codable, CaseIterable, Sendable {
    /// DINOv2-style linear probe on features computed once (SegmentationProbe.swift).
    case linear
    /// DINOv3's ADE20K linear recipe (this file).
    case dinov3
}

/// Settings of DINOv3's linear segmentation recipe (defaults: config-ade20k-linear-training.yaml).
public struct DINOv3SegmentationConfig: Configuration, Equatable, Sendable {
    /// S: shorter side before the random scale and at evaluation, crop and window side (512); nil:
    /// the model's input size.
    public var imageSize: Int? = nil
    /// `random_img_size_ratio_range` ([0.5, 2.0]).
    public var ratioRange = [0.5, 2.0]
    /// `cat_max_ratio` of RandomCropWithLabel (0.75).
    public var catMaxRatio = 0.75
    /// `flip_prob` (0.5).
    public var flipProbability = 0.5
    /// PhotoMetricDistortion (always on in the reference's train transform).
    public var photometricDistortion = true
    /// ADE20K's `reduce_zero_label` (true): label 0 ("other") ignored, the others shifted down by 1.
    public var reduceZeroLabel = true
    /// Ignored label (255).
    public var ignoreIndex = 255
    /// Classes (150 for ADE20K); nil: one more than the largest label of the masks.
    public var classes: Int? = nil
    /// Images per iteration (`bs` 2 × 8 GPUs = 16).
    public var batchSize = 16
    /// `scheduler.total_iter` (40 000) and `warmup_iters` (1500; nil: 1500/40 000 of `iterations`).
    public var iterations = 40_000
    public var warmupIterations: Int? = nil
    /// `warmup_ratio` (1e-6).
    public var warmupRatio = 1e-6
    /// AdamW (`optimizer`: lr 1e-3, beta1 0.9, beta2 0.999, weight_decay 1e-3).
    public var learningRate = 1e-3
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var weightDecay = 1e-3
    /// Dropout2d before the batch norm (0.1).
    public var dropout = 0.1
    /// Sliding-window stride (341 for 512 windows); nil: ⌊S · 341 / 512⌋.
    public var stride: Int? = nil
    /// Seed of the head's initial weights, the batch order, the augmentations and dropout.
    public var seed: UInt64 = 0

    /// The reference's defaults (config-ade20k-linear-training.yaml).
    public init() {}

    /// The warm-up length used with `iterations`.
    public var resolvedWarmupIterations: Int { warmupIterations ?? Int((Double(iterations) * 1500 / 40_000).rounded()) }

    enum CodingKeys: String, CodingKey {
        case classes, iterations, beta1, beta2, dropout, stride, seed
        case imageSize = "img_size", ratioRange = "random_img_size_ratio_range", catMaxRatio = "cat_max_ratio"
        case flipProbability = "flip_prob", photometricDistortion = "photometric_distortion", reduceZeroLabel = "reduce_zero_label"
        case ignoreIndex = "ignore_index", batchSize = "batch_size", warmupIterations = "warmup_iters", warmupRatio = "warmup_ratio"
        case learningRate = "lr", weightDecay = "weight_decay"
    }

    public func validate() throws {
        func bad(_ key: String, _ why: String) -> ConfigError { ConfigError.invalidValue(path: key, message: why) }
        guard ratioRange.count == 2, ratioRange[0] > 0, ratioRange[0] <= ratioRange[1] else {
            throw bad("random_img_size_ratio_range", "must be [low, high] with 0 < low ≤ high, got \(ratioRange)")
        }
        guard iterations >= 1 else { throw bad("iterations", "must be ≥ 1, got \(iterations)") }
        guard resolvedWarmupIterations >= 0, resolvedWarmupIterations < iterations else {
            throw bad("warmup_iters", "must be in [0, iterations), got \(resolvedWarmupIterations)")
        }
        guard batchSize >= 1 else { throw bad("batch_size", "must be ≥ 1, got \(batchSize)") }
        guard dropout >= 0, dropout < 1 else { throw bad("dropout", "must be in [0, 1), got \(dropout)") }
        if let stride, stride < 1 { throw bad("stride", "must be ≥ 1, got \(stride)") }
    }
}

/// ADE20K's `reduce_zero_label` (metrics.py `preprocess_nonzero_labels`): 0 → ignore, ignore stays,
/// l → l − 1.
public func reduceZeroLabel(_ label: Int, ignoreIndex: Int = 255) -> Int {
    label == ignoreIndex || label == 0 ? ignoreIndex : label - 1
}

/// The learning rate of dinov3/eval/segmentation `WarmupOneCycleLR` at scheduler step `step` with
/// `warmup_ratio` r > 0, final_div_factor ∞ and cosine annealing (min rate 0):
///
///     step < W:  lr = max · (1 − (1 − step/W)(1 − r)) · (1 − step/T)
///     else:      lr = max · (1 + cos(π · (step + 1)/T)) / 2
///
/// train.py calls `scheduler.step()` after every iteration but the first, so iteration g (0-based)
/// uses step max(0, g − 1): `dinov3SegmentationLearningRate(iteration:)`.
public func dinov3SegmentationLearningRate(step: Int, total: Int, warmUp: Int, warmupRatio: Double, maxLR: Double) -> Double {
    if step < warmUp {
        let k = (1 - Double(step) / Double(warmUp)) * (1 - warmupRatio)
        return maxLR * (1 - k) * (1 - Double(step) / Double(total))
    }
    return maxLR / 2 * (Foundation.cos(Double.pi * Double(step + 1) / Double(total)) + 1)
}

/// The learning rate of iteration `g` (0-based) as train.py drives the scheduler.
public func dinov3SegmentationLearningRate(iteration g: Int, total: Int, warmUp: Int, warmupRatio: Double, maxLR: Double) -> Double {
    dinov3SegmentationLearningRate(step: Swift.max(0, g - 1), total: total, warmUp: warmUp, warmupRatio: warmupRatio, maxLR: maxLR)
}

/// The windows of inference.py `slide_inference` over an image of `height × width`: a grid of
/// ⌈(H − crop)/stride⌉ + 1 rows (and columns), each window shifted back inside the image; when the
/// crop exceeds both sides it shrinks to the shorter side.
public func slidingWindows(height: Int, width: Int, crop: Int, stride: Int) -> [CropBox] {
    var (hc, wc) = (crop, crop)
    if hc > height && wc > width { (hc, wc) = (Swift.min(height, width), Swift.min(height, width)) }
    let rows = Swift.max(height - hc + stride - 1, 0) / stride + 1
    let cols = Swift.max(width - wc + stride - 1, 0) / stride + 1
    var boxes: [CropBox] = []
    for r in 0..<rows {
        for c in 0..<cols {
            let y2 = Swift.min(r * stride + hc, height), x2 = Swift.min(c * stride + wc, width)
            let y1 = Swift.max(y2 - hc, 0), x1 = Swift.max(x2 - wc, 0)
            boxes.append(CropBox(top: y1, left: x1, height: y2 - y1, width: x2 - x1))
        }
    }
    return boxes
}

/// mmseg's `CrossEntropyLoss` as the recipe uses it: per-pixel cross-entropy with `ignoreIndex`
/// pixels contributing 0, averaged over all pixels (avg_non_ignore False).
///
/// - Parameters: logits (P, C), one label per row.
public func segmentationCrossEntropy(logits: Tensor, labels: [Int], ignoreIndex: Int = 255) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "segmentationCrossEntropy: logits \(logits.shape) for \(labels.count) labels")
    let keep = labels.indices.filter { labels[$0] != ignoreIndex }
    guard !keep.isEmpty else { return (logits.sum() * 0) }
    let mean = Tensor.crossEntropy(logits: logits.indexSelect(axis: 0, indices: keep), labels: keep.map { labels[$0] })
    return mean * (Double(keep.count) / Double(labels.count))
}

/// mmseg / dinov3 `PhotoMetricDistortion`: brightness (+U(−32, 32)), contrast (×U(0.5, 1.5)) first
/// or last, saturation (U(0.5, 1.5)) and hue (U(−0.5, 0.5)) as torchvision's adjust_saturation /
/// adjust_hue, each applied with probability 0.5; brightness and contrast clip to [0, 255] and
/// truncate to bytes.
public struct PhotoMetricDistortion: Sendable {
    /// Brightness shift range ±32 (on 0–255), contrast and saturation factor ranges, hue range.
    public var brightnessDelta = 32.0
    public var contrastRange = [0.5, 1.5]
    public var saturationRange = [0.5, 1.5]
    public var hueRange = [-0.5, 0.5]

    /// The reference's defaults.
    public init() {}

    static func uniform(_ g: RandomGenerator, _ low: Double, _ high: Double) -> Double { low + (high - low) * g.nextDouble() }

    /// x · alpha + beta in float, clipped to [0, 255], truncated (`convert`).
    static func convert(_ image: RGBImage, alpha: Float = 1, beta: Float = 0) -> RGBImage {
        RGBImage(width: image.width, height: image.height,
                 pixels: image.pixels.map { UInt8(Swift.min(Swift.max(Float($0) * alpha + beta, 0), 255)) })
    }

    /// The distorted image, drawing from `g` in the reference's order (brightness, mode, contrast
    /// when mode 1, saturation, hue, contrast when mode 0).
    public func apply(_ image: RGBImage, _ g: RandomGenerator) -> RGBImage {
        var img = image
        if g.nextInt(2) == 1 { img = Self.convert(img, beta: Float(Self.uniform(g, -brightnessDelta, brightnessDelta))) }
        let mode = g.nextInt(2)
        func contrast() {
            if g.nextInt(2) == 1 { img = Self.convert(img, alpha: Float(Self.uniform(g, contrastRange[0], contrastRange[1]))) }
        }
        if mode == 1 { contrast() }
        if g.nextInt(2) == 1 { img = img.adjustingSaturation(Self.uniform(g, saturationRange[0], saturationRange[1])) }
        if g.nextInt(2) == 1 { img = img.adjustingHue(Self.uniform(g, hueRange[0], hueRange[1])) }
        if mode == 0 { contrast() }
        return img
    }
}

/// One training sample of the recipe: the crop (at most S × S) and its labels (reduced, row-major).
struct SegmentationTrainSample {
    let image: RGBImage
    let labels: [Int]
}

/// The recipe's training transform (everything before normalisation and padding).
func dinov3SegmentationTrainSample(image: RGBImage, labels: [Int], labelWidth: Int, labelHeight: Int, size s: Int,
                                   config: DINOv3SegmentationConfig, generator g: RandomGenerator) -> SegmentationTrainSample {
    // FixedSideResize with a random ratio: shorter side ⌊S · ratio⌋, the other int(… + 0.5).
    let ratio = config.ratioRange[0] + g.nextDouble() * (config.ratioRange[1] - config.ratioRange[0])
    let small = Swift.max(1, Int(Double(s) * ratio))
    let (w0, h0) = (image.width, image.height)
    let (nw, nh) = h0 > w0 ? (small, Int(Double(small) * Double(h0) / Double(w0) + 0.5))
                           : (Int(Double(small) * Double(w0) / Double(h0) + 0.5), small)
    var img = image.resized(width: nw, height: nh, filter: .bilinear)
    var lab = nearestResample(labels, width: labelWidth, height: labelHeight, outWidth: nw, outHeight: nh)
    if config.reduceZeroLabel { lab = lab.map { reduceZeroLabel($0, ignoreIndex: config.ignoreIndex) } }
    // RandomCropWithLabel(S × S, cat_max_ratio): retry up to 10 times for a crop no class dominates.
    func box() -> CropBox {
        let top = g.nextInt(Swift.max(nh - s, 0) + 1), left = g.nextInt(Swift.max(nw - s, 0) + 1)
        return CropBox(top: top, left: left, height: Swift.min(s, nh - top), width: Swift.min(s, nw - left))
    }
    func cropLabels(_ b: CropBox) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(b.height * b.width)
        for y in b.top..<(b.top + b.height) { out += lab[(y * nw + b.left)..<(y * nw + b.left + b.width)] }
        return out
    }
    var b = box()
    if config.catMaxRatio < 1 {
        for _ in 0..<10 {
            var counts: [Int: Int] = [:]
            for l in cropLabels(b) where l != config.ignoreIndex { counts[l, default: 0] += 1 }
            let total = counts.values.reduce(0, +)
            if counts.count > 1 && Double(counts.values.max()!) / Double(total) < config.catMaxRatio { break }
            b = box()
        }
    }
    img = img.cropped(top: b.top, left: b.left, height: b.height, width: b.width)
    lab = cropLabels(b)
    // MaybeApplyImageLabel(hflip, 0.5): flip when U < p.
    if g.nextDouble() < config.flipProbability {
        img = img.flippedHorizontally()
        lab = (0..<b.height).flatMap { y in (0..<b.width).map { x in lab[y * b.width + (b.width - 1 - x)] } }
    }
    if config.photometricDistortion { img = PhotoMetricDistortion().apply(img, g) }
    return SegmentationTrainSample(image: img, labels: lab)
}

/// Trains DINOv3's linear segmentation head on `train` through the frozen `model` and scores it on
/// `val` by sliding-window inference.
///
/// - Parameters:
///   - progress: (iteration done, iterations, loss of the iteration).
///   - pictureCount: val images drawn in the picture (image | truth | prediction rows), from the first.
/// - Returns: the trained head, mIoU / pixel accuracy on val in percent, and the picture.
///
/// Reference: Siméoni et al., "DINOv3" (2025), linear segmentation; dinov3/eval/segmentation.
public func evaluateSegmentationDINOv3(model: any EmbeddingBackbone, train: SegmentationMasks, val: SegmentationMasks,
                                       config: DINOv3SegmentationConfig = .init(), normalization: ImageNormalization = .imageNet,
                                       workers: Int = 1, pictureCount: Int = 0, issues: DataIssueLog = DataIssueLog(),
                                       progress: ((Int, Int, Double) -> Void)? = nil) throws
    -> (head: LinearSegmentationHead, scores: SegmentationScores, picture: RGBImage?) {
    try config.validate()
    model.eval()
    let s = config.imageSize ?? model.defaultInputSize
    precondition(s % model.patchSize == 0, "evaluateSegmentationDINOv3: size \(s) is not a multiple of the patch size \(model.patchSize)")
    let ignore = config.ignoreIndex
    let classes: Int
    if let c = config.classes {
        classes = c
    } else {
        var top = 0
        for set in [train, val] {
            for i in 0..<set.images.count {
                guard let m = try? set.nativeLabels(at: i) else { continue }
                for l in m.labels {
                    let r = config.reduceZeroLabel ? reduceZeroLabel(l, ignoreIndex: ignore) : l
                    if r != ignore { top = Swift.max(top, r) }
                }
            }
        }
        classes = top + 1
    }
    let g = RandomGenerator(seed: config.seed)
    let head = LinearSegmentationHead(dimensions: model.embedDimensions, classes: classes, generator: g.fork(0))
    let named = head.namedParameters
    let optimizer = AdamW(groups: [ParameterGroup(role: "segmentation_head", parameters: named.map(\.1), names: named.map(\.0))],
                          beta1: config.beta1, beta2: config.beta2)
    let images = train.images
    let batch = Swift.min(config.batchSize, images.count)
    let loader = DataLoader<SegmentationTrainSample, (Tensor, [Int])>(
        count: images.count, options: LoaderOptions(batchSize: batch, shuffle: true, dropLast: true, seed: config.seed, workers: workers),
        sample: { i, generator in
            guard let image = images.loadImage(at: i, issues: issues) else { return nil }
            do {
                let m = try train.nativeLabels(at: i)
                return dinov3SegmentationTrainSample(image: image, labels: m.labels, labelWidth: m.width, labelHeight: m.height,
                                                     size: s, config: config, generator: generator)
            } catch {
                issues.record(path: train.path(at: i), kind: .unreadable, message: "\(error)")
                return nil
            }
        },
        collate: { samples, _, _ in
            // Normalise, then PadTensor to S × S (image 0, label 255).
            let x = Tensor.stack(samples.map { normalization.tensor($0.image).pad([(0, 0), (0, s - $0.image.height), (0, s - $0.image.width)]) },
                                 axis: 0)                                                                  // (B, 3, S, S)
            let labels = samples.flatMap { sample in
                (0..<s).flatMap { y in (0..<s).map { x in
                    y < sample.image.height && x < sample.image.width ? sample.labels[y * sample.image.width + x] : ignore } }
            }
            return (x, labels)
        })
    let warmUp = config.resolvedWarmupIterations
    var iteration = 0, epoch = 0
    while iteration < config.iterations {
        var any = false
        for (x, labels) in loader.epoch(epoch) {
            if iteration >= config.iterations { break }
            any = true
            let patches = withNoGrad { model.embeddingFeatures(x).patchTokens }                            // (B, h·w, D)
            let (n, h, w) = (x.shape[0], x.shape[2] / model.patchSize, x.shape[3] / model.patchSize)
            var features = patches.contiguous().reshape([n, h, w, model.embedDimensions])                  // (B, h, w, D)
            if config.dropout > 0 {
                // Dropout2d: whole channels of a sample zeroed with probability p, the rest scaled by 1/(1 − p).
                let keep = g.fork(0xD0 + UInt64(iteration)).uniform([n, 1, 1, model.embedDimensions], low: 0, high: 1)
                    .scalars.map { Double($0) >= config.dropout ? Float(1 / (1 - config.dropout)) : 0 }
                features = features * Tensor(keep, shape: [n, 1, 1, model.embedDimensions])
            }
            for (_, p) in named { p.zeroGrad() }
            let logits = head.pixelLogits(features, height: s, width: s, training: true)                     // (B·S·S, C)
            let loss = segmentationCrossEntropy(logits: logits, labels: labels, ignoreIndex: ignore)
            loss.backward()
            let lr = dinov3SegmentationLearningRate(iteration: iteration, total: config.iterations, warmUp: warmUp,
                                                    warmupRatio: config.warmupRatio, maxLR: config.learningRate)
            optimizer.step(learningRate: lr, weightDecay: config.weightDecay)
            iteration += 1
            progress?(iteration, config.iterations, Double(loss.item()))
        }
        guard any else { throw DatasetError.unreadable(images.root, "no training image with a readable mask") }
        epoch += 1
    }
    let (scores, picture) = scoreSegmentationDINOv3(model: model, head: head, val: val, size: s, config: config, normalization: normalization,
                                                    pictureCount: pictureCount, issues: issues)
    return (head, scores, picture)
}

/// Sliding-window evaluation of a trained head (eval.py `evaluate_segmentation_model`, slide mode),
/// with a picture of the first `pictureCount` val images (image | truth | prediction at the mask's size).
public func scoreSegmentationDINOv3(model: any EmbeddingBackbone, head: LinearSegmentationHead, val: SegmentationMasks, size s: Int,
                                    config: DINOv3SegmentationConfig, normalization: ImageNormalization = .imageNet, pictureCount: Int = 0,
                                    issues: DataIssueLog = DataIssueLog()) -> (scores: SegmentationScores, picture: RGBImage?) {
    let stride = config.stride ?? Swift.max(1, s * 341 / 512)
    let c = head.classes
    var confusion = ConfusionMatrix(classes: c)
    var rows: [RGBImage] = []
    for i in 0..<val.images.count {
        guard let image = val.images.loadImage(at: i, issues: issues) else { continue }
        let mask: (labels: [Int], width: Int, height: Int)
        do { mask = try val.nativeLabels(at: i) } catch {
            issues.record(path: val.path(at: i), kind: .unreadable, message: "\(error)")
            continue
        }
        // The shorter side to S (FixedSideResize, whole image, label untouched).
        let (w0, h0) = (image.width, image.height)
        let (nw, nh) = h0 > w0 ? (s, Int(Double(s) * Double(h0) / Double(w0) + 0.5)) : (Int(Double(s) * Double(w0) / Double(h0) + 0.5), s)
        let x = normalization.tensor(image.resized(width: nw, height: nh, filter: .bilinear))                 // (3, H1, W1)
        let boxes = slidingWindows(height: nh, width: nw, crop: s, stride: stride)
        var sum = [Float](repeating: 0, count: c * nh * nw), count = [Float](repeating: 0, count: nh * nw)
        for b in boxes {
            let crop = x.slice(axis: 1, start: b.top, end: b.top + b.height).slice(axis: 2, start: b.left, end: b.left + b.width)
                .contiguous().unsqueeze(0)                                                                   // (1, 3, h, w)
            let logits: [Float] = withNoGrad {
                let patches = model.embeddingFeatures(crop).patchTokens                                     // (1, h·w, D)
                let tokens = patches.contiguous().reshape([1, b.height / model.patchSize, b.width / model.patchSize, model.embedDimensions])
                return resizeBilinear(head.logits(tokens, training: false), height: b.height, width: b.width).contiguous().scalars
            }                                                                                                // (1, C, h, w)
            for k in 0..<c {
                for y in 0..<b.height {
                    for xx in 0..<b.width {
                        sum[(k * nh + b.top + y) * nw + b.left + xx] += logits[(k * b.height + y) * b.width + xx]
                    }
                }
            }
            for y in 0..<b.height { for xx in 0..<b.width { count[(b.top + y) * nw + b.left + xx] += 1 } }
        }
        for k in 0..<c { for p in 0..<(nh * nw) { sum[k * nh * nw + p] /= count[p] } }
        let averaged = Tensor(sum, shape: [1, c, nh, nw])
        let predictions = withNoGrad { resizeBilinear(averaged, height: mask.height, width: mask.width) }      // (1, C, H0, W0)
            .permute([0, 2, 3, 1]).contiguous().reshape([-1, c]).argmax(axis: 1).indices
        let labels = config.reduceZeroLabel ? mask.labels.map { reduceZeroLabel($0, ignoreIndex: config.ignoreIndex) } : mask.labels
        confusion.add(predictions: predictions, labels: labels, ignoreIndex: config.ignoreIndex)
        if rows.count < pictureCount {
            let shown = image.width == mask.width && image.height == mask.height ? image : image.resized(width: mask.width, height: mask.height, filter: .bilinear)
            rows.append(RGBImage.sideBySide([shown, labelPicture(labels, width: mask.width, height: mask.height, ignoreIndex: config.ignoreIndex),
                                             labelPicture(predictions, width: mask.width, height: mask.height, ignoreIndex: config.ignoreIndex)]))
        }
    }
    return (confusion.scores, rows.isEmpty ? nil : RGBImage.stacked(rows))
}

/// Class k drawn in the PASCAL VOC / DAVIS palette colour of k + 1 (so class 0 is not black);
/// ignored pixels gray.
public func labelPicture(_ labels: [Int], width: Int, height: Int, ignoreIndex: Int = 255) -> RGBImage {
    precondition(labels.count == width * height, "labelPicture: \(labels.count) labels for \(width)×\(height)")
    var out = RGBImage(width: width, height: height)
    for (p, l) in labels.enumerated() {
        let (r, g, b) = l == ignoreIndex || l < 0 ? (128, 128, 128) : davisPaletteColour(l + 1)
        out.pixels[3 * p] = r; out.pixels[3 * p + 1] = g; out.pixels[3 * p + 2] = b
    }
    return out
}
