import DinoTensor
import DinoVision
import Foundation
import Testing

/// A temporary folder tree of small images (and bad files), removed at deinit.
final class TemporaryImageTree {
    let root: URL

    init() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("dino-vision-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// A small image whose colour encodes `seed`.
    static func image(_ seed: Int, width: Int = 40, height: Int = 30) -> RGBImage {
        RGBImage(width: width, height: height) { p in
            for i in 0..<(width * height) {
                p[3 * i] = UInt8((seed * 40 + i % width * 3) % 256)
                p[3 * i + 1] = UInt8((seed * 90 + i / width * 5) % 256)
                p[3 * i + 2] = UInt8((seed * 7) % 256)
            }
        }
    }

    func write(_ relative: String, _ data: Data) {
        let url = root.appendingPathComponent(relative)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! data.write(to: url)
    }

    func copyFixture(_ name: String, to relative: String) {
        write(relative, try! Data(contentsOf: VisionFixtures.url(name)))
    }
}

@Suite struct DatasetLoaderTests {
    /// root/{cat,dog}/…: 3 + 4 images (one in a nested folder), plus hidden and non-image files.
    static func imageFolder() -> TemporaryImageTree {
        let tree = TemporaryImageTree()
        for i in 0..<3 { tree.write("cat/c\(i).png", try! TemporaryImageTree.image(i).pngData()) }
        for i in 0..<3 { tree.write("dog/d\(i).jpg", try! TemporaryImageTree.image(10 + i).jpegData()) }
        tree.write("dog/more/d9.png", try! TemporaryImageTree.image(19).pngData())
        tree.write("dog/.hidden.png", try! TemporaryImageTree.image(0).pngData())
        tree.write(".git/x.png", try! TemporaryImageTree.image(0).pngData())
        tree.write("cat/notes.txt", Data("hello".utf8))
        return tree
    }

    @Test func imageFolderLabelsClassesInSortedOrder() throws {
        let tree = Self.imageFolder()
        let ds = try ImageFileDataset.imageFolder(tree.root.path)
        #expect(ds.classes == ["cat", "dog"])
        #expect(ds.count == 7)
        #expect((0..<ds.count).map { ds.label(at: $0)! } == [0, 0, 0, 1, 1, 1, 1])
        #expect(ds.path(at: 0).hasSuffix("cat/c0.png"))
        #expect(ds.path(at: 6).hasSuffix("dog/more/d9.png"))
        #expect(ds.skippedHidden == 2 && ds.skippedNonImages == 1)
        let unlabelled = try ImageFileDataset.folder(tree.root.path)
        #expect(unlabelled.count == 7 && unlabelled.label(at: 0) == nil && unlabelled.classes.isEmpty)
    }

    @Test func indexingListsFilesWithoutOpeningThem() throws {
        // 4000 zero-byte "images" in 40 classes: indexing succeeds (no file is read, or the
        // empty files would be noticed) and the index stays small.
        let tree = TemporaryImageTree()
        let fm = FileManager.default
        for c in 0..<40 {
            let dir = tree.root.appendingPathComponent(String(format: "class%02d", c))
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<100 { fm.createFile(atPath: dir.appendingPathComponent("img\(i).jpg").path, contents: nil) }
        }
        let ds = try ImageFileDataset.imageFolder(tree.root.path)
        #expect(ds.count == 4000 && ds.classes.count == 40)
        #expect(ds.label(at: 3999) == 39)
        #expect(ds.indexMemory < 4000 * 64, "\(ds.indexMemory) bytes for 4000 paths")
        let issues = DataIssueLog(report: DataIssueLog.silent)
        #expect(ds.loadImage(at: 0, issues: issues) == nil && issues.count(.empty) == 1)
    }

    @Test func fileListResolvesRelativePaths() throws {
        let tree = Self.imageFolder()
        tree.write("list.txt", Data("# training images\ncat/c1.png\n\n\(tree.root.path)/dog/d0.jpg\nreadme.md\n".utf8))
        let ds = try ImageFileDataset.list(tree.root.appendingPathComponent("list.txt").path)
        #expect(ds.count == 2 && ds.skippedNonImages == 1)
        let issues = DataIssueLog(report: DataIssueLog.silent)
        #expect(ds.loadImage(at: 0, issues: issues) == TemporaryImageTree.image(1))
        #expect(ds.loadImage(at: 1, issues: issues) != nil)
    }

