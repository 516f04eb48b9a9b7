@testable import DinoEval
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// One case of Fixtures/knn.json (the reference's knn_classifier in torch, float64).
private struct KNNCase: Decodable {
    struct Result: Decodable { let k: Int; let top1, top5: Double; let votes: [Double] }
    let name: String
    let classes, dim: Int
    let temperature: Double
    let trainFeatures, testFeatures: [Double]
    let trainLabels, testLabels: [Int]
    let results: [Result]
    enum CodingKeys: String, CodingKey {
        case name, classes, dim, temperature, results
        case trainFeatures = "train_features", testFeatures = "test_features"
        case trainLabels = "train_labels", testLabels = "test_labels"
    }
}
private struct KNNFixture: Decodable { let cases: [KNNCase] }

/// Brute force on plain arrays: normalise, full sort by similarity (ties by index), votes,
/// full sort of classes (ties by index).
private func bruteForce(train: [[Double]], trainLabels: [Int], test: [[Double]], testLabels: [Int],
                        k: Int, t: Double, classes: Int) -> (top1: Double, top5: Double) {
    func unit(_ v: [Double]) -> [Double] {
        let n = Swift.max(v.map { $0 * $0 }.reduce(0, +).squareRoot(), 1e-12)
        return v.map { $0 / n }
    }
    let tr = train.map(unit)
    var h1 = 0, h5 = 0
    for (x, y) in zip(test.map(unit), testLabels) {
        let sims = tr.map { f in zip(f, x).map { $0 * $1 }.reduce(0, +) }
        let order = sims.indices.sorted { sims[$0] != sims[$1] ? sims[$0] > sims[$1] : $0 < $1 }
        var votes = [Double](repeating: 0, count: classes)
        for i in order.prefix(k) { votes[trainLabels[i]] += Foundation.exp(sims[i] / t) }
        let ranked = votes.indices.sorted { votes[$0] != votes[$1] ? votes[$0] > votes[$1] : $0 < $1 }
        if ranked[0] == y { h1 += 1 }
        if ranked.prefix(Swift.min(5, k)).contains(y) { h5 += 1 }
    }
    return (Double(h1) * 100 / Double(test.count), Double(h5) * 100 / Double(test.count))
}

private func rows(_ t: Tensor) -> [[Double]] {
    let d = t.doubles, c = t.shape[1]
    return (0..<t.shape[0]).map { Array(d[($0 * c)..<(($0 + 1) * c)]) }
}

@Suite struct KNNTests {
    @Test func matchesTheReferenceClassifier() throws {
        let fixture = try Fixture.load("knn", as: KNNFixture.self)
        for c in fixture.cases {
            let train = Tensor(doubles: c.trainFeatures, shape: [c.trainLabels.count, c.dim])
            let test = Tensor(doubles: c.testFeatures, shape: [c.testLabels.count, c.dim])
            let knn = WeightedKNN(ks: c.results.map(\.k), temperature: c.temperature, chunkSize: 10)
            let results = knn.evaluate(trainFeatures: train, trainLabels: c.trainLabels, testFeatures: test,
                                       testLabels: c.testLabels, classes: c.classes)
            for (r, e) in zip(results, c.results) {
                #expect(r.k == e.k)
                #expect(Swift.abs(r.top1 - e.top1) < 1e-9, "\(c.name) k=\(e.k) top1 \(r.top1) vs \(e.top1)")
                #expect(Swift.abs(r.top5 - e.top5) < 1e-9, "\(c.name) k=\(e.k) top5 \(r.top5) vs \(e.top5)")
                let votes = knn.votes(trainFeatures: train, trainLabels: c.trainLabels, testFeatures: test,
                                      k: e.k, classes: c.classes)
                #expect(mismatch(doubles: votes.flatMap { $0 }, e.votes, rtol: 1e-5, atol: 1e-6) == nil, "\(c.name) k=\(e.k) votes")
            }
        }
    }

