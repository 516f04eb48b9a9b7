// A folder that mirrors the image folders of a dataset, file for file: masks and depth maps of
// dense evaluations. For images under DATA/train/…, the file of DATA/train/A/x.png is
// MIRROR/train/A/x.png (the same relative path below a folder named like the image split), or
// MIRROR/A/x.png when MIRROR has no sub-folder named like the split.
//
// Used by `SegmentationMasks` (per-pixel classes) and `DepthMaps` (per-pixel depth).

import Foundation

/// The mirror of `images.root` below a folder of per-image targets.
public struct MirroredFolder: Sendable {
    public let images: ImageFileDataset
    /// The folder mirroring `images.root` (MIRROR/<split>, or MIRROR itself).
    public let root: String

    /// - Parameters:
    ///   - images: the image dataset (its root is DATA/<split>).
    ///   - mirrorRoot: MIRROR, holding one sub-folder per split (or the mirror of `images.root` itself).
    /// - Throws: `DatasetError.missing` when `mirrorRoot` is not a folder.
    public init(images: ImageFileDataset, mirrorRoot: String) throws {
        self.images = images
        let split = (images.root as NSString).lastPathComponent
        let nested = (mirrorRoot as NSString).appendingPathComponent(split)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory), isDirectory.boolValue {
            root = nested
        } else if FileManager.default.fileExists(atPath: mirrorRoot, isDirectory: &isDirectory), isDirectory.boolValue {
            root = mirrorRoot
        } else {
            throw DatasetError.missing(mirrorRoot)
        }
    }

    /// Path of the mirrored file of image i.
    public func path(at i: Int) -> String {
        let full = images.path(at: i)
        let prefix = images.root + "/"
        let relative = full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : (full as NSString).lastPathComponent
        return (root as NSString).appendingPathComponent(relative)
    }

    /// Path of the mirrored file of image i, which must exist: the same name, or the same name
    /// with the extension `.png` (ADE20K: images/training/x.jpg ↔ annotations/training/x.png).
    ///
    /// - Throws: `ImageDecodingError` naming the missing file and its image.
    public func existingPath(at i: Int, what: String) throws -> String {
        let p = path(at: i)
        if FileManager.default.fileExists(atPath: p) { return p }
        let png = ((p as NSString).deletingPathExtension as NSString).appendingPathExtension("png")!
        guard FileManager.default.fileExists(atPath: png) else {
            throw ImageDecodingError(path: p, reason: .unreadable("no \(what) for \(images.path(at: i))"))
        }
        return png
    }
}

/// Nearest-neighbour sampling of a row-major `width × height` grid to `outWidth × outHeight`
/// (source index ⌊i · in / out⌋).
public func nearestResample<T>(_ values: [T], width: Int, height: Int, outWidth: Int, outHeight: Int) -> [T] {
    if width == outWidth && height == outHeight { return values }
    var out: [T] = []
    out.reserveCapacity(outWidth * outHeight)
    for y in 0..<outHeight {
        let sy = Swift.min(y * height / outHeight, height - 1)
        for x in 0..<outWidth { out.append(values[sy * width + Swift.min(x * width / outWidth, width - 1)]) }
    }
    return out
}
