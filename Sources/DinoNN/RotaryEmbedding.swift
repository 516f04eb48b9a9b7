// 2-D axial rotary position embedding of DINOv3: patch centres in [−1, 1], base 100.

import DinoTensor
import Foundation

/// Sines and cosines of the rotation angles of `hw` patch tokens, ready to apply.
public struct RotaryTable {
    /// (hw, Dh): `[sin θ₀ … sin θ_{Dh/2−1}, sin θ₀ … sin θ_{Dh/2−1}]` per patch.
    public let sin: Tensor
    /// (hw, Dh)
    public let cos: Tensor

    public init(sin: Tensor, cos: Tensor) {
        precondition(sin.shape == cos.shape && sin.rank == 2,
                     "RotaryTable: sin \(sin.shape) and cos \(cos.shape) must be equal (hw, Dh) shapes")
        self.sin = sin
        self.cos = cos
    }

    /// Rotates the last `hw` tokens of x (B, H, N, Dh), leaving the first N − hw (class and
    /// register tokens) unchanged: `x cos θ + rotate_half(x) sin θ`, where
    /// `rotate_half([x₁, x₂]) = [−x₂, x₁]` on the two halves of the head dimension.
    public func apply(_ x: Tensor) -> Tensor {
        let n = x.shape[x.rank - 2], dh = x.shape[x.rank - 1], hw = sin.shape[0]
        precondition(dh == sin.shape[1] && n >= hw,
                     "RotaryTable.apply: table (\(hw), \(sin.shape[1])) for tokens of shape \(x.shape)")
        return x.rotaryEmbedding(sin: sin, cos: cos)                             // (B, H, N, Dh)
    }
}

/// DINOv3's rotary position embedding: each head's dimensions are split in four, the first
/// half rotating with the patch row coordinate and the second with the column.
///
/// For a grid of H × W patches the centre coordinates are `c = 2 · (i + ½) / H − 1` (rows;
/// likewise columns over W, "separate" normalisation), in [−1, 1]. With periods
/// `pₖ = base^(4k / Dh)`, k < Dh/4, the angles are `θ = 2π c / pₖ` for (row, col) × k,
/// tiled twice to Dh. In training, coordinates may be shifted by U(−s, s) per axis, jittered
/// by a log-uniform factor in [1/j, j] per axis and rescaled by one log-uniform factor in
/// [1/r, r] (DINOv3 pretraining uses rescale 2).
///
/// The periods are a saved buffer (`rope_embed.periods`), as in the official checkpoints.
///
/// Reference: Siméoni et al., "DINOv3" (2025); dinov3/layers/rope_position_encoding.py.
public final class RotaryEmbedding: Module {
    /// How patch coordinates are normalised to [−1, 1].
    public enum Normalization: String, Sendable, Codable {
        /// Rows over H and columns over W (DINOv3 default).
        case separate
        /// Both over max(H, W).
        case max
        /// Both over min(H, W).
        case min
    }

    public let periods: Parameter
    public let headDimensions: Int
    public let normalization: Normalization
    public let shift: Double?
    public let jitter: Double?
    public let rescale: Double?
    /// Source of the training-time coordinate augmentation.
    public let generator: RandomGenerator

    public init(headDimensions: Int, base: Double = 100, normalization: Normalization = .separate,
                shift: Double? = nil, jitter: Double? = nil, rescale: Double? = nil,
                generator: RandomGenerator) {
        precondition(headDimensions % 4 == 0, "RotaryEmbedding: head width \(headDimensions) is not a multiple of 4")
        self.headDimensions = headDimensions
        self.normalization = normalization
        self.shift = shift
        self.jitter = jitter
        self.rescale = rescale
        self.generator = generator
        let quarter = headDimensions / 4
        periods = Parameter(shape: [quarter], kind: .buffer, fill: .computed {
            // base ** (2 * arange(Dh/4) / (Dh/2)), in float32 as the reference.
            let values = (0..<quarter).map { k -> Float in
                Foundation.pow(Float(base), Float(2 * k) / Float(headDimensions / 2))
            }
            return Tensor(values, shape: [quarter])
        })
    }