    @Test func equalsBruteForceForAnyChunking() {
        let classes = 5
        let train = Sample.normal([70, 6], seed: 1), test = Sample.normal([23, 6], seed: 2)
        let trainLabels = (0..<70).map { ($0 * 7 + 3) % classes }, testLabels = (0..<23).map { ($0 * 3) % classes }
        let ks = [1, 4, 10, 69, 70]
        for chunk in [1, 7, 23, nil] as [Int?] {
            let results = WeightedKNN(ks: ks, temperature: 0.07, chunkSize: chunk)
                .evaluate(trainFeatures: train, trainLabels: trainLabels, testFeatures: test, testLabels: testLabels, classes: classes)
            for (r, k) in zip(results, ks) {
                let e = bruteForce(train: rows(train), trainLabels: trainLabels, test: rows(test), testLabels: testLabels,
                                   k: k, t: 0.07, classes: classes)
                #expect(r.top1 == e.top1 && r.top5 == e.top5, "chunk \(String(describing: chunk)) k \(k): \(r) vs \(e)")
            }
        }
    }

    @Test func handMadeNeighbours() {
        // Train points on the unit circle at 0°, 10°, 20° (class 0) and 90°, 100° (class 1);
        // lengths differ to check normalisation. A query at 45° is nearer class 0's 20° point.
        func at(_ deg: Double, _ r: Double) -> [Double] { [r * Foundation.cos(deg * .pi / 180), r * Foundation.sin(deg * .pi / 180)] }
        let train = Tensor(doubles: [at(0, 1), at(10, 3), at(20, 0.5), at(90, 2), at(100, 1)].flatMap { $0 }, shape: [5, 2])
        let labels = [0, 0, 0, 1, 1]
        let query = Tensor(doubles: at(45, 7) + at(80, 1), shape: [2, 2])
        let knn = WeightedKNN(ks: [1, 2, 5], temperature: 0.5)
        let votes = knn.votes(trainFeatures: train, trainLabels: labels, testFeatures: query, k: 2, classes: 2)
        // k = 2 for the 45° query: 20° and 10° (25° and 35° away), both class 0.
        let w = { (deg: Double) in Foundation.exp(Foundation.cos(deg * .pi / 180) / 0.5) }
        #expect(mismatch(doubles: votes[0], [w(25) + w(35), 0], rtol: 1e-6, atol: 0) == nil)
        // The 80° query: 90° and 100° → class 1 only.
        #expect(mismatch(doubles: votes[1], [0, w(10) + w(20)], rtol: 1e-6, atol: 0) == nil)
        let r = knn.evaluate(trainFeatures: train, trainLabels: labels, testFeatures: query, testLabels: [0, 1], classes: 2)
        // k = 5 at 80°: three far class-0 neighbours (Σ ≈ 6.1) lose to two near class-1 ones (Σ ≈ 13.7).
        #expect(r.map(\.top1) == [100, 100, 100])
        let all = knn.votes(trainFeatures: train, trainLabels: labels, testFeatures: query, k: 5, classes: 2)
        #expect(mismatch(doubles: all[1], [w(80) + w(70) + w(60), w(10) + w(20)], rtol: 1e-6, atol: 0) == nil)
    }

    @Test func topSelectionKeepsEarlierIndicesOnTies() {
        let x: [Float] = [0.5, 0.9, 0.5, 0.9, 0.1, 0.9]
        var values = [Float](repeating: 0, count: 4), indices = [Int](repeating: 0, count: 4)
        let n = x.withUnsafeBufferPointer { WeightedKNN.selectTop($0.baseAddress!, n: 6, k: 4, values: &values, indices: &indices) }
        #expect(n == 4)
        #expect(values == [0.9, 0.9, 0.9, 0.5])
        #expect(indices == [1, 3, 5, 0])
        #expect(WeightedKNN.rank(of: 2, in: [1, 3, 3, 0]) == 1)   // class 1 ties and ranks first
        #expect(WeightedKNN.rank(of: 3, in: [1, 3, 3, 0]) == 3)
        #expect(WeightedKNN.rank(of: 1, in: [1, 3, 3, 0]) == 0)
    }

    @Test func kBeyondTheBankIsClamped() {
        let train = Sample.normal([4, 3], seed: 5), test = Sample.normal([3, 3], seed: 6)
        let a = WeightedKNN(ks: [4]).evaluate(trainFeatures: train, trainLabels: [0, 1, 1, 2], testFeatures: test,
                                              testLabels: [1, 2, 0], classes: 3)
        let b = WeightedKNN(ks: [200]).evaluate(trainFeatures: train, trainLabels: [0, 1, 1, 2], testFeatures: test,
                                                testLabels: [1, 2, 0], classes: 3)
        #expect(a[0].top1 == b[0].top1 && a[0].top5 == b[0].top5 && b[0].k == 200)
    }
}
