// Reading the JSON fixtures made by scripts/make_dino_fixtures.py.

import Foundation

enum Fixture {
    /// Decodes `Fixtures/<name>.json` from the test bundle.
    static func load<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "fixture \(name).json missing; run scripts/make_dino_fixtures.py"])
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }
}
