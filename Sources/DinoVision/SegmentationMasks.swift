// Per-pixel class labels for the images of a dataset, from a masks folder that mirrors the image
// folders: for images under DATA/train/…, the mask of DATA/train/A/x.png is MASKS/train/A/x.png
// (same relative path below a folder named like the image split), an 8-bit image whose pixel
// value is the class index (the first channel is read; gray PNGs decode to equal channels).
//
// Used by the dense (segmentation) evaluation; glyphs-dev/masks and glyphs-dev-wild/masks have
// this layout (0 = background, k + 1 = glyph of the k-th class).

import Foundation

/// The masks that belong to the images of a dataset.
public struct SegmentationMasks: Sendable {
    public let folder: MirroredFolder
    public var images: ImageFileDataset { folder.images }
    /// The folder mirroring `images.root` (MASKS/<split>).
    public var root: String { folder.root }

    /// - Parameters:
    ///   - images: the image dataset (its root is DATA/<split>).
    ///   - masksRoot: MASKS, the folder holding one sub-folder per split (or, when it has no
    ///     sub-folder named like the split, the mirror of `images.root` itself).
    public init(images: ImageFileDataset, masksRoot: String) throws {
        folder = try MirroredFolder(images: images, mirrorRoot: masksRoot)
    }

    /// Path of the mask of image i.
    public func path(at i: Int) -> String { folder.path(at: i) }

    /// The labels of image i, height × width row-major, resized with nearest-neighbour sampling
    /// when the mask's size differs from (width, height).
    ///
    /// - Throws: `ImageDecodingError` when the mask is missing or unreadable.
    public func labels(at i: Int, width: Int, height: Int) throws -> [Int] {
        let mask = try nativeLabels(at: i)
        return nearestResample(mask.labels, width: mask.width, height: mask.height, outWidth: width, outHeight: height)
    }

    /// The labels of image i at the mask's own size (the first channel's values), row-major.
    ///
    /// - Throws: `ImageDecodingError` when the mask is missing or unreadable.
    public func nativeLabels(at i: Int) throws -> (labels: [Int], width: Int, height: Int) {
        let p = try folder.existingPath(at: i, what: "mask")
        let mask = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: p))
        return (stride(from: 0, to: mask.pixels.count, by: 3).map { Int(mask.pixels[$0]) }, mask.width, mask.height)
    }
}
