@testable import DinoCuration
import DinoTensor
import Foundation
import Testing

/// The toy of ssl-data-curation's README: points on 5 rings of 20000, 200, 1000, 500 and 8000
/// points, 2-level hierarchical k-means with resampling ([1000, 300] clusters, sample sizes
/// [15, 2]), then 1000 points by hierarchical sampling.
/// Here at a tenth of the size (ring sizes, cluster counts and the target ÷ 10; sample sizes
/// unchanged) to keep the test short, and with thresholds for that size: issue 14 asks for a
/// normalised entropy of the ring shares ≥ 0.97 and a smallest share ≥ 0.10 at full size;
/// at a tenth the reference code itself gives 0.92–0.97 and 0.08–0.10 over numpy seeds 0–2
/// (scripts/curation_rings_reference.py PATH 10), so the bar here is ≥ 0.90 and ≥ 0.07.
/// Random sampling gives about 0.5 and 0.005. Full-size numbers: docs/benchmarks-curate.md.
@Suite struct RingsToyTests {
    static let ringSizes = [20000, 200, 1000, 500, 8000]
    static let ringCentres: [(Double, Double)] = [(-2.2, 1), (0, 1), (2.2, 1), (-1.2, 0.2), (1.2, 0.2)]

    static func rings(scale: Int, seed: UInt64) -> (Tensor, [Int]) {
        let g = RandomGenerator(seed: seed)
        var xs: [Float] = [], ring: [Int] = []
        for (r, size) in ringSizes.enumerated() {
            for _ in 0..<(size / scale) {
                let radius = g.nextDouble() * 0.3 + 0.7, alpha = g.nextDouble() * 2 * Double.pi
                xs += [Float(radius * cos(alpha) + ringCentres[r].0), Float(radius * sin(alpha) + ringCentres[r].1)]
                ring.append(r)
            }
        }
        return (Tensor(xs, shape: [ring.count, 2]), ring)
    }

    static func shares(_ samples: [Int], ring: [Int]) -> [Double] {
        var counts = [Double](repeating: 0, count: ringSizes.count)
        for i in samples { counts[ring[i]] += 1 }
        return counts.map { $0 / Double(samples.count) }
    }

    static func normalisedEntropy(_ p: [Double]) -> Double {
        -p.filter { $0 > 0 }.reduce(0) { $0 + $1 * log($1) } / log(Double(p.count))
    }

    @Test(arguments: [0 as UInt64, 1, 2])
    func balancedSamplingEvensOutTheRings(seed: UInt64) throws {
        let scale = 10
        let (data, ring) = RingsToyTests.rings(scale: scale, seed: seed)
        let config = HierarchicalKMeansConfig(clusters: [1000 / scale, 300 / scale], sampleSizes: [15, 2])
        let random = SeededRandomSource(seed: 100 + seed)
        let levels = try HierarchicalKMeans(config).fit(data, random: random)
        let samples = try HierarchicalSampling(target: 1000 / scale).sample(levels.map(\.clusters), random: random)
        #expect(samples.count == 1000 / scale && Set(samples).count == samples.count)
        let p = RingsToyTests.shares(samples, ring: ring)
        #expect(RingsToyTests.normalisedEntropy(p) >= 0.90, "ring shares \(p)")
        #expect(p.min()! >= 0.07, "ring shares \(p)")
        // Random sampling of the same data, for contrast: far from balanced.
        let uniform = SeededRandomSource(seed: seed).choose(1000 / scale, from: ring.count)
        #expect(RingsToyTests.shares(uniform, ring: ring)[1] < 0.05)
    }
}
