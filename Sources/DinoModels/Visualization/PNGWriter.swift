// A minimal PNG encoder for visualisations: 8-bit RGB, uncompressed (stored) deflate blocks.
//
// Enough for `dino show` pictures of a few hundred kilobytes; no dependency. Files are
// valid PNG (any viewer or PIL reads them) but not small.
//
// Reference: PNG specification (ISO/IEC 15948), sections 5 and 11.2; RFC 1950 (zlib) and
// RFC 1951 §3.2.4 (stored blocks).

import Foundation

public enum PNGWriter {
    /// The PNG bytes of an RGB raster.
    public static func encode(_ raster: RGBRaster) -> Data {
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.appendBigEndian(UInt32(raster.width))
        header.appendBigEndian(UInt32(raster.height))
        header.append(contentsOf: [8, 2, 0, 0, 0])                  // 8-bit, RGB, deflate, no filter, no interlace
        appendChunk("IHDR", header, to: &png)
        // Scanlines, each preceded by filter type 0.
        var raw = Data(capacity: raster.height * (1 + raster.width * 3))
        for y in 0..<raster.height {
            raw.append(0)
            raw.append(contentsOf: raster.pixels[(y * raster.width * 3)..<((y + 1) * raster.width * 3)])
        }
        appendChunk("IDAT", zlibStored(raw), to: &png)
        appendChunk("IEND", Data(), to: &png)
        return png
    }

    /// Writes the raster as a PNG file.
    public static func write(_ raster: RGBRaster, to url: URL) throws {
        try encode(raster).write(to: url, options: .atomic)
    }

    /// A zlib stream of stored (uncompressed) deflate blocks.
    static func zlibStored(_ data: Data) -> Data {
        var out = Data([0x78, 0x01])
        let bytes = [UInt8](data)
        var start = 0
        repeat {
            let n = min(65_535, bytes.count - start)
            let final: UInt8 = start + n >= bytes.count ? 1 : 0
            out.append(final)
            out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)])
            out.append(contentsOf: bytes[start..<(start + n)])
            start += n
        } while start < bytes.count
        var a: UInt32 = 1, b: UInt32 = 0                            // Adler-32
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        out.appendBigEndian(b << 16 | a)
        return out
    }

    static func appendChunk(_ type: String, _ body: Data, to png: inout Data) {
        png.appendBigEndian(UInt32(body.count))
        let typed = Data(type.utf8) + body
        png.append(typed)
        png.appendBigEndian(crc32(typed))
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

extension Data {
    mutating func appendBigEndian(_ v: UInt32) {
        append(contentsOf: [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)])
    }
}
