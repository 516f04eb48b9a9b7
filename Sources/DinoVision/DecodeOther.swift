// PNG (libspng), WebP (libwebp), TIFF (libtiff), BMP and PPM/PGM (TurboJPEG's loader).
//
// PNG: every colour type and bit depth becomes RGB8 as PIL's `convert("RGB")` does it:
// 16-bit samples keep their high byte, alpha and tRNS are dropped, palettes expanded, gray
// replicated. Gamma chunks are ignored (PIL ignores them too). PNG writing for pictures
// made by the tools (`PNGCodec.encode`) is here as well.

import CSPNG
import CTIFF
import CTurboJPEG
import CWebP
import Foundation

enum PNGCodec {
    static func decode(_ bytes: UnsafeRawBufferPointer, checkSize: (Int, Int) throws -> Void,
                       fail: (String) -> ImageDecodingError) throws -> RGBImage {
        guard let ctx = spng_ctx_new(0) else { throw fail("cannot create a libspng context") }
        defer { spng_ctx_free(ctx) }
        func check(_ rc: Int32) throws {
            if rc != 0 { throw fail(String(cString: spng_strerror(rc))) }
        }
        try check(spng_set_png_buffer(ctx, bytes.baseAddress, bytes.count))
        var ihdr = spng_ihdr()
        try check(spng_get_ihdr(ctx, &ihdr))
        try checkSize(Int(ihdr.width), Int(ihdr.height))
        let (w, h) = (Int(ihdr.width), Int(ihdr.height))
        var size = 0
        try check(spng_decoded_image_size(ctx, Int32(SPNG_FMT_RGB8.rawValue), &size))
        guard size == w * h * 3 else { throw fail("unexpected decoded size \(size) for \(w)×\(h)") }
        var failure: ImageDecodingError? = nil
        let image = RGBImage(width: w, height: h) { out in
            do { try check(spng_decode_image(ctx, out, size, Int32(SPNG_FMT_RGB8.rawValue), 0)) }
            catch { failure = error as? ImageDecodingError }
        }
        if let failure { throw failure }
        return image
    }

    /// An RGB8 PNG file holding `image`.
    static func encode(_ image: RGBImage) throws -> Data {
        guard let ctx = spng_ctx_new(Int32(SPNG_CTX_ENCODER.rawValue)) else {
            throw ImageEncodingError(message: "cannot create a libspng encoder")
        }
        defer { spng_ctx_free(ctx) }
        func check(_ rc: Int32) throws {
            if rc != 0 { throw ImageEncodingError(message: String(cString: spng_strerror(rc))) }
        }
        try check(spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1))
        var ihdr = spng_ihdr()
        ihdr.width = UInt32(image.width)
        ihdr.height = UInt32(image.height)
        ihdr.bit_depth = 8
        ihdr.color_type = UInt8(SPNG_COLOR_TYPE_TRUECOLOR.rawValue)
        try check(spng_set_ihdr(ctx, &ihdr))
        try image.pixels.withUnsafeBytes { px in
            try check(spng_encode_image(ctx, px.baseAddress, px.count, Int32(SPNG_FMT_PNG.rawValue),
                                        Int32(SPNG_ENCODE_FINALIZE.rawValue)))
        }
        var length = 0, error: Int32 = 0
        guard let buffer = spng_get_png_buffer(ctx, &length, &error) else {
            throw ImageEncodingError(message: String(cString: spng_strerror(error)))
        }
        defer { free(buffer) }
        return Data(bytes: buffer, count: length)
    }
}

/// Why an image could not be written.
public struct ImageEncodingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { "cannot encode image: \(message)" }
}

extension RGBImage {
    /// The image as a PNG file (8-bit RGB).
    public func pngData() throws -> Data { try PNGCodec.encode(self) }

    /// Writes the image as a PNG file at `url` (atomically).
    public func writePNG(to url: URL) throws { try pngData().write(to: url, options: .atomic) }
}

enum WebPCodec {
    static func decode(_ bytes: UnsafeRawBufferPointer, checkSize: (Int, Int) throws -> Void,
                       fail: (String) -> ImageDecodingError) throws -> RGBImage {
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var w: Int32 = 0, h: Int32 = 0
        guard WebPGetInfo(base, bytes.count, &w, &h) != 0 else { throw fail("invalid WebP header") }
        try checkSize(Int(w), Int(h))
        var ok = true
        let image = RGBImage(width: Int(w), height: Int(h)) { out in
            ok = WebPDecodeRGBInto(base, bytes.count, out, Int(w * h * 3), Int32(w * 3)) != nil
        }
        guard ok else { throw fail("libwebp could not decode the bitstream") }
        return image
    }
}

/// A read-only memory file for `TIFFClientOpen`.
private final class TIFFMemory {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}

enum TIFFCodec {
    private static let silence: Void = {
        TIFFSetErrorHandler(nil)
        TIFFSetWarningHandler(nil)
    }()

