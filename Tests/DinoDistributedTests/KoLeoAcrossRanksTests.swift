// dinov3's KoLeo over groups spanning ranks (`KoLeoLoss.lossOverRanks`, the reference's
// KoLeoLossDistributed), rank by rank in one process: each pretend rank's all-gather returns the
// whole world's normalised rows. The gradients through the gather are checked under mpirun
// (MPITrainingTests.testDINOv3MatchesOneProcess).

import DinoDistributed
import DinoSSL
import DinoTensor
import XCTest

final class KoLeoAcrossRanksTests: XCTestCase {
    /// Rank `rank` of `size`, whose all-gather gives `world` (the rows of every rank).
    final class PretendRank: Communicator, @unchecked Sendable {
        let rank: Int
        let size: Int
        let world: Tensor
        init(rank: Int, size: Int, world: Tensor) { (self.rank, self.size, self.world) = (rank, size, world.contiguousCopy()) }
        func startAllReduceSum(_ buffer: ReduceBuffer, label: String) -> CollectiveHandle { fatalError("no all-reduce in forward") }
        func startAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) -> CollectiveHandle {
            XCTAssertEqual(receive.count, world.count)
            receive.pointer.copyMemory(from: UnsafeRawPointer(world.reduceBuffer.pointer), byteCount: receive.byteCount)
            return SingleProcessCommunicator().startBarrier(label: label)
        }
        func startBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, label: String) -> CollectiveHandle { fatalError() }
        func startBarrier(label: String) -> CollectiveHandle { SingleProcessCommunicator().startBarrier(label: label) }
        func finish() {}
    }

    /// 4 ranks of 3 rows, groups of 6 (2 groups of 2 ranks): the mean over ranks of each rank's
    /// loss is the mean over groups of KoLeo on the group's rows; each rank's loss is the mean
    /// over its own rows, with neighbours in its group only (ranks 0–1 and 2–3), itself excluded.
    /// A group of all 12 rows differs (the neighbour sets are wider).
    func testRanksLossesAverageToTheGroupsKoLeo() {
        let x = RandomGenerator(seed: 3).normal([12, 5], dtype: .float64)                    // 4 ranks × 3 rows
        let z = x.l2Normalized(axis: -1, eps: 1e-8)
        func ranksMean(_ g: Int) -> Double {
            (0..<4).map { r in
                KoLeoLoss.lossOverRanks(x.slice(axis: 0, start: 3 * r, end: 3 * r + 3), groupSize: g,
                                        communicator: PretendRank(rank: r, size: 4, world: z)).doubles[0]
            }.reduce(0, +) / 4
        }
        let groups = (KoLeoLoss.loss(x.slice(axis: 0, start: 0, end: 6)).doubles[0] + KoLeoLoss.loss(x.slice(axis: 0, start: 6, end: 12)).doubles[0]) / 2
        XCTAssertEqual(ranksMean(6), groups, accuracy: 1e-12)
        XCTAssertEqual(ranksMean(12), KoLeoLoss.loss(x).doubles[0], accuracy: 1e-12)
        XCTAssertGreaterThan(abs(ranksMean(6) - ranksMean(12)), 1e-3)
    }
}
