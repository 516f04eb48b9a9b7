// Seeded, counter-based random numbers (Philox4x32-10).
//
// Element i of a draw is a pure function of (seed, stream offset, i), so a draw gives
// bit-identical values whatever the number of threads that fill it. The generator's whole
// state is two integers (`seed`, `offset`), saved in checkpoints for bit-exact resume.
//
// Reference: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC 2011).

import Foundation

/// Philox4x32 with 10 rounds: 128-bit counter and 64-bit key to 128 random bits.
@inline(__always)
func philox4x32(_ counter: SIMD4<UInt32>, _ key: SIMD2<UInt32>) -> SIMD4<UInt32> {
    var c = counter
    var k = key
    for _ in 0..<10 {
        let p0 = UInt64(0xD251_1F53) &* UInt64(c[0])
        let p1 = UInt64(0xCD9E_8D57) &* UInt64(c[2])
        c = SIMD4(UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
                  UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0))
        k &+= SIMD2(0x9E37_79B9, 0xBB67_AE85)
    }
    return c
}

/// A reproducible stream of random numbers: `(seed, offset)` is its entire state.
public final class RandomGenerator: Codable, @unchecked Sendable {
    /// The key of the stream.
    public let seed: UInt64
    /// Number of 128-bit blocks consumed so far.
    public private(set) var offset: UInt64

    public init(seed: UInt64, offset: UInt64 = 0) {
        self.seed = seed
        self.offset = offset
    }

    /// Moves this generator to the position of `state`, a saved copy of a generator with the
    /// same seed, so that layers holding this instance continue a checkpointed stream.
    public func restore(_ state: RandomGenerator) {
        precondition(state.seed == seed, "RandomGenerator.restore: seed \(state.seed) saved, this generator has seed \(seed)")
        offset = state.offset
    }

    /// An independent generator derived from this one's seed and a label (e.g. per worker).
    public func fork(_ label: UInt64) -> RandomGenerator {
        let block = philox4x32(SIMD4(UInt32(truncatingIfNeeded: label), UInt32(truncatingIfNeeded: label >> 32), 0xF0F0_F0F0, 1), key)
        return RandomGenerator(seed: UInt64(block[0]) | UInt64(block[1]) << 32)
    }

