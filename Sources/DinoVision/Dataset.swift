// Datasets of image files: an ImageFolder (root/CLASS/…/image → label), a folder of
// unlabelled images searched recursively, or a text file listing paths.
//
// Indexing lists directories only (POSIX readdir, no stat per file where the file system
// reports entry types) and keeps paths in one packed byte buffer, so a million files cost
// tens of megabytes and no image is opened. Hidden entries (names starting with ".") and
// files whose extension is not an image format's are skipped and counted. Orders are
// deterministic: classes and files sorted by their UTF-8 bytes (Python's `sorted`, as
// torchvision's ImageFolder does).
//
// Reference: torchvision datasets/folder.py (find_classes, make_dataset, ImageFolder).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Paths stored as one UTF-8 buffer and offsets (≈ path length + 8 bytes each).
public struct PathTable: Sendable {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []

    public init() {}

    public var count: Int { ends.count }

    public mutating func append(_ path: String) {
        bytes.append(contentsOf: path.utf8)
        ends.append(bytes.count)
    }

    public subscript(i: Int) -> String {
        let start = i == 0 ? 0 : ends[i - 1]
        return String(decoding: bytes[start..<ends[i]], as: UTF8.self)
    }

    /// Bytes held by the table.
    public var memoryFootprint: Int { bytes.capacity + ends.capacity * MemoryLayout<Int>.stride }
}

/// A finite list of image files, each with an optional class label.
public struct ImageFileDataset: Sendable {
    /// Directory that relative paths are joined to.
    public let root: String
    /// Class names in label order (empty for unlabelled datasets).
    public let classes: [String]
    private let paths: PathTable
    private let labels: [Int32]
    /// Files left out at indexing because their extension is not an image format's.
    public let skippedNonImages: Int
    /// Hidden files and folders left out at indexing.
    public let skippedHidden: Int

    public var count: Int { paths.count }

    /// Full path of item i.
    public func path(at i: Int) -> String {
        let p = paths[i]
        return p.hasPrefix("/") || root.isEmpty ? p : root + "/" + p
    }

    /// Label of item i (nil when unlabelled).
    public func label(at i: Int) -> Int? { labels.isEmpty ? nil : Int(labels[i]) }

    /// Bytes used by the index itself.
    public var indexMemory: Int { paths.memoryFootprint + labels.capacity * 4 }

    /// torchvision's ImageFolder: every sub-folder of `root` is a class (sorted), every image
    /// below it (searched recursively) an item with that class's label.
    public static func imageFolder(_ root: String) throws -> ImageFileDataset {
        let root = normalized(root)
        var walker = DirectoryWalker()
        let classes = try walker.entries(root).filter { $0.isDirectory }.map(\.name)
        guard !classes.isEmpty else { throw DatasetError.noClasses(root) }
        var paths = PathTable(), labels: [Int32] = []
        for (label, name) in classes.enumerated() {
            try walker.walk(root, relative: name) { paths.append($0); labels.append(Int32(label)) }
        }
        return ImageFileDataset(root: root, classes: classes, paths: paths, labels: labels,
                                skippedNonImages: walker.nonImages, skippedHidden: walker.hidden)
    }

    /// Every image below `root`, searched recursively, unlabelled.
    public static func folder(_ root: String) throws -> ImageFileDataset {
        let root = normalized(root)
        var walker = DirectoryWalker()
        var paths = PathTable()
        try walker.walk(root, relative: "") { paths.append($0) }
        return ImageFileDataset(root: root, classes: [], paths: paths, labels: [],
                                skippedNonImages: walker.nonImages, skippedHidden: walker.hidden)
    }

