// Strict decoding for configs: unknown keys are errors, never silently ignored.

/// A coding key made from any string, to list the keys a JSON object really has.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init?(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
}

/// Throws when the object being decoded has a key outside `Keys`, naming it and the allowed keys.
public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ decoder: Decoder, _: Keys.Type, in typeName: String) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let allowed = Set(Keys.allCases.map(\.stringValue))
    let unknown = container.allKeys.map(\.stringValue).filter { !allowed.contains($0) }.sorted()
    guard unknown.isEmpty else {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath,
            debugDescription: "unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in \(typeName); allowed keys: \(allowed.sorted().joined(separator: ", "))"))
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent.
    func value<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}
