import DinoTensor
import DinoVision
import Foundation
import Testing

/// The iBOT masks against statistics of the official DINOv2 generator and collate
/// (Fixtures/dinov2_masking.json, from scripts/make_dinov2_fixtures.py running
/// dinov2/data/masking.py and collate.py unchanged). The official code draws from Python's
/// `random`, which cannot be replayed, so distributions are compared: each mean must agree
/// within 4.5 combined standard errors (a false alarm about once in 150 000 comparisons).
@Suite struct MaskingReferenceTests {
    struct Reference: Decodable {
        struct Target: Decodable {
            let target: Int
            let count_mean: Double, count_se: Double
            let short_mean: Double, short_se: Double
            let blocks_mean: Double, blocks_se: Double
        }
        struct Collate: Decodable {
            let views: Int
            let upperbound: Int
            let total_mean: Double, total_se: Double
            let sorted_count_mean: [Double], sorted_count_se: [Double]
        }
        struct Grid: Decodable {
            let side: Int
            let max_patches: Double
            let samples: Int
            let targets: [Target]
            let collate: Collate
        }
        let grids: [Grid]
    }

    static let reference: Reference = {
        guard let url = Bundle.module.url(forResource: "dinov2_masking", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("fixture dinov2_masking.json missing; run scripts/make_dinov2_fixtures.py")
        }
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    static func meanSE(_ values: [Double]) -> (Double, Double) {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// nil when `ours` and the reference's mean agree within 4.5 combined standard errors
    /// (with a floor for statistics that hardly vary).
    static func disagreement(_ label: String, ours: (Double, Double), reference: Double, se: Double) -> String? {
        let allowed = 4.5 * (ours.1 * ours.1 + se * se).squareRoot() + 1e-3
        let diff = abs(ours.0 - reference)
        return diff <= allowed ? nil : "\(label): ours \(ours.0) ± \(ours.1), official \(reference) ± \(se) (allowed \(allowed))"
    }

    @Test func blockMasksMatchTheOfficialGenerator() {
        for grid in Self.reference.grids {
            // train.py: max_num_patches = 0.5 · N (as the collator's default).
            let gen = BlockMaskGenerator(height: grid.side, width: grid.side, maxPatches: grid.max_patches)
            #expect(gen == MaskCollator(gridSize: grid.side).generator)
            let g = RandomGenerator(seed: UInt64(grid.side))
            for t in grid.targets {
                var counts: [Double] = [], short: [Double] = [], blocks: [Double] = []
                for _ in 0..<grid.samples {
                    let m = gen.mask(count: t.target, generator: g)
                    let c = m.filter { $0 }.count
                    counts.append(Double(c))
                    short.append(c < t.target ? 1 : 0)
                    blocks.append(Double(MaskingTests.components(m, side: grid.side).count))
                }
                let label = "\(grid.side)×\(grid.side), target \(t.target)"
                #expect(Self.disagreement("\(label) count", ours: Self.meanSE(counts), reference: t.count_mean, se: t.count_se) == nil)
                #expect(Self.disagreement("\(label) short", ours: Self.meanSE(short), reference: t.short_mean, se: t.short_se) == nil)
                #expect(Self.disagreement("\(label) blocks", ours: Self.meanSE(blocks), reference: t.blocks_mean, se: t.blocks_se) == nil)
            }
        }
    }

    @Test func collatedMasksMatchTheOfficialCollate() {
        for grid in Self.reference.grids {
            let ref = grid.collate
            let collator = MaskCollator(gridSize: grid.side)
            let g = RandomGenerator(seed: 100 + UInt64(grid.side))
            let batches = grid.samples / 4
            var totals: [Double] = []
            var byRank = [[Double]](repeating: [], count: ref.views / 2)
            for _ in 0..<batches {
                let masks = collator.masks(count: ref.views, generator: g)
                #expect(masks.upperbound == ref.upperbound)
                totals.append(Double(masks.indices.count))
                let sorted = (0..<ref.views).map { masks.maskedCount(view: $0) }.sorted().suffix(ref.views / 2)
                for (r, c) in sorted.enumerated() { byRank[r].append(Double(c)) }
            }
            let label = "\(grid.side)×\(grid.side) collate"
            #expect(Self.disagreement("\(label) total", ours: Self.meanSE(totals), reference: ref.total_mean, se: ref.total_se) == nil)
            for r in 0..<(ref.views / 2) {
                #expect(Self.disagreement("\(label) rank \(r)", ours: Self.meanSE(byRank[r]),
                                          reference: ref.sorted_count_mean[r], se: ref.sorted_count_se[r]) == nil)
            }
        }
    }
}