    /// The paths listed in a text file, one per line (blank lines and lines starting with "#"
    /// ignored; relative paths are relative to the list file's folder), unlabelled.
    public static func list(_ file: String) throws -> ImageFileDataset {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw DatasetError.unreadable(file, error.localizedDescription)
        }
        let root = (normalized(file) as NSString).deletingLastPathComponent
        var paths = PathTable()
        var nonImages = 0
        for line in text.split(whereSeparator: \.isNewline) {
            let p = line.trimmingCharacters(in: .whitespaces)
            if p.isEmpty || p.hasPrefix("#") { continue }
            if !DirectoryWalker.isImageName(p) { nonImages += 1; continue }
            paths.append(p)
        }
        return ImageFileDataset(root: root, classes: [], paths: paths, labels: [], skippedNonImages: nonImages, skippedHidden: 0)
    }

    /// Picks the layout: a `.txt` file is a list; a folder whose sub-folders hold images is
    /// an ImageFolder when `labelled`, otherwise all images below it are used.
    public static func open(_ path: String, labelled: Bool = false) throws -> ImageFileDataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError.missing(path)
        }
        if !isDirectory.boolValue { return try list(path) }
        return labelled ? try imageFolder(path) : try folder(path)
    }

    static func normalized(_ p: String) -> String {
        var s = p
        while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        return s
    }
}

/// Why a dataset could not be indexed.
public enum DatasetError: Error, CustomStringConvertible {
    case missing(String)
    case unreadable(String, String)
    case noClasses(String)
    case empty(String)

    public var description: String {
        switch self {
        case .missing(let p): return "\(p): no such file or folder"
        case .unreadable(let p, let why): return "\(p): cannot read (\(why))"
        case .noClasses(let p): return "\(p): no class sub-folders (ImageFolder layout is root/CLASS/image)"
        case .empty(let p): return "\(p): no images found"
        }
    }
}

/// Lists directories with readdir, sorted, skipping hidden entries and non-images.
struct DirectoryWalker {
    var nonImages = 0
    var hidden = 0

    struct Entry {
        let name: String
        let isDirectory: Bool
    }

    static func isImageName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: ".") else { return false }
        return ImageFormat.extensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// The visible entries of `dir`, sorted by UTF-8 bytes.
    mutating func entries(_ dir: String) throws -> [Entry] {
        guard let d = opendir(dir) else {
            throw DatasetError.unreadable(dir, String(cString: strerror(errno)))
        }
        defer { closedir(d) }
        var result: [Entry] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: &e.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            if name.hasPrefix(".") { hidden += 1; continue }
            var isDirectory: Bool
            switch Int32(e.pointee.d_type) {
            case Int32(DT_DIR): isDirectory = true
            case Int32(DT_REG): isDirectory = false
            default:
                // Unknown type or symbolic link: ask stat (follows links, as os.walk(followlinks=True)).
                var st = stat()
                guard stat(dir + "/" + name, &st) == 0 else { continue }
                isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            }
            result.append(Entry(name: name, isDirectory: isDirectory))
        }
        return result.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Calls `found` with the path (relative to `root`) of every image below `root/relative`.
    mutating func walk(_ root: String, relative: String, depth: Int = 0, _ found: (String) -> Void) throws {
        guard depth < 64 else { return }  // symbolic link loops
        let dir = relative.isEmpty ? root : root + "/" + relative
        for e in try entries(dir) {
            let rel = relative.isEmpty ? e.name : relative + "/" + e.name
            if e.isDirectory {
                try walk(root, relative: rel, depth: depth + 1, found)
            } else if DirectoryWalker.isImageName(e.name) {
                found(rel)
            } else {
                nonImages += 1
            }
        }
    }
}

/// Bad files met while loading: each is reported once (with its path) and counted.
public final class DataIssueLog: @unchecked Sendable {
    /// What was wrong with a file.
    public enum Kind: String, Sendable, CaseIterable {
        case unreadable, empty, unknownFormat, tooLarge, corrupt, mislabelled
    }

    public struct Entry: Sendable {
        public let path: String
        public let kind: Kind
        public let message: String
    }

    private let lock = NSLock()
    private var counts: [Kind: Int] = [:]
    private var distinctCounts: [Kind: Int] = [:]
    private var seen = Set<String>()
    private var kept: [Entry] = []
    /// Entries kept for inspection (the first ones; counts go on beyond).
    public let keepLimit: Int
    /// Where each new issue is reported (default: a line on standard error).
    public let report: @Sendable (Entry) -> Void

