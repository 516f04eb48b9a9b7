// Weighted k-nearest-neighbour classification of frozen features: DINO's k-NN protocol.
//
// What it is: `knn_classifier` of facebookresearch/dino `eval_knn.py` on features already
// extracted (see FeatureExtraction.swift for that). Features are L2-normalised, a test image's
// neighbours are the k training images of highest cosine similarity, each neighbour votes for
// its class with weight exp(similarity / T), and classes are ranked by their summed votes.
// Test images are processed in chunks: one matrix product of the chunk against the whole
// training bank, then a top-k selection per row in parallel.
//
// Differences from the reference, all outside what it defines: classes with equal votes rank
// by class index (the reference leaves the order of ties to `torch.sort`); k larger than the
// training set is clamped to its size (the reference fails); votes are summed in Double.

import DinoTensor
import Foundation

/// Accuracy of the weighted k-NN classifier for one k, in percent.
public struct KNNResult: Codable, Equatable, Sendable {
    /// Number of neighbours.
    public var k: Int
    /// Top-1 accuracy in percent.
    public var top1: Double
    /// Top-5 accuracy in percent (top-min(5, k), as the reference counts it).
    public var top5: Double

    public init(k: Int, top1: Double, top5: Double) {
        self.k = k
        self.top1 = top1
        self.top5 = top5
    }
}

/// DINO's weighted k-NN classifier on frozen features.
///
/// For a test feature `x` and training features `f_i` with labels `y_i`, all L2-normalised:
///
///     s_i = ⟨x, f_i⟩                                   cosine similarity
///     N   = the k indices of largest s_i
///     v_c = Σ_{i ∈ N, y_i = c} exp(s_i / T)            votes per class
///
/// and the prediction ranks classes by `v_c`; top-1 counts the first, top-5 the first
/// `min(5, k)`.
///
/// Reference: Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
/// Discrimination" (CVPR 2018); Caron et al. (2021) §4.1; facebookresearch/dino `eval_knn.py`
/// (`knn_classifier`, `--nb_knn 10 20 100 200`, `--temperature 0.07`).
public struct WeightedKNN: Sendable {
    /// The numbers of neighbours to evaluate (DINO: 10, 20, 100, 200; 20 is usually best).
    public var ks: [Int]
    /// T, the temperature of the vote weights (DINO: 0.07).
    public var temperature: Double
    /// Test rows per matrix product; nil picks a size that keeps the similarity block near
    /// 32 M elements.
    public var chunkSize: Int?

    /// The reference's list of k.
    public static let referenceKs = [10, 20, 100, 200]

    public init(ks: [Int] = WeightedKNN.referenceKs, temperature: Double = 0.07, chunkSize: Int? = nil) {
        precondition(!ks.isEmpty && ks.allSatisfy { $0 >= 1 }, "WeightedKNN: k values \(ks) must be positive")
        precondition(temperature > 0, "WeightedKNN: temperature \(temperature) must be positive")
        precondition(chunkSize.map { $0 >= 1 } ?? true, "WeightedKNN: chunk size must be positive")
        self.ks = ks
        self.temperature = temperature
        self.chunkSize = chunkSize
    }

    /// Top-1 and top-5 accuracy for every k in `ks`, in that order.
    ///
    /// - Parameters:
    ///   - trainFeatures: the bank, (N, D); normalised here.
    ///   - trainLabels: N class indices in `0..<classes`.
    ///   - testFeatures: (M, D); normalised here.
    ///   - testLabels: M class indices.
    ///   - classes: the number of classes (default: one more than the largest label seen).
    public func evaluate(trainFeatures: Tensor, trainLabels: [Int], testFeatures: Tensor, testLabels: [Int],
                         classes: Int? = nil) -> [KNNResult] {
        let m = testLabels.count
        var hits1 = [Int](repeating: 0, count: ks.count), hits5 = hits1
        let classCount = classes ?? ((trainLabels + testLabels).max() ?? 0) + 1
        forEachRanking(trainFeatures: trainFeatures, trainLabels: trainLabels, testFeatures: testFeatures,
                       testLabels: testLabels, classes: classCount) { _, kIndex, rank in
            if rank == 0 { hits1[kIndex] += 1 }
            if rank < Swift.min(5, ks[kIndex]) { hits5[kIndex] += 1 }
        }
        return ks.indices.map { i in
            KNNResult(k: ks[i], top1: Double(hits1[i]) * 100 / Double(Swift.max(m, 1)),
                      top5: Double(hits5[i]) * 100 / Double(Swift.max(m, 1)))
        }
    }

    /// The summed votes `v_c` of every test row for one k, (M, classes), for inspection and tests.
    public func votes(trainFeatures: Tensor, trainLabels: [Int], testFeatures: Tensor, k: Int, classes: Int) -> [[Double]] {
        var single = self
        single.ks = [k]
        var out = [[Double]](repeating: [], count: testFeatures.shape[0])
        out.withUnsafeMutableBufferPointer { rows in
            single.forEachVotes(trainFeatures: trainFeatures, trainLabels: trainLabels, testFeatures: testFeatures,
                                classes: classes) { row, _, votes in rows[row] = votes }
        }
        return out
    }

