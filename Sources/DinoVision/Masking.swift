// iBOT block masking for DINOv2 and DINOv3: which patches of each global view the student
// sees masked.
//
// Per image, rectangles of patches are added until the target count is reached: each block
// has a target area ~ U[minPatches, remaining] (at most `maxPatches` at once), aspect ratio
// log-uniform in [minAspect, 1 / minAspect], h = round(√(area · aspect)), w = round(√(area /
// aspect)), a random position, and is kept only if it adds between 1 and `remaining` new
// patches (10 tries per block). Per batch of B global views, int(B · probability) of them are
// masked, with ratios stratified over [low, high]: view i gets a ratio from the i-th of equal
// sub-intervals; the other views get no mask; the list is shuffled. DINOv3 draws no ratio: view
// i gets exactly int(N · high_i) patches, blocks first and then random single patches
// (`complete_mask_randomly`), optionally rolled by a random circular shift.
//
// References: facebookresearch/dinov2 dinov2/data/masking.py (MaskingGenerator), collate.py
// (collate_data_and_cast), train/train.py (max_num_patches = 0.5 · N);
// facebookresearch/dinov3 dinov3/data/masking.py (complete_mask_randomly), collate.py.

import DinoTensor
import Foundation

/// DINOv2's `MaskingGenerator` on a `height × width` grid of patches.
public struct BlockMaskGenerator: Sendable, Equatable {
    public let height: Int
    public let width: Int
    /// Smallest target area of one block, in patches (4).
    public let minPatches: Double
    /// Largest number of patches added by one block (DINOv2 trains with 0.5 · N).
    public let maxPatches: Double
    public let logAspect: (Double, Double)

    public static func == (a: Self, b: Self) -> Bool {
        a.height == b.height && a.width == b.width && a.minPatches == b.minPatches && a.maxPatches == b.maxPatches
            && a.logAspect == b.logAspect
    }

    /// DINOv2's defaults: blocks of target area ≥ 4, aspect in [0.3, 1 / 0.3], at most half the grid per block.
    public init(height: Int, width: Int, minPatches: Double = 4, maxPatches: Double? = nil,
                minAspect: Double = 0.3, maxAspect: Double? = nil) {
        precondition(height > 0 && width > 0, "BlockMaskGenerator: grid \(height)×\(width)")
        self.height = height
        self.width = width
        self.minPatches = minPatches
        self.maxPatches = maxPatches ?? 0.5 * Double(height * width)
        self.logAspect = (Foundation.log(minAspect), Foundation.log(maxAspect ?? 1 / minAspect))
    }

    public var patchCount: Int { height * width }

    /// The largest block that DINOv2's and DINOv3's `train.py` allow, evaluated as written:
    /// `0.5 * img_size // patch_size * img_size // patch_size`, i.e. ⌊⌊img / 2 / patch⌋ · img
    /// / patch⌋. Half the grid for an even grid side; less for an odd one (7 × 7 patches: 21,
    /// not 24.5).
    ///
    /// Reference: dinov2/train/train.py, dinov3/train/train.py (`MaskingGenerator(...,
    /// max_num_patches=...)`).
    public static func referenceMaxPatches(cropSize: Int, patchSize: Int) -> Double {
        precondition(cropSize > 0 && patchSize > 0, "referenceMaxPatches: crop \(cropSize), patch \(patchSize)")
        let half = (0.5 * Double(cropSize) / Double(patchSize)).rounded(.down)        // 0.5 * img // patch
        return (half * Double(cropSize) / Double(patchSize)).rounded(.down)           // … * img // patch
    }

    /// Adds one block to `mask`, returning the number of newly masked patches (0 if 10 tries failed).
    func addBlock(_ mask: inout [Bool], maxNew: Double, _ g: RandomGenerator) -> Int {
        var delta = 0
        for _ in 0..<10 {
            let targetArea = g.uniform(minPatches, maxNew)
            let aspect = Foundation.exp(g.uniform(logAspect.0, logAspect.1))
            let h = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w < width && h < height {
                let top = g.randint(0, height - h)
                let left = g.randint(0, width - w)
                var already = 0
                for i in top..<(top + h) { for j in left..<(left + w) where mask[i * width + j] { already += 1 } }
                let new = h * w - already
                if new > 0 && Double(new) <= maxNew {
                    for i in top..<(top + h) {
                        for j in left..<(left + w) where !mask[i * width + j] {
                            mask[i * width + j] = true
                            delta += 1
                        }
                    }
                }
                if delta > 0 { break }
            }
        }
        return delta
    }

