// The trainer's replica check (`--verify-replicas`), in process: a pretend second rank that
// holds the same parameters passes, one whose parameter hash differs stops the run naming it.

import DinoDistributed
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import XCTest

final class ReplicaCheckTests: XCTestCase {
    /// A pretend rank 0 of 2 whose partner is its twin: an all-reduce doubles the buffer — except
    /// the "parameter hashes" gather, where the partner's slots get rank 0's hash plus `skew`.
    final class TwinCommunicator: Communicator, @unchecked Sendable {
        let rank = 0
        let size = 2
        let skew: Double
        init(skew: Double) { self.skew = skew }
        func startAllReduceSum(_ buffer: ReduceBuffer, label: String) -> CollectiveHandle {
            switch buffer {
            case .float32(let p, let n): for i in 0..<n { p[i] *= 2 }
            case .float64(let p, let n):
                if label.hasPrefix("all-reduce of parameter hashes") || label == "parameter hashes" {
                    p[2] = p[0] + skew
                    p[3] = p[1]
                } else if label.contains("hashes") || label.contains("names") {
                    p[2] = p[0]; p[3] = p[1]
                } else {
                    for i in 0..<n { p[i] *= 2 }
                }
            }
            return SingleProcessCommunicator().startBarrier(label: label)
        }
        /// The partner holds the same values: `send` twice.
        func startAllGather(_ send: ReduceBuffer, into receive: ReduceBuffer, label: String) -> CollectiveHandle {
            for r in 0..<2 { (receive.pointer + r * send.byteCount).copyMemory(from: UnsafeRawPointer(send.pointer), byteCount: send.byteCount) }
            return SingleProcessCommunicator().startBarrier(label: label)
        }
        func startBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, label: String) -> CollectiveHandle {
            SingleProcessCommunicator().startBarrier(label: label)
        }
        func startBarrier(label: String) -> CollectiveHandle { SingleProcessCommunicator().startBarrier(label: label) }
        func finish() {}
    }

    func run(skew: Double) throws -> (outcome: Result<TrainOutcome, Error>, values: [StepReport]) {
        var c = DINOConfig()
        c.model = "test_dino"
        c.batchSize = 8
        c.head.hiddenDimensions = 32
        c.head.bottleneckDimensions = 16
        c.head.prototypes = 64
        c.data.workers = 1
        let dir = MPISupport.temporary("replicas")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try TrainingRun(DINO.self, config: c, dataPath: MPISupport.images, runDirectory: dir,
                                  issues: DataIssueLog(report: DataIssueLog.silent), communicator: TwinCommunicator(skew: skew)) { o in
            o.maxSteps = 2
            o.progress = false
            o.tensorBoard = false
        }
        run.trainer.verifyReplicas = true
        run.trainer.log = { _ in }
        var reports: [StepReport] = []
        run.trainer.onStep = { reports.append($0) }
        return (Result { try run.trainer.run() }, reports)
    }

    func testTwinsPassAndADifferentReplicaStopsTheRun() throws {
        let same = try run(skew: 0)
        XCTAssertEqual(try same.outcome.get(), .stopped(reason: "reached max_steps 2"))
        XCTAssertEqual(same.values.map { $0.values["replicas_identical"] }, [1, 1])
        let different = try run(skew: 1)
        XCTAssertThrowsError(try different.outcome.get()) { error in
            XCTAssertTrue("\(error)".contains("the parameters of ranks [1] differ from rank 0's"), "\(error)")
        }
        XCTAssertEqual(different.values.count, 0)
    }
}