    /// Patch-centre coordinates (hw, 2) as (row, column), after training-time augmentation.
    public func coordinates(height h: Int, width w: Int) -> [(Float, Float)] {
        let (dh, dw): (Float, Float)
        switch normalization {
        case .separate: (dh, dw) = (Float(h), Float(w))
        case .max: (dh, dw) = (Float(Swift.max(h, w)), Float(Swift.max(h, w)))
        case .min: (dh, dw) = (Float(Swift.min(h, w)), Float(Swift.min(h, w)))
        }
        var coords: [(Float, Float)] = []
        coords.reserveCapacity(h * w)
        for i in 0..<h {
            for j in 0..<w {
                coords.append((2 * ((Float(i) + 0.5) / dh) - 1, 2 * ((Float(j) + 0.5) / dw) - 1))
            }
        }
        guard training else { return coords }
        return RotaryEmbedding.augment(coords, draws: drawAugmentation())
    }

    /// One training step's augmentation draws: a shift per axis U(−s, s), a jitter factor per
    /// axis exp(U(−ln j, ln j)), one rescale factor exp(U(−ln r, ln r)), in the reference's
    /// order; nil for each augmentation that is off.
    public struct AugmentationDraws: Equatable, Sendable {
        public var shift: (Float, Float)?
        public var jitter: (Float, Float)?
        public var rescale: Float?

        public init(shift: (Float, Float)? = nil, jitter: (Float, Float)? = nil, rescale: Float? = nil) {
            self.shift = shift; self.jitter = jitter; self.rescale = rescale
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.shift.map { [$0.0, $0.1] } == b.shift.map { [$0.0, $0.1] } && a.jitter.map { [$0.0, $0.1] } == b.jitter.map { [$0.0, $0.1] }
                && a.rescale == b.rescale
        }
    }

    /// Draws this step's augmentation from `generator`.
    public func drawAugmentation() -> AugmentationDraws {
        var d = AugmentationDraws()
        if let shift {
            let s = generator.uniform([2], low: -shift, high: shift).scalars
            d.shift = (s[0], s[1])
        }
        if let jitter {
            let l = Foundation.log(jitter)
            let j = generator.uniform([2], low: -l, high: l).scalars.map { Foundation.exp($0) }
            d.jitter = (j[0], j[1])
        }
        if let rescale {
            let l = Foundation.log(rescale)
            d.rescale = Foundation.exp(generator.uniform([1], low: -l, high: l).scalars[0])
        }
        return d
    }

    /// Coordinates after the augmentation: `(c + shift) · jitter · rescale` per axis, as
    /// `RopePositionEmbedding.forward` applies them in training.
    public static func augment(_ coords: [(Float, Float)], draws d: AugmentationDraws) -> [(Float, Float)] {
        var coords = coords
        if let s = d.shift { coords = coords.map { ($0.0 + s.0, $0.1 + s.1) } }
        if let j = d.jitter { coords = coords.map { ($0.0 * j.0, $0.1 * j.1) } }
        if let r = d.rescale { coords = coords.map { ($0.0 * r, $0.1 * r) } }
        return coords
    }

    /// The sine and cosine tables for an H × W patch grid (not differentiable).
    public func callAsFunction(height h: Int, width w: Int) -> RotaryTable {
        table(coordinates: coordinates(height: h, width: w))
    }

    /// The sine and cosine tables of given patch coordinates (row, column).
    public func table(coordinates coords: [(Float, Float)]) -> RotaryTable {
        let p = periods.value.scalars
        let quarter = p.count, dh = headDimensions
        var sinValues = [Float](repeating: 0, count: coords.count * dh)
        var cosValues = [Float](repeating: 0, count: coords.count * dh)
        let twoPi = Float(2 * Double.pi)
        for (t, (cy, cx)) in coords.enumerated() {
            for axis in 0..<2 {
                let c = axis == 0 ? cy : cx
                for k in 0..<quarter {
                    let angle = twoPi * c / p[k]
                    let (s, co) = (Foundation.sin(angle), Foundation.cos(angle))
                    for half in 0..<2 {
                        let idx = t * dh + half * (dh / 2) + axis * quarter + k
                        sinValues[idx] = s
                        cosValues[idx] = co
                    }
                }
            }
        }
        let shape = [coords.count, dh]
        // Computed in Float32 as the reference; a Float64 model gets the same values widened.
        let dtype = periods.dtype
        return RotaryTable(sin: Tensor(sinValues, shape: shape).to(dtype), cos: Tensor(cosValues, shape: shape).to(dtype))
    }
}
