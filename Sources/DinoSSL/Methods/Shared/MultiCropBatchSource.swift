// The trainer's batch source over DinoVision's multi-crop loader.
//
// Batches are a pure function of (seed, epoch, batch index): the loader orders the epoch from
// (seed, epoch) and augments each image from (seed, epoch, image index), so resuming at batch i
// of an epoch gives the batches an uninterrupted run would have seen. The loader starts each
// epoch at its beginning; a resumed epoch prepares and discards the batches before i (cheap
// next to training on them).
//
// Data-parallel training: with a placement of several ranks, `batchSize` is the global batch
// and each rank's loader yields its slice of every global batch (Loader.swift), its crops from
// (seed, epoch, dataset index) and its masks cut from the global batch's — so the ranks
// together train on exactly the batches of one process.

import DinoTensor
import DinoVision

/// Multi-crop batches of an image data set, as `MultiCropInput`s.
public struct MultiCropBatchSource: BatchSource {
    public typealias Batch = MultiCropInput

    public let loader: DataLoader<MultiCropViews, MultiCropBatch>
    public let batchSize: Int
    /// Batches in one epoch when it is not one pass over the data (DINOv2's `epoch_length`).
    public let epochLength: Int?

    /// - Parameters:
    ///   - pipeline: the data set and its multi-crop augmentation.
    ///   - batchSize: images per batch; the last partial batch of an epoch is dropped (as the
    ///     reference's `drop_last=True`).
    ///   - seed: seed of the order and the augmentations.
    ///   - workers: decoding and augmentation threads.
    ///   - epochLength: batches per epoch; nil: one pass over the data. Otherwise the data
    ///     runs on across epochs: iteration `g = epoch · epochLength + i` is batch `g mod P` of
    ///     pass `g / P` (P batches per pass), so every position is still reproducible.
    ///   - placement: this process's rank and the world size; `batchSize` must divide by it.
    public init(pipeline: MultiCropPipeline, batchSize: Int, seed: UInt64, workers: Int, prefetchBatches: Int = 2,
                epochLength: Int? = nil, placement: DataParallelPlacement = .single) {
        precondition(epochLength.map { $0 >= 1 } ?? true, "MultiCropBatchSource: epoch length \(epochLength!) must be at least 1")
        precondition(pipeline.dataset.count >= batchSize,
                     "MultiCropBatchSource: \(pipeline.dataset.count) images do not fill one batch of \(batchSize)")
        loader = pipeline.loader(LoaderOptions(batchSize: batchSize, shuffle: true, dropLast: true, seed: seed,
                                               workers: workers, prefetchBatches: prefetchBatches,
                                               shard: placement.rank, shards: placement.worldSize))
        self.batchSize = batchSize
        self.epochLength = epochLength
    }

    public var batchesPerEpoch: Int { epochLength ?? loader.batchesPerEpoch }
    public var itemsPerBatch: Int { batchSize }

    public func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        func input(_ b: MultiCropBatch) -> MultiCropInput {
            var i = MultiCropInput(globalCrops: b.global, localCrops: b.local, masks: b.masks)
            i.gramCrops = b.gram
            return i
        }
        guard let length = epochLength else {
            let it = loader.epoch(epoch, startingAt: start)
            return AnyIterator { it.next().map(input) }
        }
        let perPass = loader.batchesPerEpoch
        var iteration = epoch * length + start, end = (epoch + 1) * length
        var pass = -1
        var current: AnyIterator<MultiCropBatch>? = nil
        return AnyIterator {
            guard iteration < end else { return nil }
            defer { iteration += 1 }
            if iteration / perPass != pass {
                pass = iteration / perPass
                let it = loader.epoch(pass, startingAt: iteration % perPass)
                current = AnyIterator { it.next() }
            }
            return current!.next().map(input)
        }
    }
}
