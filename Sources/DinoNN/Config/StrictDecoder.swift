// Strict decoding of any Decodable type from a JSON tree: unknown keys are errors.
//
// A typo in a config key must not be silently ignored (lightly-train's `extra="forbid"`). The
// decoder below walks a `JSONValue` tree and records, for every JSON object, which keys the
// type asked for (`decode`, `decodeIfPresent`, `contains`). When decoding has finished, any key
// of the document that no one asked for is reported with its dotted path and the list of keys
// that type does read. This works for synthesized `Codable` conformances as they are: nothing
// needs to list its keys twice.

import Foundation

/// Why a configuration could not be loaded.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    /// Keys the config type does not have, with the keys it does have at that place.
    case unknownKeys(path: String, keys: [String], valid: [String])
    /// A value of the wrong kind, e.g. a string where a number belongs.
    case typeMismatch(path: String, expected: String, found: String)
    /// A required key is absent.
    case missingKey(path: String)
    /// A value of the right kind that is not allowed (an unknown enum case, an inexact integer).
    case invalidValue(path: String, message: String)
    /// A command-line override that cannot be applied.
    case invalidOverride(String)
    /// A config file that cannot be read or parsed.
    case unreadable(file: String, message: String)

    public var description: String {
        switch self {
        case .unknownKeys(let path, let keys, let valid):
            let at = path.isEmpty ? "at the top level" : "in '\(path)'"
            let names = keys.map { "'\($0)'" }.joined(separator: ", ")
            return "config: unknown key\(keys.count == 1 ? "" : "s") \(names) \(at); valid keys: \(valid.joined(separator: ", "))"
        case .typeMismatch(let path, let expected, let found):
            return "config: '\(path)' should be \(expected), found \(found)"
        case .missingKey(let path):
            return "config: missing required key '\(path)'"
        case .invalidValue(let path, let message):
            return "config: invalid value for '\(path)': \(message)"
        case .invalidOverride(let message):
            return "config override: \(message)"
        case .unreadable(let file, let message):
            return "config file \(file): \(message)"
        }
    }
}

/// Dotted form of a coding path: `crops.local.count`, `milestones.1`.
func dotted(_ path: [CodingKey]) -> String {
    path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
}

/// Decodes `T` from a JSON tree, rejecting keys that `T` does not read.
///
/// - Throws: `ConfigError` naming the dotted path of the offending key or value.
public func decodeStrictly<T: Decodable>(_ type: T.Type, from tree: JSONValue) throws -> T {
    let tracker = KeyTracker()
    let value: T
    do {
        value = try T(from: TreeDecoder(tree, path: [], tracker: tracker))
    } catch let error as DecodingError {
        throw ConfigError(error)
    }
    if let unknown = tracker.firstUnknown() { throw unknown }
    return value
}

extension ConfigError {
    init(_ error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let ctx):
            self = .missingKey(path: dotted(ctx.codingPath + [key]))
        case .typeMismatch(let type, let ctx):
            self = .typeMismatch(path: dotted(ctx.codingPath), expected: "\(type)", found: ctx.debugDescription)
        case .valueNotFound(let type, let ctx):
            self = .typeMismatch(path: dotted(ctx.codingPath), expected: "\(type)", found: "null")
        case .dataCorrupted(let ctx):
            self = .invalidValue(path: dotted(ctx.codingPath), message: ctx.debugDescription)
        @unknown default:
            self = .invalidValue(path: "", message: "\(error)")
        }
    }
}

/// Which keys each JSON object has and which of them were read.
final class KeyTracker {
    var present: [String: Set<String>] = [:]
    var queried: [String: Set<String>] = [:]

    func register(_ path: String, keys: some Sequence<String>) {
        present[path, default: []].formUnion(keys)
        if queried[path] == nil { queried[path] = [] }
    }

    func query(_ path: String, _ key: String) { queried[path, default: []].insert(key) }

    /// The first object (by path) with keys nobody read.
    func firstUnknown() -> ConfigError? {
        for path in present.keys.sorted() {
            let unknown = present[path]!.subtracting(queried[path] ?? [])
            if !unknown.isEmpty {
                return .unknownKeys(path: path, keys: unknown.sorted(), valid: (queried[path] ?? []).sorted())
            }
        }
        return nil
    }
}

/// A coding key made at run time (array indices, dictionary keys).
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// A `Decoder` over a `JSONValue`.
struct TreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    let tracker: KeyTracker
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JSONValue, path: [CodingKey], tracker: KeyTracker) {
        self.value = value
        codingPath = path
        self.tracker = tracker
    }

    func mismatch(_ expected: Any.Type) -> DecodingError {
        .typeMismatch(expected, .init(codingPath: codingPath, debugDescription: "\(value.kind) (\(value.serialized.prefix(60)))"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self) }
        tracker.register(dotted(codingPath), keys: members.keys)
        return KeyedDecodingContainer(KeyedTree<Key>(members: members, codingPath: codingPath, tracker: tracker))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self) }
        return UnkeyedTree(elements: elements, codingPath: codingPath, tracker: tracker)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { self }
}

extension TreeDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch(type) }
        return b
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let s) = value else { throw mismatch(type) }
        return s
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .double(let d): return d
        case .integer(let i): return Double(i)
        default: throw mismatch(type)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        switch value {
        case .integer(let i):
            guard let v = I(exactly: i) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(i) does not fit in \(type)"))
            }
            return v
        case .double(let d):
            guard let v = I(exactly: d) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(d) is not an integer of type \(type)"))
            }
            return v
        default: throw mismatch(type)
        }
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if type == JSONValue.self { return value as! T }
        if type == URL.self {
            let s = try decode(String.self)
            return URL(fileURLWithPath: s) as! T
        }
        return try T(from: self)
    }
}

struct KeyedTree<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [CodingKey]
    let tracker: KeyTracker

    var allKeys: [Key] {
        members.keys.compactMap { k in
            tracker.query(dotted(codingPath), k)
            return Key(stringValue: k)
        }
    }

    func contains(_ key: Key) -> Bool {
        tracker.query(dotted(codingPath), key.stringValue)
        return members[key.stringValue] != nil
    }

    func child(_ key: Key) throws -> TreeDecoder {
        tracker.query(dotted(codingPath), key.stringValue)
        guard let v = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return TreeDecoder(v, path: codingPath + [key], tracker: tracker)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key).decodeNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let c = try child(key)
        if c.value == .null && !(T.self is ExpressibleByNilLiteral.Type) {
            throw DecodingError.valueNotFound(type, .init(codingPath: c.codingPath, debugDescription: "null"))
        }
        return try c.decode(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        tracker.query(dotted(codingPath), key.stringValue)
        guard let v = members[key.stringValue], v != .null else { return nil }
        return try TreeDecoder(v, path: codingPath + [key], tracker: tracker).decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }

    func superDecoder() throws -> Decoder { try child(Key(stringValue: "super")!) }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

struct UnkeyedTree: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [CodingKey]
    let tracker: KeyTracker
    var currentIndex = 0

    init(elements: [JSONValue], codingPath: [CodingKey], tracker: KeyTracker) {
        self.elements = elements
        self.codingPath = codingPath
        self.tracker = tracker
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func next() throws -> TreeDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "array has only \(elements.count) elements"))
        }
        defer { currentIndex += 1 }
        return TreeDecoder(elements[currentIndex], path: codingPath + [AnyKey(intValue: currentIndex)], tracker: tracker)
    }

    mutating func decodeNil() throws -> Bool {
        if !isAtEnd && elements[currentIndex] == .null {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}
