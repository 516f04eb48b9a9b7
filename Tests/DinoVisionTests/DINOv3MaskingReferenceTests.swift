import DinoTensor
import DinoVision
import Foundation
import Testing

/// DINOv3's exact-count iBOT masks against the official generator and collate
/// (Fixtures/dinov3_masking.json, from scripts/make_dinov3_fixtures.py running
/// dinov3/data/masking.py and collate.py unchanged). The official code draws from Python's
/// `random` and NumPy, which cannot be replayed, so what is deterministic is compared exactly
/// (every mask's count, the sorted counts of a batch's views with PyTorch's Float32 ratios,
/// `upperbound`) and the block
/// structure by its mean number of connected components (within 4.5 combined standard errors,
/// as MaskingReferenceTests does for DINOv2).
@Suite struct DINOv3MaskingReferenceTests {
    struct Reference: Decodable {
        struct Target: Decodable {
            let target: Int
            let counts: [Int]
            let blocks_mean: Double, blocks_se: Double
        }
        struct Collate: Decodable {
            let views: Int
            let sorted_counts: [Int]
            let upperbound: Int
            let blocks_mean: Double, blocks_se: Double
        }
        struct Grid: Decodable {
            let side: Int, patch: Int, image: Int
            let max_patches: Double
            let samples: Int
            let targets: [Target]
            let collate: [Collate]
        }
        let grids: [Grid]
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "dinov3_masking", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("fixture dinov3_masking.json missing; run scripts/make_dinov3_fixtures.py")
        }
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    static func collator(_ grid: Reference.Grid) -> MaskCollator {
        MaskCollator(gridSize: grid.side, variant: .dinov3,
                     maxPatches: BlockMaskGenerator.referenceMaxPatches(cropSize: grid.image, patchSize: grid.patch))
    }

    @Test func maxPatchesFollowTrainPy() {
        for grid in Self.reference.grids {
            #expect(BlockMaskGenerator.referenceMaxPatches(cropSize: grid.image, patchSize: grid.patch) == grid.max_patches)
        }
        // Even grids: half the grid, the collator's default.
        #expect(BlockMaskGenerator.referenceMaxPatches(cropSize: 224, patchSize: 14) == 128)
        #expect(BlockMaskGenerator.referenceMaxPatches(cropSize: 28, patchSize: 4) == 21)
    }

    @Test func countsFollowPyTorchsFloat32Linspace() {
        // torch.linspace(0.1, 0.5, 7)[3] is 0.29999998 in Float32: int(100 · p) = 29, not 30.
        #expect(MaskCollator.float32Count(100, ratio: [0.1, 0.5], steps: 7, index: 3) == 29)
        #expect(Int(100 * (0.1 + 0.4 * 3.0 / 6)) == 30)
        #expect(MaskCollator.float32Count(64, ratio: [0.1, 0.5], steps: 9, index: 8) == 32)
        #expect(MaskCollator.float32Count(64, ratio: [0.1, 0.5], steps: 1, index: 0) == 6)
    }

    @Test func masksHaveTheOfficialCountsAndBlocks() {
        for grid in Self.reference.grids {
            let gen = Self.collator(grid).generator
            let g = RandomGenerator(seed: 30 + UInt64(grid.side))
            let samples = grid.samples / 3
            for t in grid.targets {
                #expect(t.counts == [t.target], "the official generator's counts")
                var blocks: [Double] = []
                for _ in 0..<samples {
                    let m = gen.exactMask(count: t.target, generator: g)
                    #expect(m.filter { $0 }.count == t.target)
                    blocks.append(Double(MaskingTests.components(m, side: grid.side).count))
                }
                let label = "\(grid.side)×\(grid.side), target \(t.target) blocks"
                #expect(MaskingReferenceTests.disagreement(label, ours: MaskingReferenceTests.meanSE(blocks),
                                                           reference: t.blocks_mean, se: t.blocks_se) == nil)
            }
        }
    }

    @Test func collatedCountsMatchTheOfficialCollateExactly() {
        for grid in Self.reference.grids {
            let collator = Self.collator(grid)
            let g = RandomGenerator(seed: 200 + UInt64(grid.side))
            for ref in grid.collate {
                var blocks: [Double] = []
                for _ in 0..<(grid.samples / 30) {
                    let masks = collator.masks(count: ref.views, generator: g)
                    let counts = (0..<ref.views).map { masks.maskedCount(view: $0) }
                    #expect(counts.sorted() == ref.sorted_counts, "\(grid.side)×\(grid.side), \(ref.views) views")
                    #expect(masks.upperbound == ref.upperbound)
                    #expect(masks.indices.count == ref.sorted_counts.reduce(0, +))
                    blocks.append(Double((0..<ref.views).map { b in
                        MaskingTests.components(Array(masks.values[(b * masks.patches)..<((b + 1) * masks.patches)]), side: grid.side).count
                    }.reduce(0, +)))
                }
                let label = "\(grid.side)×\(grid.side) collate of \(ref.views) blocks"
                #expect(MaskingReferenceTests.disagreement(label, ours: MaskingReferenceTests.meanSE(blocks),
                                                           reference: ref.blocks_mean, se: ref.blocks_se) == nil)
            }
        }
    }

    @Test func circularShiftRollsEachMaskedViewAndKeepsItsCount() {
        let plain = MaskCollator(gridSize: 6, variant: .dinov3)
        let shifted = MaskCollator(gridSize: 6, variant: .dinov3, randomCircularShift: true)
        var moved = 0
        for seed in 0..<20 {
            let a = plain.masks(count: 8, generator: RandomGenerator(seed: UInt64(seed)))
            let b = shifted.masks(count: 8, generator: RandomGenerator(seed: UInt64(seed)))
            #expect((0..<8).map { a.maskedCount(view: $0) }.sorted() == (0..<8).map { b.maskedCount(view: $0) }.sorted())
            #expect(b.upperbound == a.upperbound)
            if a.values != b.values { moved += 1 }
        }
        #expect(moved > 10, "the shift should change most batches (\(moved) of 20)")
        // The roll itself: torch.roll(mask, (1, 2), (0, 1)) moves (0, 0) to (1, 2) and wraps.
        var m = [Bool](repeating: false, count: 36)
        m[0] = true; m[5 * 6 + 5] = true
        let r = shifted.rolled(m, dy: 1, dx: 2)
        let set: [Int] = r.indices.filter { r[$0] }
        #expect(set == [1, 8])   // (5, 5) → (0, 1); (0, 0) → (1, 2)
        // Same seed, same masks.
        #expect(shifted.masks(count: 8, generator: RandomGenerator(seed: 3)) == shifted.masks(count: 8, generator: RandomGenerator(seed: 3)))
    }
}
