import DinoTensor
import DinoVision
import Foundation
import Testing

/// Statistics of the iBOT block masks (DINOv2 MaskingGenerator and collate).
@Suite struct MaskingTests {
    /// Connected components (4-neighbour) of a mask, as sizes.
    static func components(_ mask: [Bool], side: Int) -> [Int] {
        var seen = [Bool](repeating: false, count: mask.count)
        var sizes: [Int] = []
        for start in mask.indices where mask[start] && !seen[start] {
            var stack = [start], size = 0
            seen[start] = true
            while let p = stack.popLast() {
                size += 1
                let (y, x) = (p / side, p % side)
                for (dy, dx) in [(0, 1), (0, -1), (1, 0), (-1, 0)] {
                    let (ny, nx) = (y + dy, x + dx)
                    guard ny >= 0 && ny < side && nx >= 0 && nx < side else { continue }
                    let q = ny * side + nx
                    if mask[q] && !seen[q] { seen[q] = true; stack.append(q) }
                }
            }
            sizes.append(size)
        }
        return sizes
    }

    @Test func blockMasksReachTheirTargetInBlocks() {
        let gen = BlockMaskGenerator(height: 16, width: 16)
        #expect(gen.maxPatches == 128)
        let g = RandomGenerator(seed: 4)
        var shortfalls = 0
        for target in stride(from: 26, through: 128, by: 17) {
            for _ in 0..<20 {
                let m = gen.mask(count: target, generator: g)
                let n = m.filter { $0 }.count
                // Never more than asked; short only when no block fits (rare).
                #expect(n <= target)
                if n < target { shortfalls += 1 }
                // While ≥ 4 patches remain, blocks have a target area ≥ 4, which rounds to
                // at least 3 patches (1×3 at aspect 1/2), and overlapping blocks merge. Only
                // the top-up after that (target U(4, r) with r < 4, as in the official code)
                // adds smaller pieces, at most 3 patches in all.
                let small = Self.components(m, side: 16).filter { $0 < 3 }.reduce(0, +)
                #expect(small <= 3, "\(small) patches in components smaller than 3")
            }
        }
        #expect(shortfalls < 12, "\(shortfalls) of 120 masks fell short of their target")
        #expect(gen.mask(count: 0, generator: g).allSatisfy { !$0 })
    }

    @Test func dinov3MasksHaveExactlyTheTargetCount() {
        let gen = BlockMaskGenerator(height: 14, width: 14)
        let g = RandomGenerator(seed: 8)
        for target in [0, 5, 19, 50, 98] {
            #expect(gen.exactMask(count: target, generator: g).filter { $0 }.count == target)
        }
    }

    @Test func collatedMasksAreStratifiedAndHalfTheViews() {
        let collator = MaskCollator(gridSize: 16)   // 224 / 14
        let n = 256
        var ratiosByStratum: [Double] = []
        for seed in 0..<30 {
            let masks = collator.masks(count: 16, generator: RandomGenerator(seed: UInt64(seed)))
            #expect(masks.count == 16 && masks.patches == n)
            let counts = (0..<16).map { masks.maskedCount(view: $0) }
            // int(16 · 0.5) = 8 views masked, the other 8 untouched.
            #expect(counts.filter { $0 > 0 }.count == 8)
            // Ratios are drawn one per stratum of [0.1, 0.5] (width 0.05): sorted, the i-th
            // masked view lies in [0.1 + 0.05 i, 0.1 + 0.05 (i + 1)] (blocks may fall short).
            let sorted = counts.filter { $0 > 0 }.sorted()
            for (i, c) in sorted.enumerated() {
                let r = Double(c) / Double(n)
                #expect(r <= 0.1 + 0.05 * Double(i + 1) + 1e-9, "view \(i): ratio \(r)")
                ratiosByStratum.append(r)
            }
            #expect(sorted.last! >= Int(0.4 * Double(n)))
            var upperbound = 0
            for i in 1...8 { upperbound += Int(Double(n) * (0.1 + 0.05 * Double(i))) }
            #expect(masks.upperbound == upperbound)
            // Indices and weights agree with the boolean masks.
            #expect(masks.indices.count == counts.reduce(0, +))
            #expect(masks.indices.indices.allSatisfy { masks.values[$0] })
            let w = masks.weights.scalars
            #expect(w.count == masks.indices.count)
            #expect(abs(w.reduce(0, +) - 8) < 1e-3)   // each masked view's weights sum to 1
        }
        let mean = ratiosByStratum.reduce(0, +) / Double(ratiosByStratum.count)
        #expect(abs(mean - 0.3) < 0.02, "mean masking ratio of masked views \(mean)")
    }

    @Test func eachViewIsMaskedWithProbabilityOneHalf() {
        // Which views are masked is a shuffle: over many batches each position is masked
        // about half of the time.
        let collator = MaskCollator(gridSize: 8, variant: .dinov3)
        var masked = [Int](repeating: 0, count: 8)
        for seed in 0..<400 {
            let m = collator.masks(count: 8, generator: RandomGenerator(seed: UInt64(seed)))
            for b in 0..<8 where m.maskedCount(view: b) > 0 { masked[b] += 1 }
        }
        #expect(masked.allSatisfy { abs(Double($0) / 400 - 0.5) < 0.1 }, "\(masked)")
        let t = collator.masks(count: 8, generator: RandomGenerator(seed: 1)).tensor
        #expect(t.shape == [8, 64])
    }
}
