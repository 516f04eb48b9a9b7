@testable import DinoCuration
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

// Golden tests against facebookresearch/ssl-data-curation (scripts/make_curation_fixtures.py):
// the reference's random draws are replayed, so the k-means++ seeds and random choices are
// the same on both sides and every other step must agree.

struct RecordedDraw: Decodable {
    let kind: String
    let n: Int
    let values: [Double]
}

/// Replays a recorded stream of numpy draws, checking that each call asks for what the
/// reference asked for at that point.
final class ReplayRandomSource: CurationRandomSource {
    var draws: [RecordedDraw]
    var position = 0
    var mismatch: String?

    init(_ draws: [RecordedDraw]) { self.draws = draws }

    func next(_ kind: String, _ n: Int) -> [Double] {
        guard position < draws.count else {
            if mismatch == nil { mismatch = "draw \(position) (\(kind) \(n)) past the end of the \(draws.count) recorded" }
            return []
        }
        let d = draws[position]
        if (d.kind != kind || d.n != n) && mismatch == nil {
            mismatch = "draw \(position): asked \(kind) \(n), the reference drew \(d.kind) \(d.n)"
        }
        position += 1
        return d.values
    }

    func integer(below n: Int) -> Int { Int(next("randint", n).first ?? 0) }
    func uniforms(_ count: Int) -> [Double] {
        let v = next("uniform", count)
        return v.count == count ? v : [Double](repeating: 0.5, count: count)
    }
    func choose(_ k: Int, from n: Int) -> [Int] {
        let v = next("choice", n).map { Int($0) }
        if v.count != k && mismatch == nil { mismatch = "draw \(position - 1): \(k) chosen, the reference chose \(v.count)" }
        return v.count == k ? v : Array(0..<k)
    }
    var finished: Bool { mismatch == nil && position == draws.count }
}

struct CurationFixture: Decodable {
    struct KMeansCase: Decodable {
        let clusters: Int, iterations: Int, initializations: Int
        let events: [RecordedDraw]
        let centroids: [[Float]]
        let assignment: [Int32]
        let potential: Double
    }
    struct Level: Decodable {
        let centroids: [[Float]]
        let assignment: [Int32]
        let sorted_clusters: [[Int]]
    }
    struct HierarchicalCase: Decodable {
        let clusters: [Int], sample_sizes: [Int], resampling_steps: [Int]
        let events: [RecordedDraw]
        let levels: [Level]
    }
    struct SamplingCase: Decodable {
        let target: Int, multiplier: Int, strategy: String
        let events: [RecordedDraw]
        let samples: [Int]
    }
    let data: [[Float]]
    let kmeans: KMeansCase
    let hierarchical: HierarchicalCase
    let sampling_c: SamplingCase
    let sampling_r: SamplingCase
    let sampling_m2: SamplingCase

    static func load() throws -> CurationFixture {
        guard let url = Bundle.module.url(forResource: "hierarchical_kmeans", withExtension: "json", subdirectory: "Fixtures") else {
            throw CurationError("fixture hierarchical_kmeans.json missing; run scripts/make_curation_fixtures.py")
        }
        return try JSONDecoder().decode(CurationFixture.self, from: Data(contentsOf: url))
    }

    var tensor: Tensor { Tensor(data.flatMap { $0 }, shape: [data.count, data[0].count]) }
}

@Suite struct HierarchicalKMeansGoldenTests {
    @Test func kmeansMatchesTheReferenceFromTheSameDraws() throws {
        let f = try CurationFixture.load()
        let random = ReplayRandomSource(f.kmeans.events)
        let fit = KMeans(clusters: f.kmeans.clusters, iterations: f.kmeans.iterations,
                         initializations: f.kmeans.initializations).fit(f.tensor, random: random)
        #expect(random.finished, "\(random.mismatch ?? "draws left over")")
        #expect(fit.assignment == f.kmeans.assignment)
        #expect(mismatch(fit.centroids.scalars, f.kmeans.centroids.flatMap { $0 }, rtol: 1e-5, atol: 1e-5) == nil)
        #expect(abs(fit.potential - f.kmeans.potential) <= 1e-4 * f.kmeans.potential)
    }

    @Test func hierarchicalKMeansWithResamplingMatchesTheReference() throws {
        let f = try CurationFixture.load()
        let h = f.hierarchical
        let random = ReplayRandomSource(h.events)
        let levels = try HierarchicalKMeans(HierarchicalKMeansConfig(clusters: h.clusters, resamplingSteps: h.resampling_steps,
                                                                     sampleSizes: h.sample_sizes)).fit(f.tensor, random: random)
        #expect(random.finished, "\(random.mismatch ?? "draws left over")")
        #expect(levels.count == h.levels.count)
        for (mine, theirs) in zip(levels, h.levels) {
            #expect(mine.clusters == theirs.sorted_clusters)
            #expect(mismatch(mine.centroids.scalars, theirs.centroids.flatMap { $0 }, rtol: 1e-5, atol: 1e-5) == nil)
        }
    }

    @Test func hierarchicalSamplingMatchesTheReference() throws {
        let f = try CurationFixture.load()
        let levels = f.hierarchical.levels.map(\.sorted_clusters)
        for c in [f.sampling_c, f.sampling_r, f.sampling_m2] {
            let random = ReplayRandomSource(c.events)
            let samples = try HierarchicalSampling(target: c.target, multiplier: c.multiplier,
                                                   strategy: ClusterSamplingStrategy(rawValue: c.strategy)!).sample(levels, random: random)
            #expect(random.finished, "\(c.strategy) ×\(c.multiplier): \(random.mismatch ?? "draws left over")")
            #expect(samples == c.samples, "\(c.strategy) ×\(c.multiplier)")
        }
    }
}

