// Batches at several crop resolutions, one resolution per batch drawn with given ratios: the
// multi-resolution loader of DINOv3's high-resolution phase (dinov3/train/train.py
// `build_multi_resolution_data_loader_from_cfg`: one loader per (global, local, Gram) size,
// combined by `CombinedDataLoader` with `global_local_crop_pairs_ratios`).
//
// Each resolution has its own multi-crop loader over the whole data set; iteration g draws its
// resolution from a hash of (seed, g). In epoch e, the k-th batch of resolution i is batch
// k mod P of its loader's pass e·m + k / P (P batches per pass, m = ⌈epoch length / P⌉), so
// each epoch starts every loader at the beginning of a fresh pass (no batches prepared and
// thrown away) and a batch is a pure function of (seed, g): resuming at any step gives the
// batches of an uninterrupted run. With one resolution it is exactly `MultiCropBatchSource`
// (whose data runs on across epochs).

import DinoTensor
import DinoVision

/// Multi-crop batches whose crop sizes change from batch to batch.
public struct MultiResolutionBatchSource: BatchSource {
    public typealias Batch = MultiCropInput

    /// One loader per resolution (each with `epochLength` nil: one pass per loader epoch).
    public let sources: [MultiCropBatchSource]
    /// Probability of each resolution, summing to 1.
    public let ratios: [Double]
    public let seed: UInt64
    /// Batches per epoch; nil: one pass over the data.
    public let epochLength: Int?

    public init(sources: [MultiCropBatchSource], ratios: [Double], seed: UInt64, epochLength: Int?) {
        precondition(!sources.isEmpty && sources.count == ratios.count && ratios.allSatisfy { $0 >= 0 },
                     "MultiResolutionBatchSource: \(sources.count) sources for ratios \(ratios)")
        precondition(sources.allSatisfy { $0.epochLength == nil && $0.batchesPerEpoch == sources[0].batchesPerEpoch },
                     "MultiResolutionBatchSource: every source must make one pass of the same data per epoch")
        let total = ratios.reduce(0, +)
        precondition(total > 0, "MultiResolutionBatchSource: ratios \(ratios) sum to 0")
        self.sources = sources
        self.ratios = ratios.map { $0 / total }
        self.seed = seed
        self.epochLength = epochLength
    }

    public var batchesPerEpoch: Int { epochLength ?? sources[0].batchesPerEpoch }
    public var itemsPerBatch: Int { sources[0].itemsPerBatch }

    /// The resolution of iteration `g`: a SplitMix64 hash of (seed, g) mapped to [0, 1) and
    /// looked up in the cumulative ratios.
    public func resolution(at g: Int) -> Int {
        guard sources.count > 1 else { return 0 }
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(g + 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = Double(z >> 11) / Double(1 << 53)
        var cumulative = 0.0
        for (i, r) in ratios.enumerated() {
            cumulative += r
            if u < cumulative { return i }
        }
        return ratios.count - 1
    }

    public func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        let perPass = sources[0].batchesPerEpoch
        var g = epoch * batchesPerEpoch + start
        let end = (epoch + 1) * batchesPerEpoch
        // k counts the batches of each resolution: over the whole run with one resolution,
        // within this epoch with several (whose passes start at e·m).
        var counts = [Int](repeating: 0, count: sources.count)
        let single = sources.count == 1
        if single { counts[0] = g } else { for h in (epoch * batchesPerEpoch)..<g { counts[resolution(at: h)] += 1 } }
        let firstPass = single ? 0 : epoch * ((batchesPerEpoch + perPass - 1) / perPass)
        var current = [(pass: Int, batches: AnyIterator<MultiCropInput>)?](repeating: nil, count: sources.count)
        let sources = self.sources
        return AnyIterator {
            guard g < end else { return nil }
            defer { g += 1 }
            let i = self.resolution(at: g)
            let k = counts[i]
            counts[i] += 1
            let pass = firstPass + k / perPass
            if current[i]?.pass != pass {
                current[i] = (pass, sources[i].batches(epoch: pass, startingAt: k % perPass))
            }
            return current[i]!.batches.next()
        }
    }
}