    var key: SIMD2<UInt32> { SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)) }

    /// Reserves `blocks` consecutive blocks and returns the first one's index.
    func reserve(_ blocks: Int) -> UInt64 {
        let start = offset
        offset &+= UInt64(blocks)
        return start
    }

    @inline(__always)
    static func block(_ index: UInt64, _ key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        philox4x32(SIMD4(UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32), 0, 0), key)
    }

    /// Fills `count` values from blocks `start…`, `perBlock` values per block, in parallel.
    func fill<T: TensorScalar>(_ out: UnsafeMutablePointer<T>, count: Int, perBlock: Int,
                                 _ make: (SIMD4<UInt32>, Int) -> T) {
        let blocks = (count + perBlock - 1) / perBlock
        let start = reserve(blocks)
        let key = self.key
        parallelFor(blocks, grain: 4096) { r in
            for b in r {
                let bits = RandomGenerator.block(start &+ UInt64(b), key)
                for j in 0..<perBlock {
                    let i = b * perBlock + j
                    if i < count { out[i] = make(bits, j) }
                }
            }
        }
    }

    // MARK: Scalars

    /// Uniform in [0, 1) with 24 random bits.
    public func nextFloat() -> Float {
        let bits = RandomGenerator.block(reserve(1), key)
        return Float(bits[0] >> 8) * 0x1p-24
    }

    /// Uniform in [0, 1) with 53 random bits.
    public func nextDouble() -> Double {
        let bits = RandomGenerator.block(reserve(1), key)
        return RandomGenerator.unitDouble(bits[0], bits[1])
    }

    /// Uniform integer in `0..<bound` (bias below 2⁻³² for the bounds used here).
    public func nextInt(_ bound: Int) -> Int {
        precondition(bound > 0, "nextInt: bound must be positive, got \(bound)")
        let bits = RandomGenerator.block(reserve(1), key)
        let r = UInt64(bits[0]) | UInt64(bits[1]) << 32
        return Int(r.multipliedFullWidth(by: UInt64(bound)).high)
    }

    @inline(__always)
    static func unitDouble(_ a: UInt32, _ b: UInt32) -> Double {
        Double((UInt64(a) << 21) ^ (UInt64(b) >> 11)) * 0x1p-53
    }

    // MARK: Tensors

    /// Uniform values in [low, high).
    public func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32) -> Tensor {
        let t = Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(shape), zeroed: false), shape: shape)
        switch dtype {
        case .float32:
            let (lo, span) = (Float(low), Float(high - low))
            fill(t.pointer(Float.self), count: t.count, perBlock: 4) { bits, j in
                lo + span * (Float(bits[j] >> 8) * 0x1p-24)
            }
        case .float64:
            fill(t.pointer(Double.self), count: t.count, perBlock: 2) { bits, j in
                low + (high - low) * RandomGenerator.unitDouble(bits[2 * j], bits[2 * j + 1])
            }
        }
        return t
    }

    /// Normal values with the given mean and standard deviation (Box–Muller, both outputs used).
    public func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32) -> Tensor {
        let t = Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(shape), zeroed: false), shape: shape)
        @inline(__always) func gauss(_ bits: SIMD4<UInt32>, _ j: Int) -> Double {
            let pair = j / 2
            let u1 = (Double(bits[2 * pair] >> 8) + 1) * 0x1p-24     // (0, 1]
            let u2 = Double(bits[2 * pair + 1] >> 8) * 0x1p-24       // [0, 1)
            let r = (-2 * Foundation.log(u1)).squareRoot()
            let theta = 2 * Double.pi * u2
            return r * (j % 2 == 0 ? Foundation.cos(theta) : Foundation.sin(theta))
        }
        switch dtype {
        case .float32:
            fill(t.pointer(Float.self), count: t.count, perBlock: 4) { bits, j in Float(mean + std * gauss(bits, j)) }
        case .float64:
            fill(t.pointer(Double.self), count: t.count, perBlock: 4) { bits, j in mean + std * gauss(bits, j) }
        }
        return t
    }

    /// 1 with probability `p`, else 0.
    public func bernoulli(_ shape: [Int], p: Double, dtype: DType = .float32) -> Tensor {
        precondition(p >= 0 && p <= 1, "bernoulli: probability \(p) outside [0, 1]")
        let t = Tensor(storage: TensorStorage(dtype: dtype, count: shapeCount(shape), zeroed: false), shape: shape)
        let threshold = p
        switch dtype {
        case .float32:
            fill(t.pointer(Float.self), count: t.count, perBlock: 2) { bits, j in
                RandomGenerator.unitDouble(bits[2 * j], bits[2 * j + 1]) < threshold ? 1 : 0
            }
        case .float64:
            fill(t.pointer(Double.self), count: t.count, perBlock: 2) { bits, j in
                RandomGenerator.unitDouble(bits[2 * j], bits[2 * j + 1]) < threshold ? 1 : 0
            }
        }
        return t
    }

    /// A uniformly random permutation of `0..<n` (sort by 64-bit random keys, ties by index).
    public func permutation(_ n: Int) -> [Int] {
        let start = reserve((n + 1) / 2)
        let key = self.key
        var keys = [UInt64](repeating: 0, count: n)
        for i in 0..<n {
            let bits = RandomGenerator.block(start &+ UInt64(i / 2), key)
            let h = i % 2
            keys[i] = UInt64(bits[2 * h]) << 32 | UInt64(bits[2 * h + 1])
        }
        return (0..<n).sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
    }
}
