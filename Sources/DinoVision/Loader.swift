// A parallel, deterministic, bounded data loader.
//
// Worker threads take sample positions in order, decode and augment them, and the worker
// that completes a batch collates it; batches are handed out in order. Workers never run
// more than `prefetchBatches` batches ahead of the consumer, so memory is bounded whatever
// the dataset size.
//
// Determinism: the epoch's order comes from (seed, epoch), each sample's random numbers
// from (seed, epoch, dataset index), each batch's collation randomness (masks) from
// (seed, epoch, batch number). Which thread does what never enters, so the same seed gives
// the same batches with 0, 1 or 16 workers. A sample that fails (bad file) is left out of
// its batch, which is then smaller (a batch whose samples all fail is skipped).
//
// Data-parallel training: with `shards` > 1 the loader of shard r yields only its slice of every
// global batch, the samples at positions r·b ..< (r+1)·b of it (b = batchSize / shards), so the
// shards together see exactly the batches one loader would, with the same random numbers.

import DinoTensor
import Foundation

/// How batches are formed.
public struct LoaderOptions: Sendable, Equatable {
    public var batchSize: Int
    /// A new random order each epoch (from the seed); otherwise dataset order.
    public var shuffle: Bool
    /// Drop the last batch when it would be smaller than `batchSize`.
    public var dropLast: Bool
    public var seed: UInt64
    /// Worker threads (0: everything on the calling thread, when a batch is asked for).
    public var workers: Int
    /// Batches prepared ahead of the consumer at most.
    public var prefetchBatches: Int
    /// This loader's slice of every global batch of `batchSize` samples: slice `shard` of
    /// `shards` equal ones (data-parallel rank and world size); 0 of 1 by default.
    public var shard: Int
    public var shards: Int

    /// Defaults: shuffled, drop-last, seed 0, 2 workers, 2 batches ahead, the whole batch.
    public init(batchSize: Int, shuffle: Bool = true, dropLast: Bool = true, seed: UInt64 = 0,
                workers: Int = 2, prefetchBatches: Int = 2, shard: Int = 0, shards: Int = 1) {
        precondition(batchSize > 0, "LoaderOptions: batchSize must be positive, got \(batchSize)")
        precondition(shards >= 1 && (0..<shards).contains(shard) && batchSize % shards == 0 && (dropLast || shards == 1),
                     "LoaderOptions: shard \(shard) of \(shards) of batches of \(batchSize) (the batch must divide evenly, drop-last)")
        self.shard = shard; self.shards = shards
        precondition(workers >= 0, "LoaderOptions: workers must be ≥ 0, got \(workers)")
        precondition(prefetchBatches >= 1, "LoaderOptions: prefetchBatches must be ≥ 1, got \(prefetchBatches)")
        self.batchSize = batchSize; self.shuffle = shuffle; self.dropLast = dropLast
        self.seed = seed; self.workers = workers; self.prefetchBatches = prefetchBatches
    }
}

/// The random streams of one epoch.
public struct EpochRandomness: Sendable {
    /// The epoch's generator, (seed, epoch) → stream; the others fork from it.
    public let root: RandomGenerator

    /// The streams of epoch `epoch` under `seed`.
    public init(seed: UInt64, epoch: Int) { root = RandomGenerator(seed: seed).fork(UInt64(epoch)) }

    /// The order in which the epoch visits the dataset.
    public func order(count: Int, shuffle: Bool) -> [Int] {
        shuffle ? root.fork(0).permutation(count) : Array(0..<count)
    }

    /// The generator of the sample at dataset index `index`.
    public func sample(_ index: Int) -> RandomGenerator { root.fork(1).fork(UInt64(index)) }

    /// The generator of batch number `batch`'s collation.
    public func batch(_ batch: Int) -> RandomGenerator { root.fork(2).fork(UInt64(batch)) }
}

/// Loads batches of `Batch` from `count` items: `sample(index, generator)` makes one item
/// (nil when it cannot), `collate(samples, indices, generator)` makes a batch.
public final class DataLoader<Sample, Batch>: @unchecked Sendable {
    public let count: Int
    public let options: LoaderOptions
    let sample: @Sendable (Int, RandomGenerator) -> Sample?
    let collate: @Sendable ([Sample], [Int], RandomGenerator) -> Batch

    /// A loader of `count` items (indices `0..<count`).
    public init(count: Int, options: LoaderOptions,
                sample: @escaping @Sendable (Int, RandomGenerator) -> Sample?,
                collate: @escaping @Sendable ([Sample], [Int], RandomGenerator) -> Batch) {
        self.count = count
        self.options = options
        self.sample = sample
        self.collate = collate
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int {
        options.dropLast ? count / options.batchSize : (count + options.batchSize - 1) / options.batchSize
    }

    /// The batches of epoch `epoch` from batch number `start` on, prepared by the workers as
    /// they are consumed. Every sample's random numbers depend only on (seed, epoch, index), so
    /// starting later skips the earlier batches without preparing them and yields exactly the
    /// batches an iteration from 0 would yield from `start` on (mid-epoch resume).
    public func epoch(_ epoch: Int, startingAt start: Int = 0) -> EpochIterator<Sample, Batch> {
        precondition(start >= 0, "DataLoader.epoch: start must be ≥ 0, got \(start)")
        return EpochIterator(loader: self, epoch: epoch, startingAt: start)
    }
}

/// One epoch's batches, in order. Stops its workers when it is released or ends.
public final class EpochIterator<Sample, Batch>: IteratorProtocol, Sequence, @unchecked Sendable {
    let core: EpochCore<Sample, Batch>

