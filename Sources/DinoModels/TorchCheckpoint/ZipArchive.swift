// A minimal ZIP reader for PyTorch checkpoints: stored (uncompressed) entries, ZIP64.
//
// `torch.save` writes a ZIP archive whose entries are never compressed (`data.pkl`, the
// pickled object tree, and one `data/<key>` entry per tensor storage, aligned to 64 bytes).
// We read the central directory (ZIP64 records included, for checkpoints above 4 GiB) and
// hand out byte ranges; a compressed or encrypted entry is an error, not a guess.
//
// Reference: PKWARE APPNOTE.TXT 6.3.9, sections 4.3.6–4.3.16 and 4.5.3.

import Foundation

/// Errors reading a ZIP archive.
public struct ZipError: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One file of an archive.
public struct ZipEntry: Sendable {
    public let name: String
    /// Compression method (0 = stored).
    public let method: UInt16
    public let compressedSize: UInt64
    public let uncompressedSize: UInt64
    /// Offset of the entry's local header in the archive.
    public let localHeaderOffset: UInt64
}

/// Random access to the stored entries of a ZIP file.
public final class ZipArchive {
    public let url: URL
    public let entries: [String: ZipEntry]
    private let handle: FileHandle
    private let fileSize: UInt64

    public init(url: URL) throws {
        self.url = url
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw ZipError("\(url.path): cannot open: \(error.localizedDescription)")
        }
        fileSize = try handle.seekToEnd()
        entries = try ZipArchive.readCentralDirectory(handle, fileSize: fileSize, path: url.path)
    }

    deinit { try? handle.close() }

    /// Names of all entries, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The bytes of a stored entry (or `length` bytes of it from `offset`).
    public func read(_ name: String, offset: UInt64 = 0, length: UInt64? = nil) throws -> Data {
        guard let e = entries[name] else { throw ZipError("\(url.path): no entry '\(name)'") }
        guard e.method == 0 else {
            throw ZipError("\(url.path): entry '\(name)' is compressed (method \(e.method)); only stored entries are supported")
        }
        let n = length ?? (e.uncompressedSize - min(offset, e.uncompressedSize))
        guard offset + n <= e.uncompressedSize else {
            throw ZipError("\(url.path): read of \(n) bytes at \(offset) past the end of '\(name)' (\(e.uncompressedSize) bytes)")
        }
        let start = try dataStart(of: e)
        try handle.seek(toOffset: start + offset)
        let data = try handle.read(upToCount: Int(n)) ?? Data()
        guard data.count == Int(n) else { throw ZipError("\(url.path): '\(name)' is truncated") }
        return data
    }

    /// Where an entry's data begins: after its local header, whose name and extra field
    /// lengths may differ from the central directory's.
    private func dataStart(of e: ZipEntry) throws -> UInt64 {
        try handle.seek(toOffset: e.localHeaderOffset)
        let header = try handle.read(upToCount: 30) ?? Data()
        guard header.count == 30, header.le32(0) == 0x0403_4B50 else {
            throw ZipError("\(url.path): bad local header for '\(e.name)'")
        }
        let start = e.localHeaderOffset + 30 + UInt64(header.le16(26)) + UInt64(header.le16(28))
        guard start + e.uncompressedSize <= fileSize else { throw ZipError("\(url.path): '\(e.name)' extends past the end of the file") }
        return start
    }

    private static func readCentralDirectory(_ h: FileHandle, fileSize: UInt64, path: String) throws -> [String: ZipEntry] {
        // End of central directory: 22 bytes plus a comment of up to 65535 bytes.
        let tailLength = min(fileSize, 22 + 65_535 + 20)
        try h.seek(toOffset: fileSize - tailLength)
        let tail = try h.read(upToCount: Int(tailLength)) ?? Data()
        guard tail.count >= 22, let eocd = stride(from: tail.count - 22, through: 0, by: -1).first(where: { tail.le32($0) == 0x0605_4B50 }) else {
            throw ZipError("\(path): not a ZIP archive (no end-of-central-directory record); PyTorch checkpoints from before 1.6 (legacy tar/pickle format) are not supported")
        }
        var count = UInt64(tail.le16(eocd + 10))
        var size = UInt64(tail.le32(eocd + 12))
        var offset = UInt64(tail.le32(eocd + 16))
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            // ZIP64 end-of-central-directory locator sits just before the EOCD.
            guard eocd >= 20, tail.le32(eocd - 20) == 0x0706_4B50 else { throw ZipError("\(path): missing ZIP64 locator") }
            let recordOffset = tail.le64(eocd - 20 + 8)
            try h.seek(toOffset: recordOffset)
            let record = try h.read(upToCount: 56) ?? Data()
            guard record.count == 56, record.le32(0) == 0x0606_4B50 else { throw ZipError("\(path): bad ZIP64 end record") }
            count = record.le64(32)
            size = record.le64(40)
            offset = record.le64(48)
        }
        guard offset + size <= fileSize else { throw ZipError("\(path): central directory outside the file") }
        try h.seek(toOffset: offset)
        let dir = try h.read(upToCount: Int(size)) ?? Data()
        guard dir.count == Int(size) else { throw ZipError("\(path): truncated central directory") }
        var entries: [String: ZipEntry] = [:]
        var p = 0
        for _ in 0..<count {
            guard p + 46 <= dir.count, dir.le32(p) == 0x0201_4B50 else { throw ZipError("\(path): bad central directory entry") }
            let flags = dir.le16(p + 8)
            let method = dir.le16(p + 10)
            var compressed = UInt64(dir.le32(p + 20))
            var uncompressed = UInt64(dir.le32(p + 24))
            let nameLength = Int(dir.le16(p + 28)), extraLength = Int(dir.le16(p + 30)), commentLength = Int(dir.le16(p + 32))
            var local = UInt64(dir.le32(p + 42))
            guard p + 46 + nameLength + extraLength + commentLength <= dir.count else { throw ZipError("\(path): truncated central directory entry") }
            let name = String(decoding: dir[(dir.startIndex + p + 46)..<(dir.startIndex + p + 46 + nameLength)], as: UTF8.self)
            if flags & 1 != 0 { throw ZipError("\(path): entry '\(name)' is encrypted") }
            // ZIP64 extended information: the fields that overflowed, in this order.
            var q = p + 46 + nameLength
            let extraEnd = q + extraLength
            while q + 4 <= extraEnd {
                let id = dir.le16(q), length = Int(dir.le16(q + 2))
                if id == 0x0001 {
                    var r = q + 4
                    if uncompressed == 0xFFFF_FFFF { uncompressed = dir.le64(r); r += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = dir.le64(r); r += 8 }
                    if local == 0xFFFF_FFFF { local = dir.le64(r); r += 8 }
                }
                q += 4 + length
            }
            entries[name] = ZipEntry(name: name, method: method, compressedSize: compressed,
                                     uncompressedSize: uncompressed, localHeaderOffset: local)
            p += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }
}

extension Data {
    /// Little-endian integers at a byte offset from the start of the data.
    func le16(_ i: Int) -> UInt16 {
        let b = startIndex + i
        return UInt16(self[b]) | UInt16(self[b + 1]) << 8
    }

    func le32(_ i: Int) -> UInt32 {
        UInt32(le16(i)) | UInt32(le16(i + 2)) << 16
    }

    func le64(_ i: Int) -> UInt64 {
        UInt64(le32(i)) | UInt64(le32(i + 4)) << 32
    }
}
