// Decoding image files into 8-bit RGB, through Debian's codec libraries.
//
// The format is recognised from the file's first bytes, never from its extension, so a PNG
// named .jpg decodes and a text file named .png fails with a clear error. Every decoder
// reads the declared size from the header first and refuses an image above
// `DecodeOptions.maxPixels` before allocating anything. Codecs: libjpeg-turbo (TurboJPEG)
// for JPEG, BMP and PPM/PGM; libspng for PNG; libwebp; libtiff. No codec is written here.

import Foundation

/// The container formats recognised by their magic bytes.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png, webp, tiff, bmp, pnm

    /// File extensions (lower case) that dataset indexing treats as images.
    public static let extensions: Set<String> = [
        "jpg", "jpeg", "jpe", "jfif", "png", "webp", "tif", "tiff", "bmp", "ppm", "pgm", "pnm",
    ]

    /// The format whose signature starts `bytes`, or nil.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        func starts(_ sig: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + sig.count && sig.enumerated().allSatisfy { bytes[offset + $0.offset] == $0.element }
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if starts(Array("BM".utf8)) && bytes.count >= 26 { return .bmp }
        if bytes.count >= 3 && bytes[0] == UInt8(ascii: "P") && [UInt8(ascii: "5"), UInt8(ascii: "6")].contains(bytes[1])
            && [0x20, 0x09, 0x0A, 0x0D].contains(bytes[2]) { return .pnm }
        return nil
    }
}

/// Why an image could not be decoded; the description names the file.
public struct ImageDecodingError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        case unreadable(String)
        case empty
        case unknownFormat
        case tooLarge(width: Int, height: Int, limit: Int)
        case corrupt(String)
    }

    public let path: String
    public let reason: Reason

    /// An error about the file at `path`.
    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// "PATH: REASON".
    public var description: String { "\(path): \(reasonDescription)" }

    /// What is wrong, without the path (for lists that show the path already).
    public var reasonDescription: String {
        switch reason {
        case .unreadable(let why): return "cannot read the file (\(why))"
        case .empty: return "empty file (0 bytes)"
        case .unknownFormat: return "not an image in a known format (JPEG, PNG, WebP, TIFF, BMP, PPM/PGM)"
        case .tooLarge(let w, let h, let limit):
            return "declared size \(w)×\(h) = \(w * h) pixels exceeds the limit of \(limit) pixels"
        case .corrupt(let why): return "corrupt or truncated image (\(why))"
        }
    }
}

/// Settings of decoding.
public struct DecodeOptions: Sendable, Equatable {
    /// Images whose declared width × height exceeds this are refused before allocation.
    public var maxPixels: Int
    /// When set, a JPEG whose shorter side is at least twice this is decoded at the smallest
    /// DCT scale (1/8, 1/4, 3/8, …) that keeps its shorter side ≥ this value. Nil: full size.
    public var minimumShorterSide: Int?
    /// Turn the image upright according to its EXIF orientation tag (JPEG).
    public var applyEXIFOrientation: Bool

    /// Defaults: 100 megapixels at most, full-size decoding, EXIF orientation applied.
    public init(maxPixels: Int = 100_000_000, minimumShorterSide: Int? = nil, applyEXIFOrientation: Bool = true) {
        self.maxPixels = maxPixels
        self.minimumShorterSide = minimumShorterSide
        self.applyEXIFOrientation = applyEXIFOrientation
    }
}

/// Decodes image files and buffers into `RGBImage`.
public enum ImageDecoder {
    /// Decodes the file at `url`.
    ///
    /// - Throws: `ImageDecodingError` naming the file: unreadable, empty, unknown format,
    ///   declared size above `options.maxPixels`, or corrupt/truncated data.
    public static func decode(contentsOf url: URL, options: DecodeOptions = DecodeOptions()) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageDecodingError(path: url.path, reason: .unreadable(error.localizedDescription))
        }
        return try decode(data, path: url.path, options: options)
    }

    /// Decodes an in-memory file; `path` only names it in errors (and feeds BMP/PPM loading).
    public static func decode(_ data: Data, path: String = "<memory>", options: DecodeOptions = DecodeOptions()) throws -> RGBImage {
        if data.isEmpty { throw ImageDecodingError(path: path, reason: .empty) }
        return try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> RGBImage in
            guard let format = ImageFormat.sniff(bytes) else {
                throw ImageDecodingError(path: path, reason: .unknownFormat)
            }
            let fail = { (why: String) in ImageDecodingError(path: path, reason: .corrupt(why)) }
            func checkSize(_ w: Int, _ h: Int) throws {
                if w <= 0 || h <= 0 { throw fail("declared size \(w)×\(h)") }
                if w > options.maxPixels / h {
                    throw ImageDecodingError(path: path, reason: .tooLarge(width: w, height: h, limit: options.maxPixels))
                }
            }
            switch format {
            case .jpeg: return try JPEGCodec.decode(bytes, options: options, checkSize: checkSize, fail: fail)
            case .png: return try PNGCodec.decode(bytes, checkSize: checkSize, fail: fail)
            case .webp: return try WebPCodec.decode(bytes, checkSize: checkSize, fail: fail)
            case .tiff: return try TIFFCodec.decode(bytes, checkSize: checkSize, fail: fail)
            case .bmp, .pnm:
                return try NetpbmBMPCodec.decode(bytes, format: format, path: path, checkSize: checkSize, fail: fail)
            }
        }
    }

    /// The declared width and height, read from the header alone (no pixel data decoded,
    /// EXIF orientation not applied).
    public static func size(contentsOf url: URL) throws -> (width: Int, height: Int) {
        var found: (Int, Int)? = nil
        let options = DecodeOptions(maxPixels: 0)
        do {
            _ = try decode(contentsOf: url, options: options)
        } catch let e as ImageDecodingError {
            if case .tooLarge(let w, let h, _) = e.reason { found = (w, h) } else { throw e }
        }
        guard let (w, h) = found else { throw ImageDecodingError(path: url.path, reason: .corrupt("no size")) }
        return (w, h)
    }
}

/// Reads big- or little-endian integers from a byte buffer, bounds-checked.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var bigEndian: Bool

    func u8(_ at: Int) -> Int? { at >= 0 && at < bytes.count ? Int(bytes[at]) : nil }

    func u16(_ at: Int) -> Int? {
        guard let a = u8(at), let b = u8(at + 1) else { return nil }
        return bigEndian ? a << 8 | b : b << 8 | a
    }

    func u32(_ at: Int) -> Int? {
        guard let a = u16(at), let b = u16(at + 2) else { return nil }
        return bigEndian ? a << 16 | b : b << 16 | a
    }
}
