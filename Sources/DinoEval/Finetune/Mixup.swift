// Mixup, CutMix and label smoothing of a classification batch: timm's `Mixup` in its "batch"
// mode, as MAE's fine-tuning uses it (mixup α 0.8, CutMix α 1.0, switch probability 0.5,
// mix probability 1, label smoothing 0.1).
//
// What it is: the pure maths of one batch — the soft targets, the CutMix box and its
// corrected λ, the blend of images with the batch reversed. What it is not: a source of
// randomness of its own; the caller draws (λ, CutMix or not, the box centre) from the batch's
// generator, so that a resumed run draws the same values (timm uses NumPy's global state).
//
// Reference: timm/data/mixup.py (`one_hot`, `mixup_target`, `rand_bbox`,
// `cutmix_bbox_and_lam`, `Mixup._params_per_batch`, `Mixup._mix_batch`); Zhang et al.,
// "mixup" (2018); Yun et al., "CutMix" (2019); Szegedy et al. (2016) §7 for label smoothing.

import DinoTensor
import Foundation

/// The smoothed one-hot targets of class labels, mixed with those of the reversed batch.
///
/// `y = λ · smooth(onehot(labels)) + (1 − λ) · smooth(onehot(reversed labels))`, with
/// `smooth(e_k) = off + (1 − s) e_k`, `off = s / K` (so the true class gets `1 − s + s/K`).
/// λ = 1 gives plain label smoothing (timm's `LabelSmoothingCrossEntropy` is the soft-target
/// cross-entropy of these targets).
///
/// - Returns: (B, K) float32.
/// Reference: timm/data/mixup.py `mixup_target`.
public func mixupTargets(labels: [Int], classes: Int, lambda: Double, smoothing: Double) -> Tensor {
    precondition(classes > 0 && (0...1).contains(smoothing), "mixupTargets: \(classes) classes, smoothing \(smoothing)")
    let b = labels.count
    let off = smoothing / Double(classes)
    let on = 1 - smoothing + off
    var out = [Double](repeating: 0, count: b * classes)
    for i in 0..<b {
        let a = labels[i], r = labels[b - 1 - i]
        precondition((0..<classes).contains(a), "mixupTargets: label \(a) outside 0..<\(classes)")
        for k in 0..<classes {
            let y1 = k == a ? on : off
            let y2 = k == r ? on : off
            out[i * classes + k] = y1 * lambda + y2 * (1 - lambda)
        }
    }
    return Tensor(out.map(Float.init), shape: [b, classes])
}

/// A CutMix box in pixel rows [top, bottom) and columns [left, right).
public struct CutMixBox: Equatable, Sendable, Codable {
    public var top: Int, bottom: Int, left: Int, right: Int
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }
    public var area: Int { (bottom - top) * (right - left) }
}

/// The CutMix box of area about (1 − λ)·H·W centred at (cy, cx), clipped to the image, and
/// λ corrected to the clipped box: `1 − area / (H·W)`.
///
/// `cut = ⌊side · √(1 − λ)⌋` per side; rows `clip(cy − cut_h // 2, 0, H) … clip(cy + (cut_h + 1) // 2, 0, H)`
/// (timm ≥ 0.9; the timm 0.3.2 that MAE pinned ends at `cy + cut_h // 2`, a box one pixel
/// smaller for odd cuts). The centre is drawn uniformly from `0..<H` × `0..<W` by the caller
/// (`np.random.randint`).
///
/// Reference: timm/data/mixup.py `rand_bbox` (margin 0) and `cutmix_bbox_and_lam`
/// (`correct_lam=True`, no `ratio_minmax`).
public func cutMixBox(height: Int, width: Int, lambda: Double, centerY cy: Int, centerX cx: Int) -> (box: CutMixBox, lambda: Double) {
    let ratio = (1 - lambda).squareRoot()
    let cutH = Int(Double(height) * ratio), cutW = Int(Double(width) * ratio)
    func clip(_ v: Int, _ hi: Int) -> Int { Swift.min(Swift.max(v, 0), hi) }
    // Python's // floors; cut sizes are non-negative, so integer division agrees.
    let box = CutMixBox(top: clip(cy - cutH / 2, height), bottom: clip(cy + (cutH + 1) / 2, height),
                        left: clip(cx - cutW / 2, width), right: clip(cx + (cutW + 1) / 2, width))
    return (box, 1 - Double(box.area) / Double(height * width))
}

/// timm's `Mixup` settings (MAE's fine-tuning values by default).
public struct MixupOptions: Equatable, Sendable, Codable {
    /// Mixup's Beta(α, α) (MAE: 0.8); 0 disables mixup.
    public var mixupAlpha = 0.8
    /// CutMix's Beta(α, α) (MAE: 1.0); 0 disables CutMix.
    public var cutmixAlpha = 1.0
    /// Probability of mixing a batch at all (MAE: 1.0).
    public var probability = 1.0
    /// Probability of CutMix rather than mixup when both are enabled (MAE: 0.5).
    public var switchProbability = 0.5

