// The trainer's batch source over DinoVision's multi-crop loader.
//
// Batches are a pure function of (seed, epoch, batch index): the loader orders the epoch from
// (seed, epoch) and augments each image from (seed, epoch, image index), so resuming at batch i
// of an epoch gives the batches an uninterrupted run would have seen. The loader starts each
// epoch at its beginning; a resumed epoch prepares and discards the batches before i (cheap
// next to training on them).

import DinoTensor
import DinoVision

/// Multi-crop batches of an image data set, as `MultiCropInput`s.
public struct MultiCropBatchSource: BatchSource {
    public typealias Batch = MultiCropInput

    public let loader: DataLoader<MultiCropViews, MultiCropBatch>
    public let batchSize: Int

    /// - Parameters:
    ///   - pipeline: the data set and its multi-crop augmentation.
    ///   - batchSize: images per batch; the last partial batch of an epoch is dropped (as the
    ///     reference's `drop_last=True`).
    ///   - seed: seed of the order and the augmentations.
    ///   - workers: decoding and augmentation threads.
    public init(pipeline: MultiCropPipeline, batchSize: Int, seed: UInt64, workers: Int, prefetchBatches: Int = 2) {
        precondition(pipeline.dataset.count >= batchSize,
                     "MultiCropBatchSource: \(pipeline.dataset.count) images do not fill one batch of \(batchSize)")
        loader = pipeline.loader(LoaderOptions(batchSize: batchSize, shuffle: true, dropLast: true, seed: seed,
                                               workers: workers, prefetchBatches: prefetchBatches))
        self.batchSize = batchSize
    }

    public var batchesPerEpoch: Int { loader.batchesPerEpoch }
    public var itemsPerBatch: Int { batchSize }

    public func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        let it = loader.epoch(epoch, startingAt: start)
        return AnyIterator {
            guard let b = it.next() else { return nil }
            return MultiCropInput(globalCrops: b.global, localCrops: b.local, masks: b.masks)
        }
    }
}
