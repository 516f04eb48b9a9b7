import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// Every deterministic transform against torchvision-on-PIL output for fixed boxes and factors.
@Suite struct TransformFixtureTests {
    static let fixtures = VisionFixtures.shared

    /// Runs one fixture case through our implementation.
    static func apply(_ c: VisionFixtures.Case, to image: RGBImage) -> RGBImage? {
        let p = c.params
        func filter() -> ResampleFilter { ResampleFilter(rawValue: p["filter"]!.text)! }
        switch c.op {
        case "resize":
            return image.resized(width: p["width"]!.int, height: p["height"]!.int, filter: filter())
        case "resize_shorter":
            return image.resized(shorterSide: p["size"]!.int, filter: filter())
        case "center_crop":
            return image.centerCropped(width: p["width"]!.int, height: p["height"]!.int)
        case "resized_crop":
            let s = p["size"]!.int
            return image.resizedCrop(top: p["top"]!.int, left: p["left"]!.int, height: p["height"]!.int,
                                     width: p["width"]!.int, outputWidth: s, outputHeight: s, filter: filter())
        case "hflip": return image.flippedHorizontally()
        case "brightness": return image.adjustingBrightness(p["factor"]!.number)
        case "contrast": return image.adjustingContrast(p["factor"]!.number)
        case "saturation": return image.adjustingSaturation(p["factor"]!.number)
        case "hue": return image.adjustingHue(p["factor"]!.number)
        case "grayscale": return image.grayscale()
        case "solarize": return image.solarized(threshold: p["threshold"]!.int)
        case "blur_torchvision":
            return image.gaussianBlurred(sigma: p["sigma"]!.number, kind: .torchvision(kernelSize: p["kernel"]!.int))
        case "blur_pil": return image.gaussianBlurred(sigma: p["sigma"]!.number, kind: .pil)
        default: return nil
        }
    }

    /// Exact ops must match to the byte; the separable torchvision blur within one grey level.
    static func tolerance(_ op: String) -> Int { op == "blur_torchvision" ? 1 : 0 }

    @Test(arguments: fixtures.cases.filter { $0.op != "normalize" }.map(\.name))
    func matchesTorchvision(_ name: String) throws {
        let c = try #require(Self.fixtures.cases.first { $0.name == name })
        let input = VisionFixtures.image(Self.fixtures.inputs[c.input]!)
        let expected = VisionFixtures.image(c.output)
        let actual = try #require(Self.apply(c, to: input), "unknown op \(c.op)")
        #expect(imageMismatch(actual, expected, tolerance: Self.tolerance(c.op)) == nil, "\(name)")
    }

    @Test func normalizeMatchesToTensorThenNormalize() throws {
        let c = try #require(Self.fixtures.cases.first { $0.op == "normalize" })
        let input = VisionFixtures.image(Self.fixtures.inputs[c.input]!)
        let norm = ImageNormalization(mean: c.params["mean"]!.list, std: c.params["std"]!.list)
        let t = norm.tensor(input)
        #expect(t.shape == c.output.shape!)
        #expect(mismatch(t.scalars, VisionFixtures.floats(c.output), rtol: 0, atol: 1e-6) == nil)
        #expect(norm == .imageNet)
    }

    @Test func cropFlipAndTransposeAreExactPermutations() {
        let img = RGBImage(width: 3, height: 2, pixels: (0..<18).map(UInt8.init))
        #expect(img.cropped(top: 1, left: 1, height: 1, width: 2).pixels == [12, 13, 14, 15, 16, 17])
        #expect(img.flippedHorizontally().pixels == [6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11])
        #expect(img.flippedVertically().pixels == [9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8])
        let t = img.transposed()
        #expect(t.width == 2 && t.height == 3)
        #expect(t[1, 2] == img[2, 1])
        // EXIF 6 (rotate 90° clockwise): the left column becomes the top row, read bottom-up.
        let r = img.applyingEXIFOrientation(6)
        #expect(r.width == 2 && r.height == 3)
        #expect(r[0, 0] == img[0, 1] && r[1, 0] == img[0, 0])
        #expect(img.applyingEXIFOrientation(8).applyingEXIFOrientation(6) == img)
    }

    @Test func resizeToSameSizeIsIdentityAndConstantImagesStayConstant() {
        let img = RGBImage(width: 17, height: 9, red: 200, green: 13, blue: 77)
        for filter in ResampleFilter.allCases {
            #expect(img.resized(width: 17, height: 9, filter: filter) == img)
            // Weights sum to one after rounding to 22 bits: a constant image stays constant.
            let small = img.resized(width: 5, height: 4, filter: filter)
            let big = img.resized(width: 40, height: 23, filter: filter)
            #expect(small == RGBImage(width: 5, height: 4, red: 200, green: 13, blue: 77))
            #expect(big == RGBImage(width: 40, height: 23, red: 200, green: 13, blue: 77))
        }
    }

    @Test func shrinkingIsAntialiased() {
        // A 1-pixel checkerboard shrunk by 4 averages to mid-gray; without antialiasing it
        // would sample only black or only white pixels.
        var px = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for y in 0..<64 { for x in 0..<64 where (x + y) % 2 == 0 { for c in 0..<3 { px[(y * 64 + x) * 3 + c] = 255 } } }
        let board = RGBImage(width: 64, height: 64, pixels: px)
        for filter in [ResampleFilter.bilinear, .bicubic] {
            let small = board.resized(width: 16, height: 16, filter: filter)
            let interior = (2..<14).flatMap { y in (2..<14).map { x in Int(small[x, y].0) } }
            #expect(interior.allSatisfy { abs($0 - 128) <= 2 }, "\(filter): \(interior.prefix(8))")
        }
    }
}
