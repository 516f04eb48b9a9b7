// The training input of DINO-family methods: batches of normalised global and local views of
// dataset images, with iBOT masks for the global views, from a parallel loader.
//
// Layout follows DINOv2's collate_data_and_cast: views are stacked view-major, i.e. rows
// 0..<B are global view 0 of every sample, rows B..<2B global view 1; local views likewise.

import DinoTensor
import Foundation

/// One training batch of multi-crop views.
public struct MultiCropBatch: @unchecked Sendable {
    /// (2B, 3, G, G) normalised global views, view-major.
    public let global: Tensor
    /// (L·B, 3, l, l) normalised local views, view-major; nil when there are no local views.
    public let local: Tensor?
    /// iBOT masks of the 2B global views, when a mask collator is set.
    public let masks: BatchMasks?
    /// Dataset index of each sample (B of them).
    public let indices: [Int]
    /// Class label of each sample, when the dataset has labels.
    public let labels: [Int]?
    /// (2B, 3, S, S) normalised Gram teacher views, view-major, with `gramCrops`.
    public var gram: Tensor? = nil

    /// Number of samples B.
    public var count: Int { indices.count }
}

/// Stacks views into a (N, 3, S, S) tensor, normalising on the way.
public func stackViews(_ views: [RGBImage], normalization: ImageNormalization) -> Tensor {
    precondition(!views.isEmpty, "stackViews: no views")
    let (w, h) = (views[0].width, views[0].height)
    let t = Tensor(storage: TensorStorage(dtype: .float32, count: views.count * 3 * w * h, zeroed: false),
                   shape: [views.count, 3, h, w])
    let p = t.pointer(Float.self)
    for (i, v) in views.enumerated() {
        precondition(v.width == w && v.height == h, "stackViews: view \(i) is \(v.width)×\(v.height), not \(w)×\(h)")
        normalization.write(v, to: p + i * 3 * w * h)
    }
    return t
}

/// Builds the multi-crop loader of a dataset.
public struct MultiCropPipeline: Sendable {
    public let dataset: ImageFileDataset
    public let augmentation: MultiCropAugmentation
    public let maskCollator: MaskCollator?
    public let decodeOptions: DecodeOptions
    public let issues: DataIssueLog

    /// - Parameters:
    ///   - reduceLargeJPEGs: decode JPEGs much larger than the crops need at a reduced DCT
    ///     scale (shorter side ≥ `config.decodeShorterSide`).
    public init(dataset: ImageFileDataset, config: MultiCropConfig, maskCollator: MaskCollator? = nil,
                maxPixels: Int = 100_000_000, reduceLargeJPEGs: Bool = true, issues: DataIssueLog = DataIssueLog()) {
        self.dataset = dataset
        self.augmentation = MultiCropAugmentation(config)
        self.maskCollator = maskCollator
        self.decodeOptions = DecodeOptions(maxPixels: maxPixels,
                                           minimumShorterSide: reduceLargeJPEGs ? config.decodeShorterSide : nil)
        self.issues = issues
    }

    /// The views of dataset item `index` (nil when the file is bad; it is then logged).
    public func views(at index: Int, generator: RandomGenerator) -> MultiCropViews? {
        guard let image = dataset.loadImage(at: index, options: decodeOptions, issues: issues) else { return nil }
        return augmentation(image, generator: generator)
    }

    /// Stacks the samples' views and draws the batch's masks.
    ///
    /// - Parameter shard: this batch as slice `index` of `count` of a global batch (data-parallel
    ///   training): the masks are drawn for the 2·count·B global views, from the same
    ///   generator as one process would, and this slice's views taken from them (DINOv2's
    ///   number of masked views, `int(2B·p)`, is then the global batch's).
    public func collate(_ samples: [MultiCropViews], indices: [Int], generator: RandomGenerator,
                        shard: (index: Int, count: Int) = (0, 1)) -> MultiCropBatch {
        let norm = augmentation.config.normalization
        let globals = (0..<2).flatMap { v in samples.map { $0.global[v] } }
        let localCount = augmentation.config.local.count
        let locals = (0..<localCount).flatMap { v in samples.map { $0.local[v] } }
        let labels: [Int]? = dataset.classes.isEmpty ? nil : indices.map { dataset.label(at: $0)! }
        return MultiCropBatch(global: stackViews(globals, normalization: norm),
                              local: locals.isEmpty ? nil : stackViews(locals, normalization: norm),
                              masks: maskCollator.map { Self.shardMasks($0, views: globals.count, generator: generator, shard: shard) },
                              indices: indices, labels: labels,
                              gram: augmentation.config.gramCrops == nil ? nil
                                  : stackViews((0..<2).flatMap { v in samples.map { $0.gram[v] } }, normalization: norm))
    }

    /// The masks of this shard's `views` global views (view-major: rows v·B + i), cut from the
    /// masks of the global batch's count·views rows (rows v·count·B + index·B + i).
    static func shardMasks(_ collator: MaskCollator, views: Int, generator: RandomGenerator,
                           shard: (index: Int, count: Int)) -> BatchMasks {
        if shard.count == 1 { return collator.masks(count: views, generator: generator) }
        let all = collator.masks(count: views * shard.count, generator: generator)
        let b = views / 2, globalB = b * shard.count, n = all.patches
        var values: [Bool] = []
        values.reserveCapacity(views * n)
        for v in 0..<2 {
            let first = (v * globalB + shard.index * b) * n
            values.append(contentsOf: all.values[first..<(first + b * n)])
        }
        return BatchMasks(count: views, patches: n, values: values, upperbound: all.upperbound)
    }

    /// A parallel loader of multi-crop batches (of this shard's slice of each batch when
    /// `options.shards` > 1).
    public func loader(_ options: LoaderOptions) -> DataLoader<MultiCropViews, MultiCropBatch> {
        let pipeline = self
        let shard = (index: options.shard, count: options.shards)
        return DataLoader(count: dataset.count, options: options,
                          sample: { pipeline.views(at: $0, generator: $1) },
                          collate: { pipeline.collate($0, indices: $1, generator: $2, shard: shard) })
    }
}
