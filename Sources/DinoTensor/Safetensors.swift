// The safetensors checkpoint format: reading (validated) and writing (atomic).
//
// Layout (https://github.com/huggingface/safetensors, README "Format"):
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   UTF-8 JSON object: name → {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
//             plus an optional "__metadata__": {string: string}; may end in padding spaces
//   rest      the byte buffer; tensor bytes [b, e) relative to its start, row-major, little-endian
//
// Reading checks the whole header before allocating any tensor, so a malformed, truncated or
// hostile file gives a `SafeTensorsError` naming the file (and tensor), never a crash or a read
// outside the file. As the reference implementation requires, tensors must not overlap and
// must cover the buffer without holes. Tensor data is read with `pread` straight into each
// tensor's storage (F32, F64) or through a small buffer (converted types), so loading a
// checkpoint needs its size in memory once, not twice.
//
// Not here: mapping checkpoint keys to modules (DinoModels), training state (DinoSSL).

import Foundation

/// A safetensors file read into memory: tensors by name and the `__metadata__` map.
public struct SafeTensorsFile: Sendable {
    /// F32 and F64 as stored; F16, BF16, integer and BOOL tensors converted to Float32.
    public var tensors: [String: Tensor]
    /// The header's `__metadata__` string map (empty when absent).
    public var metadata: [String: String]
    /// The dtype each tensor had on disk ("F32", "BF16", …), by name.
    public var storedDTypes: [String: String]
}

/// One tensor's record in a safetensors header.
public struct SafeTensorsEntry: Sendable, Equatable {
    public let name: String
    /// The dtype as stored: "F32", "F64", "F16", "BF16", "I64", …
    public let dtype: String
    public let shape: [Int]
    /// Byte range within the data buffer (after the header).
    public let dataOffsets: Range<Int>
}

/// The validated header of a safetensors file, without the tensor data.
public struct SafeTensorsHeader: Sendable {
    /// Entries sorted by data offset.
    public let entries: [SafeTensorsEntry]
    public let metadata: [String: String]
    /// Byte position of the data buffer in the file: 8 + header length.
    public let dataStart: Int
}

/// Reads and writes safetensors files.
public enum SafeTensors {
    /// The largest header accepted, as in the reference implementation (100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// Reads every tensor of a safetensors file.
    ///
    /// F32 and F64 tensors keep their dtype; F16, BF16, I8…I64, U8…U64 and BOOL become Float32
    /// (integers only when Float32 holds them exactly). Tensors are leaves without gradients.
    ///
    /// - Throws: `SafeTensorsError` when the file cannot be read or is malformed.
    public static func read(from url: URL) throws -> SafeTensorsFile {
        try read(from: url, only: nil)
    }

    /// Reads only the tensors named in `names` (nil: all); the others are never loaded.
    public static func read(from url: URL, only names: Set<String>?) throws -> SafeTensorsFile {
        let file = try ReadOnlyFile(url)
        let header = try readHeader(file)
        var tensors: [String: Tensor] = [:]
        var stored: [String: String] = [:]
        for entry in header.entries where names?.contains(entry.name) ?? true {
            tensors[entry.name] = try loadTensor(entry, from: file, dataStart: header.dataStart)
            stored[entry.name] = entry.dtype
        }
        return SafeTensorsFile(tensors: tensors, metadata: header.metadata, storedDTypes: stored)
    }

    /// Reads and validates only the header: names, dtypes, shapes, offsets and metadata.
    public static func readHeader(from url: URL) throws -> SafeTensorsHeader {
        try readHeader(ReadOnlyFile(url))
    }

    // MARK: Header

    private static func readHeader(_ file: ReadOnlyFile) throws -> SafeTensorsHeader {
        let path = file.path
        guard file.size >= 8 else { throw SafeTensorsError.fileTooSmall(file: path, size: file.size) }
        var rawLength: UInt64 = 0
        try withUnsafeMutableBytes(of: &rawLength) { try file.read(into: $0.baseAddress!, count: 8, at: 0) }
        let length = UInt64(littleEndian: rawLength)
        guard length <= UInt64(maxHeaderBytes) else {
            throw SafeTensorsError.headerTooLarge(file: path, length: length, limit: maxHeaderBytes)
        }
        guard length <= UInt64(file.size - 8) else {
            throw SafeTensorsError.headerBeyondFile(file: path, length: length, fileSize: file.size)
        }
        var json = Data(count: Int(length))
        try json.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { try file.read(into: base, count: buffer.count, at: 8) }
        }

        let parsed: HeaderJSON
        do {
            parsed = try JSONDecoder().decode(HeaderJSON.self, from: json)
        } catch let problem as HeaderProblem {
            switch problem {
            case .metadata(let reason): throw SafeTensorsError.invalidMetadata(file: path, reason: reason)
            case .entry(let name, let reason): throw SafeTensorsError.invalidEntry(file: path, tensor: name, reason: reason)
            }
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw SafeTensorsError.invalidHeader(file: path, reason: "the header is not a JSON object")
        } catch {
            throw SafeTensorsError.invalidJSON(file: path, reason: describe(error))
        }

        let dataStart = 8 + Int(length)
        let bufferSize = file.size - dataStart
        let entries = try parsed.entries.sorted { $0.name < $1.name }.map {
            try validate($0.name, $0.entry, file: path, bufferSize: bufferSize)
        }
        let sorted = try checkLayout(entries, file: path, bufferSize: bufferSize)
        return SafeTensorsHeader(entries: sorted, metadata: parsed.metadata, dataStart: dataStart)
    }

    /// Checks one entry's dtype, shape and offsets against each other and the buffer.
    private static func validate(_ name: String, _ raw: EntryJSON, file: String, bufferSize: Int) throws -> SafeTensorsEntry {
        guard let stored = StoredDType(rawValue: raw.dtype) else {
            throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: raw.dtype)
        }
        if let d = raw.shape.first(where: { $0 < 0 }) {
            throw SafeTensorsError.invalidShape(file: file, tensor: name, shape: raw.shape, reason: "negative dimension \(d)")
        }
        var count = raw.shape.contains(0) ? 0 : 1
        for d in raw.shape where count != 0 {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw SafeTensorsError.invalidShape(file: file, tensor: name, shape: raw.shape, reason: "element count overflows")
            }
            count = product
        }
        guard raw.dataOffsets.count == 2 else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name,
                reason: "data_offsets must hold two integers, found \(raw.dataOffsets.count)")
        }
        let (begin, end) = (raw.dataOffsets[0], raw.dataOffsets[1])
        guard begin >= 0 && begin <= end && end <= bufferSize else {
            throw SafeTensorsError.invalidOffsets(file: file, tensor: name, begin: begin, end: end, bufferSize: bufferSize)
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: stored.size)
        guard !overflow && bytes == end - begin else {
            throw SafeTensorsError.sizeMismatch(file: file, tensor: name, dtype: raw.dtype, shape: raw.shape,
                                                byteCount: end - begin)
        }
        return SafeTensorsEntry(name: name, dtype: raw.dtype, shape: raw.shape, dataOffsets: begin..<end)
    }

    /// Sorts entries by offset and checks that the non-empty ones tile the buffer exactly:
    /// no overlap, no hole, nothing after the last tensor.
    private static func checkLayout(_ entries: [SafeTensorsEntry], file: String, bufferSize: Int) throws -> [SafeTensorsEntry] {
        let sorted = entries.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) <
                ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        var covered = 0
        var last: SafeTensorsEntry? = nil
        for entry in sorted where !entry.dataOffsets.isEmpty {
            if entry.dataOffsets.lowerBound < covered, let last {
                throw SafeTensorsError.overlappingTensors(file: file, first: last.name, second: entry.name)
            }
            if entry.dataOffsets.lowerBound > covered {
                throw SafeTensorsError.unusedBytes(file: file, range: covered..<entry.dataOffsets.lowerBound)
            }
            covered = entry.dataOffsets.upperBound
            last = entry
        }
        if covered != bufferSize {
            throw SafeTensorsError.unusedBytes(file: file, range: covered..<bufferSize)
        }
        return sorted
    }

    // MARK: Data

    /// Reads one validated entry into a new tensor.
    private static func loadTensor(_ entry: SafeTensorsEntry, from file: ReadOnlyFile, dataStart: Int) throws -> Tensor {
        let stored = StoredDType(rawValue: entry.dtype)!
        let count = entry.dataOffsets.count / stored.size
        let storage = TensorStorage(dtype: stored.tensorDType, count: count, zeroed: false)
        let position = dataStart + entry.dataOffsets.lowerBound
        if stored == .f32 || stored == .f64 {
            try file.read(into: storage.raw, count: entry.dataOffsets.count, at: position)
        } else {
            // Convert through a bounded buffer: 1 Mi elements at a time.
            let chunk = min(count, 1 << 20)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(chunk * stored.size, 1), alignment: 16)
            defer { scratch.deallocate() }
            var done = 0
            while done < count {
                let n = min(chunk, count - done)
                try file.read(into: scratch, count: n * stored.size, at: position + done * stored.size)
                let target = storage.raw + done * stored.tensorDType.size
                if let bad = ElementDecoder.decode(stored, scratch, count: n, into: target) {
                    throw SafeTensorsError.notRepresentable(
                        file: file.path, tensor: entry.name, dtype: entry.dtype,
                        value: ElementDecoder.describeElement(stored, scratch, index: bad))
                }
                done += n
            }
        }
        return Tensor(storage: storage, shape: entry.shape)
    }

    // MARK: Writing

    /// Writes tensors and metadata as a safetensors file, atomically.
    ///
    /// Tensors are stored in their own dtype (F32 or F64), sorted by name, contiguously in that
    /// order; non-contiguous views are written in row-major order. The header is padded with
    /// spaces to a multiple of 8 bytes, so every tensor starts 8-byte aligned. The bytes go to
    /// a temporary file in the destination's folder, which is synced and then renamed over
    /// `url`: readers see the old file or the complete new one, never a partial write.
    ///
    /// - Parameters:
    ///   - tensors: tensors by name; the name `__metadata__` is reserved.
    ///   - metadata: stored as the header's `__metadata__` map (omitted when empty).
    ///   - url: destination file; replaced if it exists.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let path = url.path
        let names = tensors.keys.sorted()
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            guard name != "__metadata__" else {
                throw SafeTensorsError.invalidTensorName(file: path, tensor: name)
            }
            let t = tensors[name]!
            let bytes = t.count * t.dtype.size
            let shape = t.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(StoredDType(t.dtype).rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)

        let output = try AtomicFile(url)
        do {
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try output.write($0.baseAddress!, count: 8) }
            try header.withUnsafeBytes { try output.write($0.baseAddress!, count: $0.count) }
            for name in names {
                let t = tensors[name]!
                let c = t.isContiguous ? t : t.contiguousCopy()
                if c.count > 0 {
                    try output.write(c.storage.raw + c.offset * c.dtype.size, count: c.count * c.dtype.size)
                }
            }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A decoding error in one line.
    private static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        switch e {
        case .dataCorrupted(let c):
            return c.underlyingError.map { "\(c.debugDescription) (\($0))" } ?? c.debugDescription
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c):
            return c.debugDescription
        @unknown default:
            return "\(e)"
        }
    }
}

