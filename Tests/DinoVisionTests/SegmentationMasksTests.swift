import DinoVision
import Foundation
import Testing

/// Masks found through the mirrored folder layout and read as class indices.
@Suite struct SegmentationMasksTests {
    static func mask(_ width: Int, _ height: Int, _ value: (Int, Int) -> UInt8) -> RGBImage {
        var pixels: [UInt8] = []
        for y in 0..<height { for x in 0..<width { let v = value(x, y); pixels += [v, v, v] } }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test func masksMirrorTheImageFoldersAndGiveClassIndices() throws {
        let tree = TemporaryImageTree()
        for name in ["A/x.png", "B/y.png"] {
            tree.write("data/train/\(name)", try TemporaryImageTree.image(1).pngData())
        }
        tree.write("masks/train/A/x.png", try Self.mask(4, 2) { x, y in UInt8(x + 4 * y) }.pngData())
        let ds = try ImageFileDataset.imageFolder(tree.root.appendingPathComponent("data/train").path)
        let masks = try SegmentationMasks(images: ds, masksRoot: tree.root.appendingPathComponent("masks").path)
        #expect(masks.path(at: 0) == tree.root.appendingPathComponent("masks/train/A/x.png").path)
        #expect(try masks.labels(at: 0, width: 4, height: 2) == [0, 1, 2, 3, 4, 5, 6, 7])
        // Nearest-neighbour to another size: 2×1 reads pixels (0, 0) and (2, 0).
        #expect(try masks.labels(at: 0, width: 2, height: 1) == [0, 2])
        // A missing mask names the file.
        #expect(throws: ImageDecodingError.self) { try masks.labels(at: 1, width: 4, height: 2) }
        // A masks folder that is itself the mirror of the split also works.
        let direct = try SegmentationMasks(images: ds, masksRoot: tree.root.appendingPathComponent("masks/train").path)
        #expect(direct.path(at: 0) == masks.path(at: 0))
        #expect(throws: DatasetError.self) { try SegmentationMasks(images: ds, masksRoot: tree.root.appendingPathComponent("none").path) }
    }
}