    /// A log that keeps the first `keepLimit` entries and reports each new bad file with `report`.
    public init(keepLimit: Int = 1000, report: @escaping @Sendable (Entry) -> Void = DataIssueLog.standardError) {
        self.keepLimit = keepLimit
        self.report = report
    }

    public static let standardError: @Sendable (Entry) -> Void = { e in
        FileHandle.standardError.write(Data("dino: skipped \(e.path): \(e.message)\n".utf8))
    }

    public static let silent: @Sendable (Entry) -> Void = { _ in }

    /// Records a bad file; reports it the first time its path is seen.
    public func record(path: String, kind: Kind, message: String) {
        let entry = Entry(path: path, kind: kind, message: message)
        lock.lock()
        counts[kind, default: 0] += 1
        let first = seen.insert(path).inserted
        if first { distinctCounts[kind, default: 0] += 1 }
        if first && kept.count < keepLimit { kept.append(entry) }
        lock.unlock()
        if first { report(entry) }
    }

    /// Total number of bad-file events (a file skipped in two epochs counts twice).
    public var total: Int { lock.lock(); defer { lock.unlock() }; return counts.values.reduce(0, +) }

    /// Distinct bad files.
    public var distinctFiles: Int { lock.lock(); defer { lock.unlock() }; return seen.count }

    /// Events of one kind.
    public func count(_ kind: Kind) -> Int { lock.lock(); defer { lock.unlock() }; return counts[kind, default: 0] }

    /// The kept entries, in the order met.
    public var entries: [Entry] { lock.lock(); defer { lock.unlock() }; return kept }

    /// "3 bad files skipped (1 empty, 2 corrupt)": distinct files, by the kind first recorded.
    public var summary: String {
        lock.lock(); defer { lock.unlock() }
        let parts = Kind.allCases.compactMap { k in distinctCounts[k].map { "\($0) \(k.rawValue)" } }
        return "\(seen.count) bad file\(seen.count == 1 ? "" : "s") skipped" + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
    }
}

extension ImageFileDataset {
    /// Decodes item i, or records why it cannot be and returns nil. A file whose content is
    /// in another format than its extension says is refused as mislabelled unless
    /// `acceptMislabelled`.
    public func loadImage(at i: Int, options: DecodeOptions = DecodeOptions(), issues: DataIssueLog,
                          acceptMislabelled: Bool = false) -> RGBImage? {
        let p = path(at: i)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: p), options: .mappedIfSafe)
        } catch {
            issues.record(path: p, kind: .unreadable, message: "cannot read the file (\(error.localizedDescription))")
            return nil
        }
        if !acceptMislabelled, !data.isEmpty,
           let actual = data.withUnsafeBytes({ ImageFormat.sniff($0) }),
           let claimed = ImageFormat(fileExtension: (p as NSString).pathExtension), claimed != actual {
            issues.record(path: p, kind: .mislabelled,
                          message: "the extension says \(claimed.rawValue) but the content is \(actual.rawValue)")
            return nil
        }
        do {
            return try ImageDecoder.decode(data, path: p, options: options)
        } catch let e as ImageDecodingError {
            let kind: DataIssueLog.Kind
            switch e.reason {
            case .unreadable: kind = .unreadable
            case .empty: kind = .empty
            case .unknownFormat: kind = .unknownFormat
            case .tooLarge: kind = .tooLarge
            case .corrupt: kind = .corrupt
            }
            issues.record(path: p, kind: kind, message: e.reasonDescription)
            return nil
        } catch {
            issues.record(path: p, kind: .corrupt, message: "\(error)")
            return nil
        }
    }
}

extension ImageFormat {
    /// The format a file extension claims (nil for unknown extensions).
    public init?(fileExtension ext: String) {
        switch ext.lowercased() {
        case "jpg", "jpeg", "jpe", "jfif": self = .jpeg
        case "png": self = .png
        case "webp": self = .webp
        case "tif", "tiff": self = .tiff
        case "bmp": self = .bmp
        case "ppm", "pgm", "pnm": self = .pnm
        default: return nil
        }
    }
}