    /// A mask with about `count` patches in blocks (DINOv2 `MaskingGenerator.__call__`):
    /// it stops early when no block fits, so it may hold fewer.
    public func mask(count: Int, generator g: RandomGenerator) -> [Bool] {
        var mask = [Bool](repeating: false, count: patchCount)
        var masked = 0
        while masked < count {
            let remaining = min(Double(count - masked), maxPatches)
            let delta = addBlock(&mask, maxNew: remaining, g)
            if delta == 0 { break }
            masked += delta
        }
        return mask
    }

    /// DINOv3's variant: blocks as above, then random single patches up to exactly `count`.
    public func exactMask(count: Int, generator g: RandomGenerator) -> [Bool] {
        var mask = self.mask(count: count, generator: g)
        let free = mask.indices.filter { !mask[$0] }
        let missing = count - (patchCount - free.count)
        if missing > 0 {
            for k in g.permutation(free.count).prefix(missing) { mask[free[k]] = true }
        }
        return mask
    }
}

/// The masks of one batch of global views, as the student's iBOT loss uses them.
public struct BatchMasks: Sendable, Equatable {
    /// Number of views (rows) B and patches per view N.
    public let count: Int
    public let patches: Int
    /// (B, N) row-major: true = masked.
    public let values: [Bool]
    /// Flat indices into the (B·N) patches of the masked ones, ascending.
    public let indices: IndexTensor
    /// Σ over masked views of int(N · upper end of its ratio interval) (DINOv2's `upperbound`).
    public let upperbound: Int

    /// Masks of `count` views of `patches` patches each, row-major.
    public init(count: Int, patches: Int, values: [Bool], upperbound: Int) {
        precondition(values.count == count * patches, "BatchMasks: \(values.count) values for \(count)×\(patches)")
        self.count = count
        self.patches = patches
        self.values = values
        self.indices = IndexTensor(values.indices.filter { values[$0] })
        self.upperbound = upperbound
    }

    /// Masked patches of view b.
    public func maskedCount(view b: Int) -> Int { values[(b * patches)..<((b + 1) * patches)].filter { $0 }.count }

    /// The masks as a (B, N) 0/1 Float32 tensor.
    public var tensor: Tensor {
        Tensor(values.map { $0 ? 1 : 0 }, shape: [count, patches])
    }

    /// Per masked patch, 1 / (masked patches of its view): DINOv2's `masks_weight`, rank 1.
    public var weights: Tensor { weights(dtype: .float32) }

    /// `weights` in `dtype`, each 1/m computed in that dtype (Float64 for `precision: float64`).
    public func weights(dtype: DType) -> Tensor {
        if dtype == .float64 {
            var w = [Double]()
            w.reserveCapacity(indices.count)
            for b in 0..<count {
                let m = maskedCount(view: b)
                w.append(contentsOf: repeatElement(1 / Double(max(m, 1)), count: m))
            }
            return Tensor(doubles: w, shape: [w.count])
        }
        var w = [Float]()
        w.reserveCapacity(indices.count)
        for b in 0..<count {
            let m = maskedCount(view: b)
            for _ in 0..<m { w.append(1 / Float(max(m, 1))) }
        }
        return Tensor(w, shape: [w.count])
    }
}

/// DINOv2/v3's collation of masks: which views are masked, and with what ratio.
public struct MaskCollator: Sendable, Equatable {
    /// How the per-view patch count is drawn.
    public enum Variant: String, Sendable, Codable, CaseIterable {
        /// DINOv2: int(N · U(low_i, high_i)) patches, blocks only (may fall short).
        case dinov2
        /// DINOv3: int(N · high_i) patches, blocks then random patches to the exact count.
        case dinov3
    }

    public var generator: BlockMaskGenerator
    /// Masking ratio range [low, high] ([0.1, 0.5]).
    public var ratio: [Double]
    /// Fraction of views masked (0.5).
    public var probability: Double
    public var variant: Variant
    /// DINOv3's `mask_random_circular_shift` (default false): each masked view's mask is
    /// rolled by a random (Δy, Δx) with wrap-around after it is drawn.
    public var randomCircularShift: Bool

