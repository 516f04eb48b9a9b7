// TensorBoard event files (tfevents), written and read without TensorFlow or protobuf
// libraries.
//
// A file is a sequence of TFRecords:
//
//     uint64 length (little-endian) | uint32 masked CRC32C of the 8 length bytes |
//     length bytes of data          | uint32 masked CRC32C of the data
//
// with `masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8`. Each record's data is a
// serialised `tensorflow.Event` protobuf; the few fields used are encoded by hand:
//
//     Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//     Summary { repeated Value value = 1; }
//     Value   { string tag = 1; float simple_value = 2; }
//
// The first record carries `file_version = "brain.Event:2"`.
//
// References: tensorflow/core/lib/io/record_writer.cc, tensorflow/core/util/event.proto,
// tensorflow/core/framework/summary.proto; CRC32C: RFC 3720 appendix B.4.

import Foundation

// MARK: - CRC32C

/// CRC-32C (Castagnoli), as TFRecord framing and iSCSI use it.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// The masked form stored in TFRecords (so that CRCs of CRCs do not degenerate).
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

// MARK: - Events

/// One decoded event: a file version record or a set of scalar summaries at a step.
public struct TensorBoardEvent: Equatable, Sendable {
    public var wallTime: Double
    public var step: Int64
    public var fileVersion: String?
    /// (tag, value) pairs of the event's summary, in order.
    public var scalars: [(tag: String, value: Float)]

    public init(wallTime: Double, step: Int64, fileVersion: String? = nil, scalars: [(tag: String, value: Float)] = []) {
        self.wallTime = wallTime
        self.step = step
        self.fileVersion = fileVersion
        self.scalars = scalars
    }

    public static func == (a: TensorBoardEvent, b: TensorBoardEvent) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion
            && a.scalars.map(\.tag) == b.scalars.map(\.tag)
            && a.scalars.map(\.value.bitPattern) == b.scalars.map(\.value.bitPattern)
    }

    /// The protobuf encoding of the event.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.append(0x09)                                          // 1: wall_time, fixed64
        out.append(littleEndian: wallTime.bitPattern)
        if step != 0 {
            out.append(0x10)                                      // 2: step, varint
            out.appendVarint(UInt64(bitPattern: step))
        }
        if let fileVersion {
            out.append(0x1A)                                      // 3: file_version, bytes
            out.appendBytes(Array(fileVersion.utf8))
        }
        if !scalars.isEmpty {
            var summary: [UInt8] = []
            for (tag, value) in scalars {
                var v: [UInt8] = [0x0A]                           // Value.1: tag, bytes
                v.appendBytes(Array(tag.utf8))
                v.append(0x15)                                    // Value.2: simple_value, fixed32
                v.append(littleEndian: value.bitPattern)
                summary.append(0x0A)                              // Summary.1: value, bytes
                summary.appendBytes(v)
            }
            out.append(0x2A)                                      // 5: summary, bytes
            out.appendBytes(summary)
        }
        return out
    }

    /// Decodes the fields above from an Event protobuf, skipping any others.
    public init(protobuf bytes: [UInt8]) throws {
        self.init(wallTime: 0, step: 0)
        var r = ProtoReader(bytes)
        while let (field, wire) = try r.nextKey() {
            switch (field, wire) {
            case (1, 1): wallTime = Double(bitPattern: try r.fixed64())
            case (2, 0): step = Int64(bitPattern: try r.varint())
            case (3, 2): fileVersion = String(decoding: try r.bytes(), as: UTF8.self)
            case (5, 2):
                var s = ProtoReader(try r.bytes())
                while let (sf, sw) = try s.nextKey() {
                    guard sf == 1, sw == 2 else { try s.skip(wire: sw); continue }
                    var v = ProtoReader(try s.bytes())
                    var tag = "", value: Float = .nan
                    while let (vf, vw) = try v.nextKey() {
                        switch (vf, vw) {
                        case (1, 2): tag = String(decoding: try v.bytes(), as: UTF8.self)
                        case (2, 5): value = Float(bitPattern: try v.fixed32())
                        default: try v.skip(wire: vw)
                        }
                    }
                    scalars.append((tag, value))
                }
            default: try r.skip(wire: wire)
            }
        }
    }
}

/// Why an event file could not be read.
public struct TensorBoardFormatError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { "tfevents: \(message)" }
}

/// Minimal protobuf wire-format reader.
struct ProtoReader {
    let data: [UInt8]
    var position = 0
    init(_ data: [UInt8]) { self.data = data }