    static func decode(_ bytes: UnsafeRawBufferPointer, checkSize: (Int, Int) throws -> Void,
                       fail: (String) -> ImageDecodingError) throws -> RGBImage {
        _ = silence
        let memory = TIFFMemory(bytes)
        let handle = Unmanaged.passUnretained(memory).toOpaque()
        let tif = withExtendedLifetime(memory) {
            TIFFClientOpen("memory", "rm", handle,
                { h, buf, n in
                    let m = Unmanaged<TIFFMemory>.fromOpaque(h!).takeUnretainedValue()
                    let count = max(0, min(Int(n), m.bytes.count - m.position))
                    if count > 0 { buf!.copyMemory(from: m.bytes.baseAddress! + m.position, byteCount: count) }
                    m.position += count
                    return tmsize_t(count)
                },
                { _, _, _ in -1 },
                { h, off, whence in
                    let m = Unmanaged<TIFFMemory>.fromOpaque(h!).takeUnretainedValue()
                    let base = whence == SEEK_CUR ? m.position : whence == SEEK_END ? m.bytes.count : 0
                    let target = base + Int(Int64(bitPattern: off))
                    if target < 0 { return toff_t(UInt64.max) }
                    m.position = target
                    return toff_t(target)
                },
                { _ in 0 },
                { h in toff_t(Unmanaged<TIFFMemory>.fromOpaque(h!).takeUnretainedValue().bytes.count) },
                { _, _, _ in 0 },
                { _, _, _ in })
        }
        guard let tif else { throw fail("libtiff could not open the file") }
        defer { withExtendedLifetime(memory) { TIFFClose(tif) } }
        var w: UInt32 = 0, h: UInt32 = 0
        guard dinoTIFFGetField(tif, UInt32(TIFFTAG_IMAGEWIDTH), &w), dinoTIFFGetField(tif, UInt32(TIFFTAG_IMAGELENGTH), &h) else {
            throw fail("no image size in the TIFF directory")
        }
        try checkSize(Int(w), Int(h))
        var raster = [UInt32](repeating: 0, count: Int(w) * Int(h))
        let ok = withExtendedLifetime(memory) {
            raster.withUnsafeMutableBufferPointer {
                TIFFReadRGBAImageOriented(tif, w, h, $0.baseAddress, Int32(ORIENTATION_TOPLEFT), 0)
            }
        }
        guard ok != 0 else { throw fail("libtiff could not decode the image") }
        // Packed ABGR: red in the low byte.
        return raster.withUnsafeBufferPointer { src in
            RGBImage(width: Int(w), height: Int(h)) { out in
                for i in 0..<src.count {
                    let v = src[i]
                    out[3 * i] = UInt8(truncatingIfNeeded: v)
                    out[3 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[3 * i + 2] = UInt8(truncatingIfNeeded: v >> 16)
                }
            }
        }
    }

    /// TIFFGetField is variadic; read a 32-bit tag through its va_list form.
    private static func dinoTIFFGetField(_ tif: OpaquePointer, _ tag: UInt32, _ value: inout UInt32) -> Bool {
        withUnsafeMutablePointer(to: &value) { p in
            withVaList([p]) { TIFFVGetField(tif, tag, $0) } != 0
        }
    }
}

enum NetpbmBMPCodec {
    /// BMP and binary PPM/PGM through `tjLoadImage`, which reads from a file: in-memory data
    /// is written to a temporary file first. The declared size is checked from the header.
    static func decode(_ bytes: UnsafeRawBufferPointer, format: ImageFormat, path: String,
                       checkSize: (Int, Int) throws -> Void,
                       fail: (String) -> ImageDecodingError) throws -> RGBImage {
        let (dw, dh) = try declaredSize(bytes, format: format, fail: fail)
        try checkSize(dw, dh)
        var file = path
        var temporary: URL? = nil
        if !FileManager.default.fileExists(atPath: path) {
            let url = FileManager.default.temporaryDirectory
                .appendingPathComponent("dino-\(UUID().uuidString).\(format == .bmp ? "bmp" : "ppm")")
            try? Data(bytes).write(to: url)
            temporary = url
            file = url.path
        }
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
        var w: Int32 = 0, h: Int32 = 0, pixelFormat = Int32(TJPF_RGB.rawValue)
        guard let buffer = tjLoadImage(file, &w, 1, &h, &pixelFormat, 0) else {
            throw fail(String(cString: tjGetErrorStr2(nil)))
        }
        defer { tjFree(buffer) }
        guard Int(w) == dw && Int(h) == dh else { throw fail("size \(w)×\(h) differs from the header's \(dw)×\(dh)") }
        return RGBImage(width: Int(w), height: Int(h)) { out in out.update(from: buffer, count: Int(w * h * 3)) }
    }

    /// Width and height from a BMP info header or a PNM text header.
    static func declaredSize(_ bytes: UnsafeRawBufferPointer, format: ImageFormat,
                             fail: (String) -> ImageDecodingError) throws -> (Int, Int) {
        if format == .bmp {
            let r = ByteReader(bytes: bytes, bigEndian: false)
            guard let w = r.u32(18), let hRaw = r.u32(22) else { throw fail("short BMP header") }
            let h = Int(Int32(bitPattern: UInt32(hRaw)))
            return (Int(Int32(bitPattern: UInt32(w))), abs(h))
        }
        // "P6 <ws> width <ws> height <ws> maxval", with '#' comments to end of line.
        var numbers: [Int] = []
        var i = 2, current: Int? = nil
        while i < bytes.count && numbers.count < 2 {
            let c = bytes[i]
            if c == UInt8(ascii: "#") {
                while i < bytes.count && bytes[i] != 0x0A { i += 1 }
            } else if c >= 0x30 && c <= 0x39 {
                current = (current ?? 0) * 10 + Int(c - 0x30)
                if current! > 1 << 30 { throw fail("absurd PNM dimension") }
            } else {
                if let v = current { numbers.append(v); current = nil }
            }
            i += 1
        }
        guard numbers.count == 2 else { throw fail("short PNM header") }
        return (numbers[0], numbers[1])
    }
}
