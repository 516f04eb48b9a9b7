// Every public symbol of the `Dino` surface has a DocC comment (`make docs` builds the
// reference with warnings as errors; this test catches a symbol with no comment at all, which
// DocC does not warn about).

import Foundation
import Testing

/// The declarations of `source` that a program sees (public declarations, the cases of public
/// enums, extensions) without a `///` comment right above them (attributes may sit between).
func undocumentedDeclarations(in source: String) -> [String] {
    let lines = source.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    var missing: [String] = []
    var publicEnumDepth: Int? = nil, depth = 0
    /// The line without its leading attributes (`@discardableResult`, `@available(…)`).
    func declaration(_ line: String) -> String {
        var rest = Substring(line)
        while rest.hasPrefix("@") {
            var end = rest.firstIndex(where: { $0 == " " || $0 == "(" }) ?? rest.endIndex
            if end < rest.endIndex, rest[end] == "(" { end = rest[end...].firstIndex(of: ")").map { rest.index(after: $0) } ?? rest.endIndex }
            rest = rest[end...].drop { $0 == " " }
        }
        return String(rest)
    }
    for (i, full) in lines.enumerated() {
        let line = declaration(full)
        let isPublic = line.hasPrefix("public ")
        let isCase = publicEnumDepth == depth - 1 && line.hasPrefix("case ")
        let isExtension = line.hasPrefix("extension ")
        if isPublic || isCase || isExtension {
            var j = i - 1
            while j >= 0 && lines[j].hasPrefix("@") && declaration(lines[j]).isEmpty { j -= 1 }
            if j < 0 || !lines[j].hasPrefix("///") { missing.append("line \(i + 1): \(full)") }
        }
        if isPublic && line.contains(" enum ") { publicEnumDepth = depth }
        depth += full.filter { $0 == "{" }.count - full.filter { $0 == "}" }.count
        if let d = publicEnumDepth, depth <= d { publicEnumDepth = nil }
    }
    return missing
}

@Suite struct DocumentationTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/Dino")

    @Test func everyPublicSymbolOfDinoHasADocComment() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count >= 4)
        for file in files.sorted() {
            let text = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
            let missing = undocumentedDeclarations(in: text)
            #expect(missing.isEmpty, "Sources/Dino/\(file): no doc comment on \(missing.joined(separator: "; "))")
        }
    }

    @Test func theCheckFindsUndocumentedDeclarations() {
        let source = """
            /// Documented.
            public enum E {
                /// Documented.
                case a
                case b
            }
            @discardableResult
            public func f() -> Int { 0 }
            /// Documented.
            @inlinable public func g() {}
            extension E {}
            """
        #expect(undocumentedDeclarations(in: source) == ["line 5: case b", "line 8: public func f() -> Int { 0 }",
                                                         "line 11: extension E {}"])
    }
}