    mutating func byte() throws -> UInt8 {
        guard position < data.count else { throw TensorBoardFormatError(message: "truncated protobuf") }
        defer { position += 1 }
        return data[position]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            let b = try byte()
            result |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return result }
        }
        throw TensorBoardFormatError(message: "varint longer than 10 bytes")
    }

    mutating func fixed64() throws -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(try byte()) << UInt64(8 * k) }
        return v
    }

    mutating func fixed32() throws -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(try byte()) << UInt32(8 * k) }
        return v
    }

    mutating func bytes() throws -> [UInt8] {
        let n = Int(try varint())
        guard n >= 0, position + n <= data.count else { throw TensorBoardFormatError(message: "truncated field") }
        defer { position += n }
        return Array(data[position..<(position + n)])
    }

    /// The next (field number, wire type), or nil at the end.
    mutating func nextKey() throws -> (Int, Int)? {
        if position >= data.count { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func skip(wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: _ = try fixed64()
        case 2: _ = try bytes()
        case 5: _ = try fixed32()
        default: throw TensorBoardFormatError(message: "unsupported wire type \(wire)")
        }
    }
}

extension Array where Element == UInt8 {
    mutating func append<I: FixedWidthInteger>(littleEndian v: I) {
        var x = v.littleEndian
        Swift.withUnsafeBytes(of: &x) { append(contentsOf: $0) }
    }

    mutating func appendVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    mutating func appendBytes(_ bytes: [UInt8]) {
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }
}

// MARK: - Writing and reading files

/// Appends scalar summaries to a TensorBoard event file, one flushed record per call.
public final class TensorBoardWriter {
    /// The event file, `events.out.tfevents.<seconds>.<host>.<pid>` in the log directory.
    public let url: URL
    let handle: FileHandle
    let clock: () -> Double

    /// Creates the directory and a new event file in it, starting with the version record.
    ///
    /// - Parameter clock: seconds since 1970 for `wall_time` (injectable for tests).
    public init(directory: URL, clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.clock = clock
        let now = clock()
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(now)).\(host).\(ProcessInfo.processInfo.processIdentifier)")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        handle = try FileHandle(forWritingTo: url)
        try write(TensorBoardEvent(wallTime: now, step: 0, fileVersion: "brain.Event:2"))
    }

    deinit { try? handle.close() }

    /// Writes scalar values (e.g. `loss`, `lr`, `loss/dino_local`) at `step`.
    public func add(scalars: [(tag: String, value: Double)], step: Int) throws {
        try write(TensorBoardEvent(wallTime: clock(), step: Int64(step), scalars: scalars.map { ($0.tag, Float($0.value)) }))
    }

    /// Writes one event as a TFRecord.
    public func write(_ event: TensorBoardEvent) throws {
        try handle.write(contentsOf: Data(TensorBoardWriter.record(event.serialized())))
    }

    /// TFRecord framing of `data`.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        out.append(littleEndian: UInt64(data.count))
        out.append(littleEndian: CRC32C.masked(out[0..<8]))
        out.append(contentsOf: data)
        out.append(littleEndian: CRC32C.masked(data))
        return out
    }

    /// Reads every event of a file, checking both CRCs of every record.
    public static func read(_ url: URL) throws -> [TensorBoardEvent] {
        let bytes = [UInt8](try Data(contentsOf: url))
        var events: [TensorBoardEvent] = []
        var p = 0
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << UInt32(8 * $1) } }
        while p < bytes.count {
            guard p + 12 <= bytes.count else { throw TensorBoardFormatError(message: "truncated record header at byte \(p)") }
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[p + $1]) << UInt64(8 * $1) }
            guard u32(p + 8) == CRC32C.masked(bytes[p..<(p + 8)]) else {
                throw TensorBoardFormatError(message: "length CRC mismatch at byte \(p)")
            }
            let start = p + 12
            let available = bytes.count - start - 4
            guard available >= 0, length <= UInt64(available) else { throw TensorBoardFormatError(message: "truncated record at byte \(p)") }
            let end = start + Int(length)
            guard u32(end) == CRC32C.masked(bytes[start..<end]) else {
                throw TensorBoardFormatError(message: "data CRC mismatch in record at byte \(p)")
            }
            events.append(try TensorBoardEvent(protobuf: Array(bytes[start..<end])))
            p = end + 4
        }
        return events
    }
}