    @Test func badFilesAreSkippedReportedAndCounted() throws {
        let tree = TemporaryImageTree()
        tree.write("good.png", try TemporaryImageTree.image(1).pngData())
        for bad in VisionFixtures.shared.bad {
            tree.copyFixture(bad.file, to: String(bad.file.dropFirst(4)))   // "bad_empty.jpg" → "empty.jpg"
        }
        let ds = try ImageFileDataset.folder(tree.root.path)
        #expect(ds.count == 7)
        let reported = ReportedPaths()
        let issues = DataIssueLog(report: { reported.add($0.path + ": " + $0.message) })
        let images = (0..<ds.count).compactMap { ds.loadImage(at: $0, issues: issues) }
        #expect(images.count == 1)
        #expect(issues.distinctFiles == 6)
        #expect(issues.count(.empty) == 1 && issues.count(.corrupt) == 2 && issues.count(.unknownFormat) == 1)
        #expect(issues.count(.tooLarge) == 1 && issues.count(.mislabelled) == 1)
        #expect(reported.all.count == 6)
        #expect(reported.all.contains { $0.contains("png_named.jpg") && $0.contains("content is png") })
        // The reason does not repeat the path (lists show "PATH: REASON").
        #expect(issues.entries.allSatisfy { !$0.message.contains(tree.root.path) })
        #expect(issues.summary.hasPrefix("6 bad files skipped"))
        // A second epoch counts again but reports nothing new.
        _ = (0..<ds.count).compactMap { ds.loadImage(at: $0, issues: issues) }
        #expect(issues.total == 12 && reported.all.count == 6)
        // Mislabelled files may be accepted on request.
        let i = (0..<ds.count).first { ds.path(at: $0).hasSuffix("png_named.jpg") }!
        #expect(ds.loadImage(at: i, issues: issues, acceptMislabelled: true) != nil)
    }

    /// Loads every batch of an epoch, as (indices, global tensor values, mask values).
    static func epochBatches(_ pipeline: MultiCropPipeline, workers: Int, epoch: Int = 0,
                             batchSize: Int = 3, dropLast: Bool = false) -> [([Int], [Float], [Bool])] {
        let loader = pipeline.loader(LoaderOptions(batchSize: batchSize, shuffle: true, dropLast: dropLast,
                                                   seed: 42, workers: workers, prefetchBatches: 2))
        return loader.epoch(epoch).map { ($0.indices, $0.global.scalars + ($0.local?.scalars ?? []), $0.masks?.values ?? []) }
    }

