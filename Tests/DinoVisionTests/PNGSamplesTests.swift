import DinoVision
import Foundation
import Testing

/// Raw PNG samples (16-bit depth maps and palette masks are read by DinoEval's fixture tests
/// against PIL); here the plain cases and the errors.
@Suite struct PNGSamplesTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dino-png-\(UUID().uuidString)-\(name)")
    }

    @Test func readsRGBSamplesAsWritten() throws {
        let url = Self.temporary("rgb.png")
        defer { try? FileManager.default.removeItem(at: url) }
        let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0 * 10) })
        try image.writePNG(to: url)
        let png = try PNGSamples.read(url.path)
        #expect(png.width == 3 && png.height == 2 && png.channels == 3 && png.bitDepth == 8 && !png.isPalette)
        #expect(png.samples == image.pixels.map { UInt16($0) })
        #expect(png.firstChannel == [0, 30, 60, 90, 120, 150])
    }

    @Test func errorsNameTheFile() throws {
        let url = Self.temporary("not.png")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("not an image".utf8).write(to: url)
        do { _ = try PNGSamples.read(url.path); Issue.record("expected an error") } catch {
            #expect("\(error)".contains(url.path) && "\(error)".contains("not a PNG"))
        }
        #expect(throws: ImageDecodingError.self) { try PNGSamples.read(url.path + ".missing") }
    }

    @Test func depthMapsRefuseColourImages() throws {
        let root = Self.temporary("tree")
        defer { try? FileManager.default.removeItem(at: root) }
        for folder in ["images/train/a", "depth/train/a"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try RGBImage(width: 2, height: 2, red: 9).writePNG(to: root.appendingPathComponent("images/train/a/x.png"))
        try RGBImage(width: 2, height: 2, red: 9).writePNG(to: root.appendingPathComponent("depth/train/a/x.png"))
        let maps = try DepthMaps(images: ImageFileDataset.imageFolder(root.appendingPathComponent("images/train").path),
                                 depthRoot: root.appendingPathComponent("depth").path)
        do { _ = try maps.depth(at: 0, width: 2, height: 2); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("depth/train/a/x.png") && "\(error)".contains("gray PNG"))
        }
    }
}
