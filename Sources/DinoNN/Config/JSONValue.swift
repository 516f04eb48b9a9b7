// A JSON document as a value tree: what config files become before they are decoded, what
// command-line overrides edit, and what the train state echoes.
//
// Integers and fractional numbers are kept apart so that step counts and seeds survive a round
// trip exactly (integers are 64-bit signed: seeds above Int64.max do not fit). Serialisation
// sorts object keys, so the same config always gives the same text.

import Foundation

/// A JSON value.
public enum JSONValue: Equatable, Sendable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    // MARK: Codable (through any Encoder/Decoder, e.g. Foundation's JSON coders)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int.self) { self = .integer(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        if let o = try? c.decode([String: JSONValue].self) { self = .object(o); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    // MARK: Parsing and printing

    /// Parses JSON text.
    public static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// The tree of an encodable value (a config's defaults, for instance).
    public init<T: Encodable>(encoding value: T) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Compact JSON with sorted keys. Non-finite numbers, which JSON cannot hold, become null.
    public var serialized: String {
        var out = ""
        write(to: &out, indent: nil, level: 0)
        return out
    }

    /// Indented JSON with sorted keys, for files people read.
    public var pretty: String {
        var out = ""
        write(to: &out, indent: "  ", level: 0)
        return out
    }

    public var description: String { serialized }

    func write(to out: inout String, indent: String?, level: Int) {
        let newline = indent == nil ? "" : "\n"
        func pad(_ l: Int) -> String { indent.map { String(repeating: $0, count: l) } ?? "" }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .double(let d): out += JSONValue.format(d)
        case .string(let s): out += JSONValue.quote(s)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "[" + newline
            for (k, v) in a.enumerated() {
                out += pad(level + 1)
                v.write(to: &out, indent: indent, level: level + 1)
                out += (k + 1 < a.count ? "," : "") + newline
            }
            out += pad(level) + "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{" + newline
            let keys = o.keys.sorted()
            for (k, key) in keys.enumerated() {
                out += pad(level + 1) + JSONValue.quote(key) + (indent == nil ? ":" : ": ")
                o[key]!.write(to: &out, indent: indent, level: level + 1)
                out += (k + 1 < keys.count ? "," : "") + newline
            }
            out += pad(level) + "}"
        }
    }

    /// Shortest text that reads back as the same Double; null when not finite.
    static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    // MARK: Reading and editing

    /// A short description of the value's kind, for error messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Member `key` of an object (nil otherwise).
    public subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// `overlay` laid over this value: objects merge key by key, recursively; anything else
    /// in `overlay` replaces what is here.
    public func merged(with overlay: JSONValue) -> JSONValue {
        guard case .object(var base) = self, case .object(let top) = overlay else { return overlay }
        for (k, v) in top { base[k] = base[k].map { $0.merged(with: v) } ?? v }
        return .object(base)
    }

    /// Sets the value at a dotted path (`optim.lr`, `crops.local.count`, `milestones.1`),
    /// creating objects along the way; numeric components index existing arrays.
    public mutating func set(path: [String], to value: JSONValue) throws {
        guard let first = path.first else { self = value; return }
        let rest = Array(path.dropFirst())
        switch self {
        case .object(var o):
            var child = o[first] ?? .object([:])
            try child.set(path: rest, to: value)
            o[first] = child
            self = .object(o)
        case .array(var a):
            guard let i = Int(first), a.indices.contains(i) else {
                throw ConfigError.invalidOverride("'\(first)' is not an index of an array of \(a.count) elements")
            }
            try a[i].set(path: rest, to: value)
            self = .array(a)
        case .null:
            var child = JSONValue.object([:])
            try child.set(path: rest, to: value)
            self = .object([first: child])
        default:
            throw ConfigError.invalidOverride("cannot set '\(first)' inside \(kind)")
        }
    }
}
