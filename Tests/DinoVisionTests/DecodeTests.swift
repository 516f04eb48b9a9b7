import DinoVision
import Foundation
import Testing

/// Decoding against PIL's decoding of the same files, and the refusal of bad files.
@Suite struct DecodeTests {
    static let fixtures = VisionFixtures.shared

    @Test(arguments: fixtures.decode.map(\.file))
    func decodesLikePIL(_ file: String) throws {
        let c = try #require(Self.fixtures.decode.first { $0.file == file })
        let image = try ImageDecoder.decode(contentsOf: VisionFixtures.url(file))
        let expected = VisionFixtures.image(c.expected)
        #expect(imageMismatch(image, expected, tolerance: c.tolerance) == nil, "\(file): \(c.note)")
    }

    @Test(arguments: fixtures.bad.map(\.file))
    func badFilesFailWithTheirPathAndReason(_ file: String) throws {
        let c = try #require(Self.fixtures.bad.first { $0.file == file })
        let url = VisionFixtures.url(file)
        if c.reason == "mislabelled" {
            // The content is a valid PNG: the decoder reads it; the dataset layer refuses it.
            #expect(throws: Never.self) { try ImageDecoder.decode(contentsOf: url) }
            return
        }
        do {
            _ = try ImageDecoder.decode(contentsOf: url)
            Issue.record("\(file) decoded but should fail with \(c.reason)")
        } catch let error as ImageDecodingError {
            #expect(error.description.contains(url.path), "error should name the file: \(error)")
            switch (c.reason, error.reason) {
            case ("empty", .empty), ("corrupt", .corrupt), ("unknownFormat", .unknownFormat): break
            case ("tooLarge", .tooLarge(let w, let h, let limit)):
                #expect(w == 20000 && h == 20000 && limit == 100_000_000)
            default: Issue.record("\(file): expected \(c.reason), got \(error)")
            }
        }
    }

    @Test func sizeLimitIsCheckedBeforeDecoding() throws {
        let url = VisionFixtures.url("dec_baseline.jpg")
        let full = try ImageDecoder.decode(contentsOf: url)
        #expect(throws: ImageDecodingError.self) {
            try ImageDecoder.decode(contentsOf: url, options: DecodeOptions(maxPixels: full.pixelCount - 1))
        }
        #expect(try ImageDecoder.decode(contentsOf: url, options: DecodeOptions(maxPixels: full.pixelCount)) == full)
        let size = try ImageDecoder.size(contentsOf: url)
        #expect(size.width == full.width && size.height == full.height)
    }

    @Test func largeJPEGDecodesAtReducedScale() throws {
        // Encode a 256×192 JPEG through the PNG → JPEG fixtures? Use the EXIF-free baseline:
        // 45×30 is too small to reduce, so decode a synthetic larger image written by TurboJPEG.
        let big = RGBImage(width: 256, height: 192) { p in
            for y in 0..<192 { for x in 0..<256 { p[(y * 256 + x) * 3] = UInt8(x); p[(y * 256 + x) * 3 + 1] = UInt8(y); p[(y * 256 + x) * 3 + 2] = 90 } }
        }
        let jpeg = try big.jpegData(quality: 95)
        let full = try ImageDecoder.decode(jpeg)
        #expect(full.width == 256 && full.height == 192)
        // Shorter side 192 ≥ 2 × 48: decode at the smallest scale keeping ≥ 48 px, i.e. 1/4.
        let reduced = try ImageDecoder.decode(jpeg, options: DecodeOptions(minimumShorterSide: 48))
        #expect(reduced.width == 64 && reduced.height == 48)
        // Not much larger than needed: full size.
        let kept = try ImageDecoder.decode(jpeg, options: DecodeOptions(minimumShorterSide: 100))
        #expect(kept.width == 256)
        // The reduced decode is a faithful downscale (smooth gradient: close to a resize).
        let resized = full.resized(width: 64, height: 48, filter: .box)
        var worst = 0
        for i in 0..<resized.pixels.count { worst = max(worst, abs(Int(resized.pixels[i]) - Int(reduced.pixels[i]))) }
        #expect(worst <= 8)
    }

    @Test func pngRoundTripThroughEncoder() throws {
        let img = RGBImage(width: 5, height: 3, pixels: (0..<45).map { UInt8($0 * 5) })
        let data = try img.pngData()
        #expect(try ImageDecoder.decode(data) == img)
    }

    @Test func formatIsSniffedFromContentNotExtension() throws {
        let png = try Data(contentsOf: VisionFixtures.url("bad_png_named.jpg"))
        png.withUnsafeBytes { #expect(ImageFormat.sniff($0) == .png) }
        let text = Data("P6 but then nothing".utf8)
        #expect(throws: ImageDecodingError.self) { try ImageDecoder.decode(text) }
    }
}

/// The shared photos (../shared/datasets/photos beside the repository), when present.
@Suite struct SharedPhotoTests {
    static let photos: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/datasets/photos")

    @Test(.enabled(if: FileManager.default.fileExists(atPath: photos.path)))
    func everySharedPhotoDecodes() throws {
        let ds = try ImageFileDataset.folder(Self.photos.path)
        #expect(ds.count == 15)
        let issues = DataIssueLog(report: DataIssueLog.silent)
        for i in 0..<ds.count {
            let img = try #require(ds.loadImage(at: i, issues: issues), "\(ds.path(at: i))")
            #expect(img.width >= 300 && img.height >= 300)
        }
        #expect(issues.total == 0)
    }
}

@Suite struct AugmentationGridTests {
    @Test func gridHasOneRowPerImageAndDrawsMasks() throws {
        let images = (0..<2).map { TemporaryImageTree.image($0, width: 50, height: 40) }
        let config = MultiCropConfig.preset(.dinov2, globalSize: 32, localSize: 16, localCount: 3)
        let grid = AugmentationGrid(config: config, maskCollator: MaskCollator(gridSize: 8), patchSize: 4, seed: 1)
        let picture = grid.render(images)
        // Cells: 32 px enlarged ×5 = 160 high; 2 rows with 6-px gaps.
        #expect(picture.height == 2 * (160 + 6) + 6)
        // Half of the 4 global views are masked: red patch borders (255, 40, 40) appear.
        var red = 0
        for i in 0..<picture.pixelCount where picture.pixels[3 * i] == 255 && picture.pixels[3 * i + 1] == 40 { red += 1 }
        #expect(red > 0)
        let png = try picture.pngData()
        #expect(try ImageDecoder.decode(png) == picture)
    }
}
