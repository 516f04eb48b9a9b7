// Loading configurations: defaults, then a JSON or YAML file, then `key.sub=value` overrides,
// decoded strictly.
//
// A configuration is a Codable struct whose `init()` holds the documented defaults. Loading
// encodes those defaults to a JSON tree, lays the file's tree over it, applies the command-line
// overrides to the result, and decodes it with `decodeStrictly`, so a file only needs the keys
// it changes and every unknown key is an error that names the valid ones.

import Foundation
import Yams

/// A Codable configuration whose `init()` gives the documented defaults.
///
/// Decoding lays a tree over the defaults (so a file gives only the keys it changes), decodes
/// it strictly (unknown keys are errors) and then validates the result.
public protocol Configuration: Codable {
    init()
    /// The defaults that `tree` is laid over. Default: `init()` encoded. A config whose
    /// optional sections exclude each other drops (or adds) the sections `tree` chooses.
    static func defaults(under tree: JSONValue) throws -> JSONValue
    /// Checks the values that have a valid range, naming the key of the first bad one.
    /// Default: nothing to check.
    func validate() throws
}

extension Configuration {
    public static func defaults(under tree: JSONValue) throws -> JSONValue { try JSONValue(encoding: Self()) }
    public func validate() throws {}

    /// The configuration as a JSON tree (for the train state's config echo).
    public func jsonTree() throws -> JSONValue { try JSONValue(encoding: self) }
}

/// Reads configuration files and applies overrides.
public enum ConfigLoader {
    /// Loads `T`: defaults, overlaid by `file` (JSON, or YAML for `.yaml`/`.yml`), overlaid by
    /// `overrides` (`"optim.lr=1e-3"`, `"crops.local.count=6"`, `"name=\"run 1\""`).
    ///
    /// - Throws: `ConfigError` naming the file, the override or the dotted key at fault.
    public static func load<T: Configuration>(_ type: T.Type, file: URL? = nil, overrides: [String] = []) throws -> T {
        let fileTree = try file.map(readTree) ?? .object([:])
        let tree = try apply(overrides: overrides, to: try T.defaults(under: fileTree).merged(with: fileTree))
        return try decode(T.self, from: tree)
    }

    /// Decodes `T` from a tree laid over `T`'s defaults, strictly, and validates it.
    ///
    /// - Throws: `ConfigError` naming the dotted key at fault.
    public static func decode<T: Configuration>(_ type: T.Type, from tree: JSONValue) throws -> T {
        let value = try decodeStrictly(T.self, from: try T.defaults(under: tree).merged(with: tree))
        try value.validate()
        return value
    }

    /// The tree of a JSON or YAML file (chosen by extension; anything else is read as JSON).
    public static func readTree(_ file: URL) throws -> JSONValue {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw ConfigError.unreadable(file: file.path, message: "cannot read (\(error.localizedDescription))")
        }
        let ext = file.pathExtension.lowercased()
        do {
            return ext == "yaml" || ext == "yml" ? try parseYAML(text) : try JSONValue.parse(text)
        } catch let e as ConfigError {
            throw ConfigError.unreadable(file: file.path, message: e.description)
        } catch {
            throw ConfigError.unreadable(file: file.path, message: "\(error)")
        }
    }

    /// YAML text as a JSON tree (YAML 1.1 scalars as Yams resolves them; an empty document is `{}`).
    public static func parseYAML(_ text: String) throws -> JSONValue {
        guard let document = try Yams.load(yaml: text) else { return .object([:]) }
        return try jsonValue(fromYAML: document, path: "")
    }

    static func jsonValue(fromYAML any: Any, path: String) throws -> JSONValue {
        switch any {
        case is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .integer(i)
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let date as Date: return .string(ISO8601DateFormatter().string(from: date))
        case let a as [Any]:
            return .array(try a.enumerated().map { try jsonValue(fromYAML: $1, path: path + ".\($0)") })
        case let o as [String: Any]:
            return .object(try o.reduce(into: [:]) { $0[$1.key] = try jsonValue(fromYAML: $1.value, path: path + "." + $1.key) })
        case let o as [AnyHashable: Any]:
            var out: [String: JSONValue] = [:]
            for (k, v) in o {
                let key = "\(k.base)"
                out[key] = try jsonValue(fromYAML: v, path: path + "." + key)
            }
            return .object(out)
        default:
            throw ConfigError.invalidValue(path: String(path.dropFirst()), message: "unsupported YAML value \(any) of type \(type(of: any))")
        }
    }

    /// Applies `key.sub=value` overrides in order. The value is read as JSON when it parses
    /// (`3`, `1e-4`, `true`, `null`, `[1, 2]`, `"text"`), else taken as a plain string.
    public static func apply(overrides: [String], to tree: JSONValue) throws -> JSONValue {
        var tree = tree
        for override in overrides {
            guard let eq = override.firstIndex(of: "=") else {
                throw ConfigError.invalidOverride("'\(override)' is not of the form key.sub=value")
            }
            let key = String(override[..<eq]).trimmingCharacters(in: .whitespaces)
            let raw = String(override[override.index(after: eq)...])
            let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !key.isEmpty, !path.contains(where: \.isEmpty) else {
                throw ConfigError.invalidOverride("'\(override)' has an empty key component")
            }
            let value = (try? JSONValue.parse(raw)) ?? .string(raw)
            do {
                try tree.set(path: path, to: value)
            } catch let ConfigError.invalidOverride(message) {
                throw ConfigError.invalidOverride("'\(override)': \(message)")
            }
        }
        return tree
    }
}
