// Drop path in data-parallel training: each rank's draws are its rows of the global batch's.

import DinoNN
import DinoTensor
import XCTest

final class DropPathShardTests: XCTestCase {
    /// Two views of 3 samples on each of 2 ranks: rank r's per-sample factors are rows
    /// v·6 + 3r + i of one process's factors for the global batch of 12 rows.
    func testPerSampleMasksAreSlicesOfTheGlobalDraw() {
        let x = Tensor(zeros: [6, 4])
        let one = DropPath(rate: 0.5, generator: RandomGenerator(seed: 7))
        let global = one.sampleScale(like: Tensor(zeros: [12, 4]))!.scalars
        for r in 0..<2 {
            let layer = DropPath(rate: 0.5, generator: RandomGenerator(seed: 7))
            layer.shard = DropPath.Shard(index: r, count: 2, samplesPerView: 3)
            let mine = layer.sampleScale(like: x)!.scalars
            XCTAssertEqual(mine, [0, 1, 2, 6, 7, 8].map { global[$0 + 3 * r] })
        }
    }

    /// Batch subsets: the ranks' rows together are the global subset, with its factor B/s.
    func testSubsetsAreSlicesOfTheGlobalSubset() {
        let one = DropPath(rate: 0.4, mode: .batchSubset, generator: RandomGenerator(seed: 3))
        let global = one.subset(batch: 12)!
        var union: [Int] = []
        for r in 0..<2 {
            let layer = DropPath(rate: 0.4, mode: .batchSubset, generator: RandomGenerator(seed: 3))
            layer.shard = DropPath.Shard(index: r, count: 2, samplesPerView: 3)
            let mine = layer.subset(batch: 6)!
            XCTAssertEqual(mine.alpha, global.alpha)
            union += mine.indices.map { ($0 / 3) * 6 + 3 * r + $0 % 3 }
        }
        XCTAssertEqual(Set(union), Set(global.indices))
        XCTAssertEqual(union.count, global.indices.count)
    }
}
