// Loading the fixtures made by scripts/make_vision_fixtures.py (torchvision and PIL output).

import DinoVision
import Foundation

struct VisionFixtures: Decodable {
    struct ImageFile: Decodable {
        let file: String
        let width: Int?
        let height: Int?
        let shape: [Int]?
    }

    struct Case: Decodable {
        let name: String
        let op: String
        let input: String
        let params: [String: Param]
        let output: ImageFile
    }

    struct DecodeCase: Decodable {
        let file: String
        let expected: ImageFile
        let note: String
        let tolerance: Int
    }

    struct BadFile: Decodable {
        let file: String
        let reason: String
    }

    /// A JSON parameter: a number, a string or a list of numbers.
    enum Param: Decodable {
        case number(Double), text(String), list([Double])

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .text(s) }
            else { self = .list(try c.decode([Double].self)) }
        }

        var number: Double { if case .number(let d) = self { return d }; fatalError("not a number") }
        var int: Int { Int(number) }
        var text: String { if case .text(let s) = self { return s }; fatalError("not a string") }
        var list: [Double] { if case .list(let l) = self { return l }; fatalError("not a list") }
    }

    let inputs: [String: ImageFile]
    let cases: [Case]
    let decode: [DecodeCase]
    let bad: [BadFile]

    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/vision")

    static let shared: VisionFixtures = {
        let data = try! Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode(VisionFixtures.self, from: data)
    }()

    static func url(_ file: String) -> URL { directory.appendingPathComponent(file) }

    static func image(_ f: ImageFile) -> RGBImage {
        let bytes = try! Data(contentsOf: url(f.file))
        return RGBImage(width: f.width!, height: f.height!, pixels: [UInt8](bytes))
    }

    static func floats(_ f: ImageFile) -> [Float] {
        let bytes = try! Data(contentsOf: url(f.file))
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

/// The largest per-byte difference of two images, or a description of a size mismatch.
func maxDifference(_ a: RGBImage, _ b: RGBImage) -> Int? {
    guard a.width == b.width && a.height == b.height else { return nil }
    var worst = 0
    for i in 0..<a.pixels.count { worst = max(worst, abs(Int(a.pixels[i]) - Int(b.pixels[i]))) }
    return worst
}

/// A description of where `actual` differs from `expected` by more than `tolerance`, or nil.
func imageMismatch(_ actual: RGBImage, _ expected: RGBImage, tolerance: Int = 0) -> String? {
    guard actual.width == expected.width && actual.height == expected.height else {
        return "size \(actual.width)×\(actual.height), expected \(expected.width)×\(expected.height)"
    }
    var count = 0, first = -1, worst = 0
    for i in 0..<actual.pixels.count {
        let d = abs(Int(actual.pixels[i]) - Int(expected.pixels[i]))
        if d > tolerance { count += 1; if first < 0 { first = i } }
        worst = max(worst, d)
    }
    if count == 0 { return nil }
    let p = first / 3
    return "\(count) of \(actual.pixels.count) bytes differ by more than \(tolerance) (max \(worst)); first at x \(p % actual.width), y \(p / actual.width), channel \(first % 3): \(actual.pixels[first]) vs \(expected.pixels[first])"
}