/// Why a safetensors file could not be read or written. Every case names the file; cases
/// about one tensor name it too.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The operating system refused to open, read, write or rename.
    case io(file: String, reason: String)
    /// Shorter than the 8-byte header length.
    case fileTooSmall(file: String, size: Int)
    /// The header length exceeds `SafeTensors.maxHeaderBytes`.
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    /// The header length runs past the end of the file.
    case headerBeyondFile(file: String, length: UInt64, fileSize: Int)
    /// The header is not valid UTF-8 JSON.
    case invalidJSON(file: String, reason: String)
    /// The header is JSON but not an object.
    case invalidHeader(file: String, reason: String)
    /// `__metadata__` is not a map of strings to strings.
    case invalidMetadata(file: String, reason: String)
    /// A tensor's record is not an object with a string `dtype`, an integer array `shape`
    /// and two integer `data_offsets`.
    case invalidEntry(file: String, tensor: String, reason: String)
    /// A dtype this reader does not decode (F8_E4M3, C64, an unknown name, …).
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A negative dimension, or an element count that overflows.
    case invalidShape(file: String, tensor: String, shape: [Int], reason: String)
    /// Offsets negative, reversed, or past the end of the data buffer.
    case invalidOffsets(file: String, tensor: String, begin: Int, end: Int, bufferSize: Int)
    /// The byte range does not hold exactly `shape` elements of `dtype`.
    case sizeMismatch(file: String, tensor: String, dtype: String, shape: [Int], byteCount: Int)
    /// Two tensors share bytes.
    case overlappingTensors(file: String, first: String, second: String)
    /// Bytes of the data buffer that no tensor covers (a hole, or trailing bytes).
    case unusedBytes(file: String, range: Range<Int>)
    /// An integer element with no exact Float32 value.
    case notRepresentable(file: String, tensor: String, dtype: String, value: String)
    /// A tensor name the format reserves (`__metadata__`).
    case invalidTensorName(file: String, tensor: String)

    public var description: String {
        switch self {
        case let .io(file, reason):
            return "safetensors: \(file): \(reason)"
        case let .fileTooSmall(file, size):
            return "safetensors: \(file): \(size) bytes is too short for a safetensors file (needs at least the 8-byte header length)"
        case let .headerTooLarge(file, length, limit):
            return "safetensors: \(file): header length \(length) exceeds the limit of \(limit) bytes"
        case let .headerBeyondFile(file, length, size):
            return "safetensors: \(file): header length \(length) runs past the end of the \(size)-byte file"
        case let .invalidJSON(file, reason):
            return "safetensors: \(file): the header is not valid JSON: \(reason)"
        case let .invalidHeader(file, reason):
            return "safetensors: \(file): \(reason)"
        case let .invalidMetadata(file, reason):
            return "safetensors: \(file): __metadata__ must map strings to strings: \(reason)"
        case let .invalidEntry(file, tensor, reason):
            return "safetensors: \(file): tensor '\(tensor)': \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            return "safetensors: \(file): tensor '\(tensor)' has dtype \(dtype), which is not supported "
                + "(supported: \(StoredDType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .invalidShape(file, tensor, shape, reason):
            return "safetensors: \(file): tensor '\(tensor)' has invalid shape \(fmt(shape)): \(reason)"
        case let .invalidOffsets(file, tensor, begin, end, size):
            return "safetensors: \(file): tensor '\(tensor)' has data_offsets [\(begin), \(end)] outside the \(size)-byte data buffer"
        case let .sizeMismatch(file, tensor, dtype, shape, bytes):
            return "safetensors: \(file): tensor '\(tensor)' of dtype \(dtype) and shape \(fmt(shape)) "
                + "does not fit its \(bytes)-byte data range"
        case let .overlappingTensors(file, first, second):
            return "safetensors: \(file): tensors '\(first)' and '\(second)' overlap in the data buffer"
        case let .unusedBytes(file, range):
            return "safetensors: \(file): bytes \(range.lowerBound)..<\(range.upperBound) of the data buffer belong to no tensor"
        case let .notRepresentable(file, tensor, dtype, value):
            return "safetensors: \(file): tensor '\(tensor)' (\(dtype)) holds \(value), which Float32 cannot represent exactly"
        case let .invalidTensorName(file, tensor):
            return "safetensors: \(file): '\(tensor)' is reserved and cannot name a tensor"
        }
    }
}

