@testable import DinoCuration
import DinoVision
import Foundation
import Testing

/// `PixelDescriptor`: Pearson correlation of downsampled grey images, as its comment says.
struct PixelDescriptorTests {
    /// A 16×16 grey glyph-like test image: a bright bar at column `x`, value `v`, background `b`.
    func bar(x: Int, v: Int = 200, b: Int = 10) -> RGBImage {
        RGBImage(width: 16, height: 16) { p in
            for y in 0..<16 { for c in 0..<16 { for k in 0..<3 { p[(y * 16 + c) * 3 + k] = UInt8(c == x || c == x + 1 ? v : b) } } }
        }
    }

    func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map(*).reduce(0, +) }

    @Test func unitNormZeroMeanAndAffineInvariance() {
        let a = PixelDescriptor.descriptor(bar(x: 4), side: 16)
        #expect(abs(a.reduce(0, +)) < 1e-4)
        #expect(abs(dot(a, a) - 1) < 1e-4)
        // brightness offset + contrast gain: same descriptor (cosine 1)
        let brighter = PixelDescriptor.descriptor(bar(x: 4, v: 120, b: 40), side: 16)
        #expect(dot(a, brighter) > 0.9999)
        // a moved bar is a different image
        let moved = PixelDescriptor.descriptor(bar(x: 10), side: 16)
        #expect(dot(a, moved) < 0.5)
        // downsampling to 8×8 keeps a bar moved by one pixel within one box cell close
        let a8 = PixelDescriptor.descriptor(bar(x: 4), side: 8)
        let b8 = PixelDescriptor.descriptor(bar(x: 5), side: 8)
        #expect(a8.count == 64 && dot(a8, b8) > 0.3)
    }

    @Test func constantImageIsTheZeroRow() {
        let d = PixelDescriptor.descriptor(RGBImage(width: 8, height: 8, red: 90, green: 90, blue: 90), side: 8)
        #expect(d.allSatisfy { $0 == 0 })
    }

    @Test func matchesPearsonCorrelationOfLuma() {
        // two random colour images: cosine of descriptors = Pearson correlation of their lumas
        var g = SystemRandomNumberGenerator()
        let imgs = (0..<2).map { _ in RGBImage(width: 8, height: 8, pixels: (0..<192).map { _ in UInt8.random(in: 0...255, using: &g) }) }
        var luma: [[Double]] = []
        for im in imgs {
            var l = [Double](repeating: 0, count: 64)
            for i in 0..<64 {
                let r = 299 * Int(im.pixels[3 * i]), g = 587 * Int(im.pixels[3 * i + 1]), b = 114 * Int(im.pixels[3 * i + 2])
                l[i] = Double(r + g + b) / 1000
            }
            luma.append(l)
        }
        let m0 = luma[0].reduce(0, +) / 64, m1 = luma[1].reduce(0, +) / 64
        var c = 0.0, n0 = 0.0, n1 = 0.0
        for i in 0..<64 {
            let u = luma[0][i] - m0, v = luma[1][i] - m1
            c += u * v; n0 += u * u; n1 += v * v
        }
        let pearson = c / (n0 * n1).squareRoot()
        let d = imgs.map { PixelDescriptor.descriptor($0, side: 8) }
        #expect(abs(Double(dot(d[0], d[1])) - pearson) < 1e-4)
    }
}