    @Test func sameSeedGivesSameBatchesWhateverTheWorkerCount() throws {
        let tree = Self.imageFolder()
        tree.write("cat/broken.jpg", Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]))
        let ds = try ImageFileDataset.imageFolder(tree.root.path)
        let pipeline = MultiCropPipeline(dataset: ds, config: .preset(.dinov2, globalSize: 16, localSize: 8, localCount: 2),
                                         maskCollator: MaskCollator(gridSize: 4),
                                         issues: DataIssueLog(report: DataIssueLog.silent))
        let reference = Self.epochBatches(pipeline, workers: 0)
        // 8 files, batches of 3 without drop-last: 3 + 3 + 2, minus the broken file.
        #expect(reference.map(\.0.count).reduce(0, +) == 7)
        #expect(Set(reference.flatMap(\.0)).count == 7)
        for workers in [1, 2, 3] {
            let other = Self.epochBatches(pipeline, workers: workers)
            #expect(other.count == reference.count)
            for (a, b) in zip(reference, other) {
                #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2, "workers \(workers)")
            }
        }
        // Another epoch: another order and other augmentations.
        let next = Self.epochBatches(pipeline, workers: 2, epoch: 1)
        #expect(next.flatMap(\.0) != reference.flatMap(\.0) || next.map(\.1) != reference.map(\.1))
        #expect(pipeline.issues.distinctFiles == 1)
    }

    @Test func dropLastAndBatchLayout() throws {
        let tree = Self.imageFolder()
        let ds = try ImageFileDataset.imageFolder(tree.root.path)
        let pipeline = MultiCropPipeline(dataset: ds, config: .preset(.dino, globalSize: 16, localSize: 8, localCount: 3))
        let loader = pipeline.loader(LoaderOptions(batchSize: 3, dropLast: true, seed: 1, workers: 2))
        #expect(loader.batchesPerEpoch == 2)
        let batches = Array(loader.epoch(0))
        #expect(batches.count == 2)
        let b = batches[0]
        #expect(b.global.shape == [6, 3, 16, 16])
        #expect(b.local!.shape == [9, 3, 8, 8])
        #expect(b.labels!.count == 3 && b.masks == nil)
        #expect(b.labels! == b.indices.map { ds.label(at: $0)! })
        // Normalised with ImageNet statistics: values within [(0 − 0.485) / 0.229, (1 − 0.406) / 0.225].
        #expect(b.global.scalars.allSatisfy { $0 >= -2.12 && $0 <= 2.65 })
    }

    @Test func queueIsBoundedAndAbandonedEpochsStop() throws {
        // 40 cheap items, prefetch 2, consumer slow to start: workers hold at most 2 batches.
        let options = LoaderOptions(batchSize: 2, shuffle: false, dropLast: false, seed: 0, workers: 3, prefetchBatches: 2)
        let produced = Counter()
        let loader = DataLoader<Int, [Int]>(count: 40, options: options,
                                            sample: { i, _ in produced.increment(); return i },
                                            collate: { samples, _, _ in samples })
        let epoch = loader.epoch(0)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(produced.value <= 4, "workers ran ahead: \(produced.value) samples before the first request")
        var all: [Int] = []
        while let b = epoch.next() { all += b }
        #expect(all == Array(0..<40))
        #expect(epoch.peakBatchesHeld <= 2)
        // An epoch dropped half-way stops its workers instead of leaking them.
        var partial: EpochIterator<Int, [Int]>? = loader.epoch(1)
        _ = partial!.next()
        partial = nil
        #expect(partial == nil)
    }

    @Test func startingMidEpochSkipsEarlierBatchesWithoutPreparingThem() throws {
        // The samples and their random numbers from batch 3 on equal the full epoch's, and
        // the skipped batches' samples are never made (resume does not redo their work).
        let produced = Counter()
        func loader(workers: Int) -> DataLoader<[Int], [[Int]]> {
            DataLoader(count: 23, options: LoaderOptions(batchSize: 4, shuffle: true, dropLast: true, seed: 5, workers: workers),
                       sample: { i, g in produced.increment(); return [i, g.nextInt(1 << 30)] },
                       collate: { samples, _, g in samples + [[g.nextInt(1 << 30)]] })
        }
        let full = Array(loader(workers: 2).epoch(2))
        #expect(full.count == 5)
        for workers in [0, 2] {
            let before = produced.value
            let tail = Array(loader(workers: workers).epoch(2, startingAt: 3))
            #expect(tail == Array(full[3...]), "workers \(workers)")
            #expect(produced.value - before == 8, "workers \(workers): prepared \(produced.value - before) samples for 2 batches")
            #expect(Array(loader(workers: workers).epoch(2, startingAt: 5)).isEmpty)
            #expect(Array(loader(workers: workers).epoch(2, startingAt: 9)).isEmpty)
        }
    }

    /// Workers that find nothing to do exit while the iterator is still starting the others:
    /// the count of live workers was incremented outside the lock then (a data race that
    /// ThreadSanitizer reported here); a lost update could leave `stop()` waiting for a worker
    /// that had already gone, or returning before one had. Many such epochs must each end
    /// (without the fix a plain run rarely hangs; `swift test --sanitize=thread` reports the race).
    @Test(.timeLimit(.minutes(1))) func workersWithNothingToDoAllEnd() {
        let loader = DataLoader<Int, [Int]>(count: 8, options: LoaderOptions(batchSize: 4, workers: 8),
                                            sample: { i, _ in i }, collate: { s, _, _ in s })
        for epoch in 0..<100 {
            let it = loader.epoch(epoch, startingAt: 2)   // past the last batch: no work at all
            #expect(it.next() == nil)
            it.stop()
        }
    }
}

final class ReportedPaths: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
