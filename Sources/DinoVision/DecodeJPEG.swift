// JPEG through TurboJPEG (libjpeg-turbo): baseline and progressive, gray, YCbCr, CMYK/YCCK.
//
// libjpeg-turbo's defaults match PIL's (accurate integer DCT, fancy upsampling), so
// decoded pixels agree with `Image.open(...).convert("RGB")`. Two things TurboJPEG leaves to
// the caller are done here from the file's markers: the EXIF orientation (APP1), and the
// inversion of Adobe CMYK (APP14), before CMYK → RGB with PIL's formula.

import CTurboJPEG
import Foundation

enum JPEGCodec {
    static func decode(_ bytes: UnsafeRawBufferPointer, options: DecodeOptions,
                       checkSize: (Int, Int) throws -> Void,
                       fail: (String) -> ImageDecodingError) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw fail("cannot create a TurboJPEG decompressor") }
        defer { tjDestroy(handle) }
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        if tjDecompressHeader3(handle, base, UInt(bytes.count), &width, &height, &subsampling, &colorspace) != 0 {
            throw fail(String(cString: tjGetErrorStr2(handle)))
        }
        try checkSize(Int(width), Int(height))

        // Reduced-scale decoding: the smallest factor keeping the shorter side ≥ the target.
        var (w, h) = (Int(width), Int(height))
        if let target = options.minimumShorterSide, min(w, h) >= 2 * target {
            var count: Int32 = 0
            if let factors = tjGetScalingFactors(&count) {
                var best = (num: 1, denom: 1)
                for i in 0..<Int(count) {
                    let f = factors[i]
                    let (n, d) = (Int(f.num), Int(f.denom))
                    guard n <= d else { continue }
                    let side = (min(w, h) * n + d - 1) / d
                    if side >= target && n * best.denom < best.num * d { best = (n, d) }
                }
                w = (w * best.num + best.denom - 1) / best.denom
                h = (h * best.num + best.denom - 1) / best.denom
            }
        }

        let markers = JPEGMarkers(bytes)
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        var image: RGBImage
        if isCMYK {
            var cmyk = [UInt8](repeating: 0, count: w * h * 4)
            let rc = cmyk.withUnsafeMutableBufferPointer {
                tjDecompress2(handle, base, UInt(bytes.count), $0.baseAddress, Int32(w), 0, Int32(h),
                              Int32(TJPF_CMYK.rawValue), 0)
            }
            try check(rc, handle, fail)
            image = cmykToRGB(cmyk, width: w, height: h, inverted: markers.adobe)
        } else {
            var failure: ImageDecodingError? = nil
            image = RGBImage(width: w, height: h) { out in
                let rc = tjDecompress2(handle, base, UInt(bytes.count), out, Int32(w), 0, Int32(h),
                                       Int32(TJPF_RGB.rawValue), 0)
                do { try check(rc, handle, fail) } catch { failure = error as? ImageDecodingError }
            }
            if let failure { throw failure }
        }
        if options.applyEXIFOrientation, let o = markers.orientation, o != 1 {
            image = image.applyingEXIFOrientation(o)
        }
        return image
    }

    /// Fatal errors and truncation fail; other warnings (extraneous bytes…) are tolerated, as PIL does.
    static func check(_ rc: Int32, _ handle: tjhandle, _ fail: (String) -> ImageDecodingError) throws {
        guard rc != 0 else { return }
        let message = String(cString: tjGetErrorStr2(handle))
        let warning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
        if !warning || message.contains("Premature end") || message.contains("truncated") {
            throw fail(message)
        }
    }

    /// PIL's `cmyk2rgb`: R = (255 − C)(255 − K) / 255, with Adobe files storing inverted values.
    static func cmykToRGB(_ cmyk: [UInt8], width: Int, height: Int, inverted: Bool) -> RGBImage {
        @inline(__always) func muldiv255(_ a: Int, _ b: Int) -> Int {
            let t = a * b + 128
            return ((t >> 8) + t) >> 8
        }
        return cmyk.withUnsafeBufferPointer { src in
            RGBImage(width: width, height: height) { out in
                for i in 0..<(width * height) {
                    var c = Int(src[4 * i]), m = Int(src[4 * i + 1]), y = Int(src[4 * i + 2]), k = Int(src[4 * i + 3])
                    if inverted { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k }
                    let nk = 255 - k
                    out[3 * i] = UInt8(clamping: nk - muldiv255(c, nk))
                    out[3 * i + 1] = UInt8(clamping: nk - muldiv255(m, nk))
                    out[3 * i + 2] = UInt8(clamping: nk - muldiv255(y, nk))
                }
            }
        }
    }
}

/// The APP markers of a JPEG that matter for decoding: EXIF orientation and Adobe APP14.
struct JPEGMarkers {
    var orientation: Int? = nil
    var adobe = false

    init(_ bytes: UnsafeRawBufferPointer) {
        var p = 2
        let r = ByteReader(bytes: bytes, bigEndian: true)
        while p + 4 <= bytes.count, bytes[p] == 0xFF {
            let marker = bytes[p + 1]
            if marker == 0xFF { p += 1; continue }                     // fill byte
            if marker == 0xDA || marker == 0xD9 { break }               // start of scan / end
            guard let length = r.u16(p + 2), length >= 2 else { break }
            let payload = p + 4, end = p + 2 + length
            if marker == 0xE1, end <= bytes.count, length >= 8,
               Array(UnsafeRawBufferPointer(rebasing: bytes[payload..<payload + 6])) == Array("Exif\0\0".utf8) {
                orientation = JPEGMarkers.exifOrientation(UnsafeRawBufferPointer(rebasing: bytes[(payload + 6)..<end]))
            } else if marker == 0xEE, end <= bytes.count, length >= 7,
                      Array(UnsafeRawBufferPointer(rebasing: bytes[payload..<payload + 5])) == Array("Adobe".utf8) {
                adobe = true
            }
            p = end
        }
    }

    /// Tag 0x0112 of IFD0 in a TIFF-structured EXIF block, when present and in 1…8.
    static func exifOrientation(_ tiff: UnsafeRawBufferPointer) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let big: Bool
        switch (tiff[0], tiff[1]) {
        case (0x4D, 0x4D): big = true
        case (0x49, 0x49): big = false
        default: return nil
        }
        let r = ByteReader(bytes: tiff, bigEndian: big)
        guard let ifd = r.u32(4), let entries = r.u16(ifd) else { return nil }
        for e in 0..<min(entries, 512) {
            let at = ifd + 2 + 12 * e
            guard let tag = r.u16(at) else { return nil }
            if tag == 0x0112, let type = r.u16(at + 2), type == 3, let value = r.u16(at + 8) {
                return (1...8).contains(value) ? value : nil
            }
        }
        return nil
    }
}

extension RGBImage {
    /// The image as a baseline JPEG file (TurboJPEG, 4:2:0 chroma subsampling).
    ///
    /// - Parameter quality: 1…100, as in libjpeg.
    public func jpegData(quality: Int = 90) throws -> Data {
        precondition((1...100).contains(quality), "jpegData: quality \(quality) outside 1…100")
        guard let handle = tjInitCompress() else { throw ImageEncodingError(message: "cannot create a TurboJPEG compressor") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(quality), 0)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard rc == 0, let buffer else { throw ImageEncodingError(message: String(cString: tjGetErrorStr2(handle))) }
        return Data(bytes: buffer, count: Int(size))
    }
}
