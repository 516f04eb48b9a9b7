// Per-pixel depth for the images of a dataset, NYU-style: a folder mirroring the image folders
// (`MirroredFolder`) of single-channel 16-bit PNGs whose values are depths in millimetres, 0 where
// the depth is unknown. scenes-dev/depth has this layout; so do the NYU Depth v2 PNG exports
// read by DINOv2's and DINOv3's depth evaluations (`depth_scale` 1000).

import Foundation

/// The depth maps that belong to the images of a dataset.
public struct DepthMaps: Sendable {
    public let folder: MirroredFolder
    public var images: ImageFileDataset { folder.images }
    /// Metres per stored unit (NYU: 1/1000, millimetres).
    public let metresPerUnit: Double

    /// - Parameters:
    ///   - images: the image dataset (its root is DATA/<split>).
    ///   - depthRoot: the folder of depth maps (one sub-folder per split, or the split's mirror).
    ///   - metresPerUnit: scale of the stored values (1/1000 for millimetres).
    public init(images: ImageFileDataset, depthRoot: String, metresPerUnit: Double = 0.001) throws {
        folder = try MirroredFolder(images: images, mirrorRoot: depthRoot)
        self.metresPerUnit = metresPerUnit
    }

    /// Path of the depth map of image i.
    public func path(at i: Int) -> String { folder.path(at: i) }

    /// The depth of image i in metres, height × width row-major (0: unknown), sampled to that
    /// size with nearest neighbours when the map's size differs.
    ///
    /// - Throws: `ImageDecodingError` when the map is missing, unreadable or not single-channel.
    public func depth(at i: Int, width: Int, height: Int) throws -> [Float] {
        let p = try folder.existingPath(at: i, what: "depth map")
        let png = try PNGSamples.read(p)
        guard png.channels == 1 && !png.isPalette else {
            throw ImageDecodingError(path: p, reason: .unreadable("a depth map must be a gray PNG (16-bit, millimetres); this one has \(png.channels) channel(s)\(png.isPalette ? ", palette" : "")"))
        }
        let metres = png.samples.map { Float(Double($0) * metresPerUnit) }
        return nearestResample(metres, width: png.width, height: png.height, outWidth: width, outHeight: height)
    }
}