// MARK: - Internals

/// Element types of the format that this reader decodes.
enum StoredDType: String, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"

    init(_ dtype: DType) {
        switch dtype {
        case .float32: self = .f32
        case .float64: self = .f64
        }
    }

    /// Bytes per element on disk.
    var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// The dtype of the tensor it is read into.
    var tensorDType: DType { self == .f64 ? .float64 : .float32 }
}

/// A failure inside header decoding, attributed before the file name is known.
private enum HeaderProblem: Error {
    case metadata(String)
    case entry(String, String)
}

private struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The header object: tensor records and the optional metadata map.
private struct HeaderJSON: Decodable {
    var entries: [(name: String, entry: EntryJSON)] = []
    var metadata: [String: String] = [:]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: DynamicKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                do {
                    if try container.decodeNil(forKey: key) { continue }
                    metadata = try container.decode([String: String].self, forKey: key)
                } catch {
                    throw HeaderProblem.metadata(SafeTensorsEntryReason.of(error))
                }
            } else {
                do {
                    entries.append((key.stringValue, try container.decode(EntryJSON.self, forKey: key)))
                } catch {
                    throw HeaderProblem.entry(key.stringValue, SafeTensorsEntryReason.of(error))
                }
            }
        }
    }
}

/// One tensor record as written in the header; unknown fields are ignored.
private struct EntryJSON: Decodable {
    let dtype: String
    let shape: [Int]
    let dataOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }
}

/// Short reasons for decoding failures inside one record.
private enum SafeTensorsEntryReason {
    static func of(_ error: Error) -> String {
        // The JSON parser reports numbers that fit no Int (2.5, 1e30) with its own error type.
        guard let e = error as? DecodingError else { return "a value of the wrong kind or range (\(error))" }
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.dropFirst().reduce("") { text, key in
                key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? key.stringValue : text + "." + key.stringValue)
            }
        }
        func field(_ c: DecodingError.Context) -> String { path(c).isEmpty ? "" : " for '\(path(c))'" }
        switch e {
        case .keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        case .typeMismatch(let type, let c):
            let name = String(describing: type)
            let kind = type == String.self ? "a string" : type == Int.self ? "an integer"
                : name.hasPrefix("Dictionary") ? "an object" : name.hasPrefix("Array") ? "an array" : name
            return "expected \(kind)" + field(c)
        case .valueNotFound(_, let c):
            return "null value" + field(c)
        case .dataCorrupted(let c):
            return c.debugDescription + field(c)
        @unknown default:
            return "\(e)"
        }
    }
}