    public init() {}

    /// Whether mixup or CutMix is enabled (MAE then trains with `SoftTargetCrossEntropy`).
    public var isActive: Bool { mixupAlpha > 0 || cutmixAlpha > 0 }

    enum CodingKeys: String, CodingKey {
        case mixupAlpha = "mixup", cutmixAlpha = "cutmix", probability = "prob", switchProbability = "switch_prob"
    }
}

/// One batch's draw: λ, and whether CutMix is used (then λ is corrected to the box).
public struct MixupDraw: Equatable, Sendable {
    public var lambda: Double
    public var box: CutMixBox?
}

extension MixupOptions {
    /// Draws λ and the kind for one batch of `height × width` images, as
    /// `Mixup._params_per_batch` then `_mix_batch` do: CutMix with probability
    /// `switchProbability` when both are on; λ ~ Beta(α, α) of the chosen kind, kept with
    /// probability `probability` (else 1: no mixing); for CutMix, the box centre uniform over
    /// the pixels and λ corrected to the clipped box.
    public func draw(height: Int, width: Int, generator g: RandomGenerator) -> MixupDraw {
        guard isActive else { return MixupDraw(lambda: 1, box: nil) }
        var lambda = 1.0
        var useCutMix = false
        if mixupAlpha > 0 && cutmixAlpha > 0 {
            useCutMix = g.nextDouble() < switchProbability
        } else if cutmixAlpha > 0 {
            useCutMix = true
        }
        let mixed = betaSample(useCutMix ? cutmixAlpha : mixupAlpha, g)
        if g.nextDouble() < probability { lambda = mixed }
        // `_mix_batch` returns before drawing a box when λ is exactly 1.
        guard lambda != 1 else { return MixupDraw(lambda: 1, box: nil) }
        if useCutMix {
            let cy = g.nextInt(height), cx = g.nextInt(width)
            let (box, corrected) = cutMixBox(height: height, width: width, lambda: lambda, centerY: cy, centerX: cx)
            return MixupDraw(lambda: corrected, box: box)
        }
        return MixupDraw(lambda: lambda, box: nil)
    }
}

/// Applies a draw to a batch (B, C, H, W) in place of a copy: mixup blends each image with
/// the batch reversed, `λ x + (1 − λ) flip(x)`; CutMix pastes the box of the reversed batch.
///
/// Reference: timm/data/mixup.py `Mixup._mix_batch` (`x.flip(0)`).
public func applyMixup(_ images: Tensor, _ draw: MixupDraw) -> Tensor {
    precondition(images.rank == 4, "applyMixup: images \(images.shape) must be (B, C, H, W)")
    if draw.lambda == 1 && draw.box == nil { return images }
    let (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
    let x = images.scalars
    var out = x
    let plane = h * w, image = c * plane
    for i in 0..<b {
        let j = b - 1 - i
        if let box = draw.box {
            for ch in 0..<c {
                for y in box.top..<box.bottom {
                    for xx in box.left..<box.right {
                        out[i * image + ch * plane + y * w + xx] = x[j * image + ch * plane + y * w + xx]
                    }
                }
            }
        } else {
            let lam = Float(draw.lambda), rest = Float(1 - draw.lambda)
            for k in 0..<image {
                // timm: x.mul_(lam).add_(x.flip(0).mul_(1 - lam))
                out[i * image + k] = x[i * image + k] * lam + x[j * image + k] * rest
            }
        }
    }
    return Tensor(out, shape: images.shape)
}

/// A sample of Beta(α, α) from two Gamma(α) draws (Marsaglia–Tsang, with the α < 1 boost).
func betaSample(_ alpha: Double, _ g: RandomGenerator) -> Double {
    let a = gammaSample(alpha, g), b = gammaSample(alpha, g)
    return a + b == 0 ? 0.5 : a / (a + b)
}

func gammaSample(_ alpha: Double, _ g: RandomGenerator) -> Double {
    if alpha < 1 {
        let u = Swift.max(g.nextDouble(), .leastNonzeroMagnitude)
        return gammaSample(alpha + 1, g) * Foundation.pow(u, 1 / alpha)
    }
    let d = alpha - 1.0 / 3, c = 1 / (9 * d).squareRoot()
    while true {
        var x = 0.0, v = 0.0
        repeat {
            // Box–Muller from two uniforms.
            let u1 = Swift.max(g.nextDouble(), .leastNonzeroMagnitude), u2 = g.nextDouble()
            x = (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
            v = 1 + c * x
        } while v <= 0
        v = v * v * v
        let u = g.nextDouble()
        if u < 1 - 0.0331 * x * x * x * x { return d * v }
        if Foundation.log(Swift.max(u, .leastNonzeroMagnitude)) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
    }
}