    // MARK: The engine

    /// Calls `body(testRow, kIndex, rankOfTrueClass)` for every test row and every k.
    func forEachRanking(trainFeatures: Tensor, trainLabels: [Int], testFeatures: Tensor, testLabels: [Int],
                        classes: Int, _ body: (Int, Int, Int) -> Void) {
        precondition(testLabels.count == testFeatures.shape[0],
                     "WeightedKNN: \(testLabels.count) test labels for test features \(testFeatures.shape)")
        precondition(testLabels.allSatisfy { (0..<classes).contains($0) },
                     "WeightedKNN: a test label lies outside 0..<\(classes)")
        // Ranks are written per (row, k) by parallel workers, then reported in order.
        let m = testLabels.count
        var ranks = [Int](repeating: 0, count: m * ks.count)
        let nk = ks.count
        ranks.withUnsafeMutableBufferPointer { out in
            forEachVotes(trainFeatures: trainFeatures, trainLabels: trainLabels, testFeatures: testFeatures,
                         classes: classes) { row, kIndex, votes in
                out[row * nk + kIndex] = WeightedKNN.rank(of: testLabels[row], in: votes)
            }
        }
        for row in 0..<m { for j in 0..<nk { body(row, j, ranks[row * nk + j]) } }
    }

    /// Position of `label` when classes are sorted by votes, descending, ties by index.
    static func rank(of label: Int, in votes: [Double]) -> Int {
        let v = votes[label]
        var rank = 0
        for (c, w) in votes.enumerated() where w > v || (w == v && c < label) { rank += 1 }
        return rank
    }

    /// Computes the votes of every (test row, k) and hands them to `body`, possibly from
    /// several threads at once (each call with a different row).
    func forEachVotes(trainFeatures: Tensor, trainLabels: [Int], testFeatures: Tensor, classes: Int,
                      _ body: (Int, Int, [Double]) -> Void) {
        precondition(trainFeatures.rank == 2 && testFeatures.rank == 2 && trainFeatures.shape[1] == testFeatures.shape[1],
                     "WeightedKNN: train features \(trainFeatures.shape) and test features \(testFeatures.shape) must be (rows, D) with the same D")
        precondition(trainLabels.count == trainFeatures.shape[0],
                     "WeightedKNN: \(trainLabels.count) train labels for train features \(trainFeatures.shape)")
        precondition(trainLabels.allSatisfy { (0..<classes).contains($0) },
                     "WeightedKNN: a train label lies outside 0..<\(classes)")
        let n = trainFeatures.shape[0], m = testFeatures.shape[0]
        guard n > 0, m > 0 else { return }
        let kMax = Swift.min(ks.max()!, n)
        let effectiveKs = ks.map { Swift.min($0, n) }
        let invT = 1 / temperature
        let (bank, queries) = withNoGrad {
            (trainFeatures.detach().to(.float32).l2Normalized(axis: 1).transposed().contiguous(),   // (D, N)
             testFeatures.detach().to(.float32).l2Normalized(axis: 1))                               // (M, D)
        }
        let chunk = chunkSize ?? Swift.max(1, Swift.min(m, (1 << 25) / n))
        var start = 0
        while start < m {
            let end = Swift.min(m, start + chunk)
            let sim = withNoGrad { queries.slice(axis: 0, start: start, end: end).matmul(bank) }  // (C, N)
            let s = sim.pointer(Float.self)
            let rows = end - start
            parallelFor(rows, grain: Swift.max(1, 4096 / Swift.max(1, n / 256))) { r in
                var topValues = [Float](repeating: 0, count: kMax)
                var topIndices = [Int](repeating: 0, count: kMax)
                for row in r {
                    let filled = WeightedKNN.selectTop(s + row * n, n: n, k: kMax, values: &topValues, indices: &topIndices)
                    for (j, k) in effectiveKs.enumerated() {
                        var votes = [Double](repeating: 0, count: classes)
                        for i in 0..<Swift.min(k, filled) {
                            votes[trainLabels[topIndices[i]]] += Foundation.exp(Double(topValues[i]) * invT)
                        }
                        body(start + row, j, votes)
                    }
                }
            }
            start = end
        }
    }

    /// The `k` largest of `x[0..<n]`, sorted descending (equal values by index), into
    /// `values`/`indices`; returns how many were found (min(k, n)).
    static func selectTop(_ x: UnsafePointer<Float>, n: Int, k: Int, values: inout [Float], indices: inout [Int]) -> Int {
        var count = 0
        for i in 0..<n {
            let v = x[i]
            if count == k {
                // Strictly greater than the current k-th: equal values keep the earlier index.
                if !(v > values[k - 1]) { continue }
                count -= 1
            }
            // Insert after every element ≥ v (binary search), shifting the tail.
            var lo = 0, hi = count
            while lo < hi {
                let mid = (lo + hi) / 2
                if values[mid] >= v { lo = mid + 1 } else { hi = mid }
            }
            var j = count
            while j > lo {
                values[j] = values[j - 1]
                indices[j] = indices[j - 1]
                j -= 1
            }
            values[lo] = v
            indices[lo] = i
            count += 1
        }
        return count
    }
}