@Suite struct HierarchicalSamplingTests {
    @Test func bestCutLeftFindsTheLargestCapWithinTheTarget() {
        // Σ min(x, a): x = 3 → 10, x = 4 → 13; target 12 → 3.
        #expect(HierarchicalSampling.bestCutLeft([10, 1, 4, 7], target: 12) == 3)
        #expect(HierarchicalSampling.bestCutLeft([10, 1, 4, 7], target: 13) == 4)
        #expect(HierarchicalSampling.bestCutLeft([10, 1, 4, 7], target: 100) == 10)
    }

    @Test func sharesAddUpToTheTargetAndFillSmallClusters() throws {
        let random = SeededRandomSource(seed: 1)
        let shares = try HierarchicalSampling.subclusterTargetSizes([10, 1, 4, 7], target: 12, multiplier: 1, random: random)
        #expect(shares.reduce(0, +) == 12 && shares[1] == 1)
        #expect(shares.filter { $0 == 4 }.count == 2 && shares.filter { $0 == 3 }.count == 1)
        #expect(try HierarchicalSampling.subclusterTargetSizes([2, 3], target: 50, multiplier: 2, random: random) == [4, 6])
    }

    @Test func badHierarchiesAreRejectedWithTheLevel() {
        #expect(throws: CurationError.self) { try HierarchicalSampling(target: 3).sample([[[0, 1]], [[0, 5]]], random: SeededRandomSource(seed: 0)) }
    }

    @Test func defaultsScaleWithThePool() throws {
        let c = try HierarchicalKMeansConfig.defaults(points: 29_700)
        #expect(c.clusters == [990, 247, 61] && c.sampleSizes == [15, 2, 2] && c.resamplingSteps == [10, 10, 10])
        #expect(try HierarchicalKMeansConfig.defaults(points: 300).clusters == [10])
        #expect(try HierarchicalKMeansConfig.defaults(points: 1000, clusters: [20, 5]).sampleSizes == [25, 2])
        #expect(throws: CurationError.self) { try HierarchicalKMeansConfig.defaults(points: 1000, clusters: [20, 5], sampleSizes: [3]) }
    }

    @Test func configRejectsUnknownKeysAndMismatchedLists() throws {
        let ok = #"{"clusters": [10, 3], "sample_sizes": [4, 2]}"#
        let c = try ConfigLoader.decode(HierarchicalKMeansConfig.self, from: JSONValue.parse(ok))
        #expect(c.resamplingSteps == [10, 10] && c.iterations == 50 && c.resamplingStrategy == .closest)
        #expect(throws: ConfigError.self) {
            try ConfigLoader.decode(HierarchicalKMeansConfig.self, from: JSONValue.parse(#"{"clusters": [10], "sample_sizes": [4], "n_iter": 3}"#))
        }
        #expect(throws: CurationError.self) {
            try ConfigLoader.decode(HierarchicalKMeansConfig.self, from: JSONValue.parse(#"{"clusters": [10, 3], "sample_sizes": [4]}"#))
        }
        #expect(throws: CurationError.self) { try ConfigLoader.decode(HierarchicalKMeansConfig.self, from: JSONValue.parse("{}")) }
    }
}

@Suite struct KMeansKernelTests {
    /// The vectorised nearest-centroid scan picks what a scalar scan of
    /// (‖c‖² − 2·c·x) + ‖x‖² with ties to the lowest index picks — including ties planted
    /// across SIMD lanes and in the scalar tail, and k below one vector.
    @Test func nearestCentroidEqualsTheScalarScanTiesIncluded() {
        let g = RandomGenerator(seed: 11)
        for k in [1, 5, 16, 17, 37, 64, 1000] {
            for trial in 0..<40 {
                var dots = (0..<k).map { _ in Float(g.nextInt(9)) / 4 }   // few distinct values: many ties
                let norms = (0..<k).map { _ in Float(g.nextInt(5)) / 2 }
                if trial % 4 == 0 { dots = dots.map { $0 + Float(g.nextDouble()) } }
                let xn = Float(g.nextInt(3))
                var best: Float = .infinity, expected = 0
                for c in 0..<k {
                    let d = (norms[c] - 2 * dots[c]) + xn
                    if d < best { best = d; expected = c }
                }
                let got = dots.withUnsafeBufferPointer { dp in
                    norms.withUnsafeBufferPointer { np in
                        KMeans.nearest(dots: dp.baseAddress!, centroidNorms: np.baseAddress!, k: k, rowNorm: xn)
                    }
                }
                #expect(got == expected, "k \(k), trial \(trial)")
            }
        }
    }

    /// Centroids are the means of their members, computed column-parallel in the reference's
    /// order, whatever the thread count; an empty cluster keeps its previous centroid.
    @Test func meansAreTheMembersMeanOnAnyThreadCount() {
        let x = Sample.normal([500, 40], seed: 3)
        let assignment = (0..<500).map { Int32($0 % 7 == 3 ? 0 : $0 % 5) }          // cluster 5 empty
        let previous = Sample.normal([6, 40], seed: 4)
        let one = Threads.with(1) { KMeans.means(x, assignment: assignment, previous: previous) }
        let two = Threads.with(2) { KMeans.means(x, assignment: assignment, previous: previous) }
        #expect(one.scalars == two.scalars)
        let p = x.scalars
        for c in 0..<5 {
            let members = (0..<500).filter { assignment[$0] == Int32(c) }
            for j in 0..<40 {
                let mean = members.reduce(0.0) { $0 + Double(p[$1 * 40 + j]) } / Double(members.count)
                #expect(one.scalars[c * 40 + j] == Float(mean))
            }
        }
        #expect(Array(one.scalars[200..<240]) == Array(previous.scalars[200..<240]))
    }
}
