// The samples of a PNG file as stored, before any conversion to RGB: 16-bit depth maps
// (NYU-style, millimetres) and palette-indexed masks (DAVIS annotations) need the values
// themselves, which `ImageDecoder` (RGB8, as PIL's `convert("RGB")`) does not keep.
//
// What it is: libspng's `SPNG_FMT_PNG` output (the file's own colour type and bit depth, 16-bit
// samples in host byte order), for bit depths 8 and 16; palette images give their indices, as
// `np.array(Image.open(path))` does for mode "P".
// What it is not: a general decoder (no gamma, no sub-byte depths, no interlace handling beyond
// libspng's own).

import CSPNG
import Foundation

/// The raw samples of a PNG: `height · width · channels` values, row-major, channels interleaved.
public struct PNGSamples: Sendable {
    public let width: Int
    public let height: Int
    /// 1 (gray or palette index), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// 8 or 16.
    public let bitDepth: Int
    /// True for palette images (the samples are indices into the palette).
    public let isPalette: Bool
    public let samples: [UInt16]

    /// The first channel of every pixel, row-major (`height · width` values).
    public var firstChannel: [UInt16] {
        channels == 1 ? samples : stride(from: 0, to: samples.count, by: channels).map { samples[$0] }
    }

    /// Reads the PNG at `path`.
    ///
    /// - Throws: `ImageDecodingError` naming the file when it is missing, not a PNG, corrupt, or of
    ///   a bit depth other than 8 or 16.
    public static func read(_ path: String) throws -> PNGSamples {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImageDecodingError(path: path, reason: .unreadable(error.localizedDescription))
        }
        if data.isEmpty { throw ImageDecodingError(path: path, reason: .empty) }
        let fail = { (why: String) in ImageDecodingError(path: path, reason: .corrupt(why)) }
        return try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> PNGSamples in
            guard ImageFormat.sniff(bytes) == .png else {
                throw ImageDecodingError(path: path, reason: .unreadable("not a PNG file"))
            }
            guard let ctx = spng_ctx_new(0) else { throw fail("cannot create a libspng context") }
            defer { spng_ctx_free(ctx) }
            func check(_ rc: Int32) throws { if rc != 0 { throw fail(String(cString: spng_strerror(rc))) } }
            try check(spng_set_png_buffer(ctx, bytes.baseAddress, bytes.count))
            var ihdr = spng_ihdr()
            try check(spng_get_ihdr(ctx, &ihdr))
            let (w, h, depth) = (Int(ihdr.width), Int(ihdr.height), Int(ihdr.bit_depth))
            guard depth == 8 || depth == 16 else {
                throw ImageDecodingError(path: path, reason: .unreadable("bit depth \(depth); only 8- and 16-bit PNGs are read as samples"))
            }
            let channels: Int
            switch Int32(ihdr.color_type) {
            case Int32(SPNG_COLOR_TYPE_GRAYSCALE.rawValue), Int32(SPNG_COLOR_TYPE_INDEXED.rawValue): channels = 1
            case Int32(SPNG_COLOR_TYPE_GRAYSCALE_ALPHA.rawValue): channels = 2
            case Int32(SPNG_COLOR_TYPE_TRUECOLOR.rawValue): channels = 3
            default: channels = 4
            }
            var size = 0
            try check(spng_decoded_image_size(ctx, Int32(SPNG_FMT_PNG.rawValue), &size))
            let count = w * h * channels
            guard size == count * depth / 8 else { throw fail("unexpected decoded size \(size) for \(w)×\(h)×\(channels) at \(depth) bits") }
            var raw = [UInt8](repeating: 0, count: size)
            try raw.withUnsafeMutableBytes { try check(spng_decode_image(ctx, $0.baseAddress, size, Int32(SPNG_FMT_PNG.rawValue), 0)) }
            let samples: [UInt16] = depth == 8
                ? raw.map { UInt16($0) }
                : raw.withUnsafeBytes { b in (0..<count).map { b.load(fromByteOffset: 2 * $0, as: UInt16.self) } }  // host order
            return PNGSamples(width: w, height: h, channels: channels, bitDepth: depth,
                              isPalette: Int32(ihdr.color_type) == Int32(SPNG_COLOR_TYPE_INDEXED.rawValue), samples: samples)
        }
    }
}
