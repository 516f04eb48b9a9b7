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
    public let images: ImageFileDataset
    /// The folder mirroring `images.root` (MASKS/<split>).
    public let root: String

    /// - Parameters:
    ///   - images: the image dataset (its root is DATA/<split>).
    ///   - masksRoot: MASKS, the folder holding one sub-folder per split (or, when it has no
    ///     sub-folder named like the split, the mirror of `images.root` itself).
    public init(images: ImageFileDataset, masksRoot: String) throws {
        self.images = images
        let split = (images.root as NSString).lastPathComponent
        let nested = (masksRoot as NSString).appendingPathComponent(split)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory), isDirectory.boolValue {
            root = nested
        } else if FileManager.default.fileExists(atPath: masksRoot, isDirectory: &isDirectory), isDirectory.boolValue {
            root = masksRoot
        } else {
            throw DatasetError.missing(masksRoot)
        }
    }

    /// Path of the mask of image i.
    public func path(at i: Int) -> String {
        let full = images.path(at: i)
        let prefix = images.root + "/"
        let relative = full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : (full as NSString).lastPathComponent
        return (root as NSString).appendingPathComponent(relative)
    }

    /// The labels of image i, height × width row-major, resized with nearest-neighbour sampling
    /// when the mask's size differs from (width, height).
    ///
    /// - Throws: `ImageDecodingError` when the mask is missing or unreadable.
    public func labels(at i: Int, width: Int, height: Int) throws -> [Int] {
        let p = path(at: i)
        guard FileManager.default.fileExists(atPath: p) else {
            throw ImageDecodingError(path: p, reason: .unreadable("no mask for \(images.path(at: i))"))
        }
        let mask = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: p))
        var out = [Int](repeating: 0, count: width * height)
        for y in 0..<height {
            let sy = Swift.min(y * mask.height / height, mask.height - 1)
            for x in 0..<width {
                let sx = Swift.min(x * mask.width / width, mask.width - 1)
                out[y * width + x] = Int(mask.pixels[(sy * mask.width + sx) * 3])
            }
        }
        return out
    }
}