    init(loader: DataLoader<Sample, Batch>, epoch: Int, startingAt start: Int) {
        core = EpochCore(loader: loader, epoch: epoch, startingAt: start)
    }

    deinit { core.stop() }

    /// The next batch (blocking until it is ready), or nil at the end of the epoch.
    public func next() -> Batch? { core.next() }

    /// Stops the workers (after the sample each is working on) and waits for them.
    public func stop() { core.stop() }

    /// Largest number of batches (being filled or ready) held at once.
    public var peakBatchesHeld: Int { core.peakBatchesHeld }
}

/// The shared state of an epoch's workers and consumer.
final class EpochCore<Sample, Batch>: @unchecked Sendable {
    let loader: DataLoader<Sample, Batch>
    let randomness: EpochRandomness
    let order: [Int]
    let batchCount: Int
    /// Samples of this shard per batch (the whole batch on one shard).
    let batchSize: Int
    let shard: (index: Int, count: Int, globalBatch: Int)

    private let condition = NSCondition()
    private var nextPosition = 0
    private var consumerBatch = 0
    private var pending: [Int: [Sample?]] = [:]
    private var remaining: [Int: Int] = [:]
    private var ready: [Int: Batch?] = [:]
    private var stopped = false
    private var liveWorkers = 0
    private(set) var peakBatchesHeld = 0

    init(loader: DataLoader<Sample, Batch>, epoch: Int, startingAt start: Int) {
        self.loader = loader
        randomness = EpochRandomness(seed: loader.options.seed, epoch: epoch)
        order = randomness.order(count: loader.count, shuffle: loader.options.shuffle)
        batchCount = loader.batchesPerEpoch
        let o = loader.options
        batchSize = o.batchSize / o.shards
        shard = (o.shard, o.shards, o.batchSize)
        consumerBatch = min(start, batchCount)
        nextPosition = consumerBatch * batchSize
        // Counted before any worker starts: a worker with nothing to do decrements it (under
        // the lock) at once, which must not race with the count of the workers after it.
        liveWorkers = loader.options.workers
        for w in 0..<loader.options.workers {
            let thread = Thread { [self] in self.work() }
            thread.name = "dino-loader-\(w)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Positions of batch b in this shard's sequence (the epoch order itself on one shard).
    func positions(_ b: Int) -> Range<Int> {
        (b * batchSize)..<min(shard.count == 1 ? order.count : batchCount * batchSize, (b + 1) * batchSize)
    }

    /// The dataset index at position p of this shard's sequence: sample r·b + k of global batch i.
    func index(_ p: Int) -> Int {
        if shard.count == 1 { return order[p] }
        return order[(p / batchSize) * shard.globalBatch + shard.index * batchSize + p % batchSize]
    }

    var totalPositions: Int { batchCount == 0 ? 0 : positions(batchCount - 1).upperBound }

    private func work() {
        condition.lock()
        while true {
            while !stopped && nextPosition < totalPositions
                    && nextPosition / batchSize >= consumerBatch + loader.options.prefetchBatches {
                condition.wait()
            }
            if stopped || nextPosition >= totalPositions { break }
            let position = nextPosition
            nextPosition += 1
            let b = position / batchSize
            if pending[b] == nil {
                pending[b] = [Sample?](repeating: nil, count: positions(b).count)
                remaining[b] = positions(b).count
                peakBatchesHeld = max(peakBatchesHeld, pending.count + ready.count)
            }
            condition.unlock()

            let index = self.index(position)
            let s = loader.sample(index, randomness.sample(index))

            condition.lock()
            pending[b]![position - b * batchSize] = s
            remaining[b]! -= 1
            if remaining[b]! == 0 {
                let samples = pending.removeValue(forKey: b)!
                remaining[b] = nil
                condition.unlock()
                let batch = makeBatch(b, samples)
                condition.lock()
                ready.updateValue(batch, forKey: b)
                peakBatchesHeld = max(peakBatchesHeld, pending.count + ready.count)
                condition.broadcast()
            }
        }
        liveWorkers -= 1
        condition.broadcast()
        condition.unlock()
    }

    private func makeBatch(_ b: Int, _ samples: [Sample?]) -> Batch? {
        var kept: [Sample] = [], indices: [Int] = []
        for (k, s) in samples.enumerated() {
            if let s { kept.append(s); indices.append(index(b * batchSize + k)) }
        }
        if kept.isEmpty { return nil }
        return loader.collate(kept, indices, randomness.batch(b))
    }

    func next() -> Batch? {
        while true {
            condition.lock()
            if consumerBatch >= batchCount { condition.unlock(); return nil }
            let b = consumerBatch
            if loader.options.workers == 0 {
                consumerBatch += 1
                condition.unlock()
                let samples = positions(b).map { p in loader.sample(index(p), randomness.sample(index(p))) }
                if let batch = makeBatch(b, samples) { return batch }
                continue
            }
            while ready[b] == nil && !stopped { condition.wait() }
            if stopped { condition.unlock(); return nil }
            let batch = ready.removeValue(forKey: b)!
            consumerBatch += 1
            condition.broadcast()
            condition.unlock()
            if let batch { return batch }
        }
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while liveWorkers > 0 { condition.wait() }
        condition.unlock()
    }
}