    /// - Parameters:
    ///   - gridSize: patches per side of a global view (crop size / patch size).
    ///   - maxPatches: the largest block (default half the grid; the reference's own rule is
    ///     `BlockMaskGenerator.referenceMaxPatches`, the same for even grid sides).
    ///   - randomCircularShift: DINOv3 only; roll each masked view's mask at random.
    public init(gridSize: Int, ratio: [Double] = [0.1, 0.5], probability: Double = 0.5, variant: Variant = .dinov2,
                maxPatches: Double? = nil, randomCircularShift: Bool = false) {
        precondition(ratio.count == 2 && 0 <= ratio[0] && ratio[0] <= ratio[1] && ratio[1] <= 1,
                     "MaskCollator: ratio must be [low, high] within [0, 1], got \(ratio)")
        precondition(!randomCircularShift || variant == .dinov3,
                     "MaskCollator: random_circular_shift exists only in DINOv3's collate")
        self.generator = BlockMaskGenerator(height: gridSize, width: gridSize, maxPatches: maxPatches)
        self.ratio = ratio
        self.probability = probability
        self.variant = variant
        self.randomCircularShift = randomCircularShift
    }

    /// DINOv3's exact patch count `int(N * probs[index])`, with `probs = torch.linspace(low,
    /// high, steps)` as PyTorch computes it on the CPU in Float32 — step `(high − low) /
    /// (steps − 1)`, element `low + step · i` (fused, one rounding) in the first half and
    /// `high − step · (steps − 1 − i)` in the second — and the product `N · p` in Float32. It
    /// differs from the Double formula at some ratios (N = 100, 12 views: int(100 · 0.3) is 29).
    ///
    /// Reference: dinov3/data/collate.py; ATen RangeFactoriesKernel.cpp (`linspace`).
    public static func float32Count(_ n: Int, ratio: [Double], steps: Int, index i: Int) -> Int {
        let low = Float(ratio[0]), high = Float(ratio[1])
        let p: Float
        if steps == 1 {
            p = low
        } else {
            let step = (high - low) / Float(steps - 1)
            p = i < steps / 2 ? low.addingProduct(step, Float(i)) : high.addingProduct(-step, Float(steps - 1 - i))
        }
        return Int(Float(n) * p)
    }

    /// `torch.roll(mask, (dy, dx), (0, 1))` on the generator's grid: patch (i, j) moves to
    /// ((i + dy) mod H, (j + dx) mod W).
    public func rolled(_ mask: [Bool], dy: Int, dx: Int) -> [Bool] {
        let (h, w) = (generator.height, generator.width)
        var out = [Bool](repeating: false, count: mask.count)
        for i in 0..<h {
            for j in 0..<w { out[((i + dy) % h) * w + (j + dx) % w] = mask[i * w + j] }
        }
        return out
    }

    /// Masks for `count` views (2 · batch size in DINOv2's crop-major layout).
    public func masks(count: Int, generator g: RandomGenerator) -> BatchMasks {
        let n = generator.patchCount
        let masked = Int(Double(count) * probability)
        // torch.linspace(low, high, masked + 1)
        let bounds = (0...masked).map { i -> Double in
            masked == 0 ? ratio[0] : ratio[0] + (ratio[1] - ratio[0]) * Double(i) / Double(masked)
        }
        var list: [[Bool]] = []
        var upperbound = 0
        for i in 0..<masked {
            switch variant {
            case .dinov2:
                let target = Int(Double(n) * g.uniform(bounds[i], bounds[i + 1]))
                list.append(generator.mask(count: target, generator: g))
            case .dinov3:
                let target = Self.float32Count(n, ratio: ratio, steps: masked + 1, index: i + 1)
                var mask = generator.exactMask(count: target, generator: g)
                if randomCircularShift {
                    // random.randint(0, H − 1), random.randint(0, W − 1), then torch.roll.
                    let dy = g.randint(0, generator.height - 1), dx = g.randint(0, generator.width - 1)
                    mask = rolled(mask, dy: dy, dx: dx)
                }
                list.append(mask)
            }
            upperbound += variant == .dinov3 ? Self.float32Count(n, ratio: ratio, steps: masked + 1, index: i + 1)
                                             : Int(Double(n) * bounds[i + 1])
        }
        for _ in masked..<count { list.append([Bool](repeating: false, count: n)) }
        let order = g.permutation(count)
        return BatchMasks(count: count, patches: n, values: order.flatMap { list[$0] }, upperbound: upperbound)
    }
}
