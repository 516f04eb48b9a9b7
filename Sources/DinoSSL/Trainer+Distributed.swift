// The trainer's part in data-parallel training: rank-0 messages, the start broadcast, loss
// terms averaged over the ranks, and the replicas check. Trainer.swift's header says where
// these run in a step; DinoDistributed holds the communicator and the gradient reducer.

import DinoDistributed
import DinoTensor
import Foundation

// MARK: - Data-parallel training

extension Trainer {
    /// A message for the user, from rank 0 only.
    func say(_ message: String) {
        if communicator.isMain { log(message) }
    }

    /// Rank 0's parameters, method state and optimiser state on every rank (DDP broadcasts
    /// the module's state from rank 0 when it is wrapped), in the order of their names.
    func synchronizeStart() {
        for (name, t) in checkpointTensors().sorted(by: { $0.key < $1.key }) {
            communicator.broadcast(t, label: "'\(name)'")
        }
    }

    /// Each value averaged over the ranks, in the order of the names. The ranks first compare
    /// their names (a hash of each rank's, gathered), so that a method that returns different
    /// terms on different ranks is an error that names them, not a mismatched collective.
    func averagedOverRanks(_ values: [String: Double]) throws -> [String: Double] {
        guard communicator.size > 1 else { return values }
        let names = values.keys.sorted()
        let hashes = gatherHashes(fnv1a(Array(names.joined(separator: ",").utf8)), label: "loss term names")
        if let other = hashes.firstIndex(where: { $0 != hashes[communicator.rank] }) {
            throw DistributedError.placement("the method returned the terms [\(names.joined(separator: ", "))] on rank \(communicator.rank) and others on rank \(other); every rank must return the same terms")
        }
        let sums = communicator.allReduceSum(names.map { values[$0]! }, label: "loss terms \(names.joined(separator: ","))")
        let n = Double(communicator.size)
        return Dictionary(uniqueKeysWithValues: zip(names, sums.map { $0 / n }))
    }

    /// 1 when every rank holds bit-identical parameters and method state (teacher, centres,
    /// dinov3's Gram teacher): each rank's FNV-1a hash of their bytes (the state in the order
    /// of its names), gathered by an all-reduce (rank r fills slot r).
    ///
    /// - Throws: `DistributedError.placement` naming the ranks that differ from rank 0.
    func checkReplicas() throws -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let state = method.stateTensors().sorted { $0.key < $1.key }.map(\.value)
        for p in method.parameterGroups.allParameters + state {
            let c = p.contiguousCopy()
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(c.reduceBuffer.pointer), count: c.count * c.dtype.size)
            hash = fnv1a(bytes, hash)
        }
        let all = gatherHashes(hash, label: "parameter hashes")
        let differing = (1..<communicator.size).filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw DistributedError.placement("after step \(step + 1) the parameters of ranks \(differing) differ from rank 0's")
        }
        return 1
    }
}

/// FNV-1a over bytes, continuing from `hash`.
func fnv1a<C: Collection>(_ bytes: C, _ hash: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 where C.Element == UInt8 {
    var h = hash
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

extension Trainer {
    /// Every rank's `hash`, by rank: an all-reduce in which rank r fills slots 2r and 2r+1 with
    /// its two 32-bit halves (which Float64 holds exactly).
    func gatherHashes(_ hash: UInt64, label: String) -> [UInt64] {
        var slots = [Double](repeating: 0, count: 2 * communicator.size)
        slots[2 * communicator.rank] = Double(hash >> 32)
        slots[2 * communicator.rank + 1] = Double(hash & 0xffff_ffff)
        let all = communicator.allReduceSum(slots, label: label)
        return (0..<communicator.size).map { UInt64(all[2 * $0]) << 32 | UInt64(all[2 * $0 + 1]) }
    }
}
