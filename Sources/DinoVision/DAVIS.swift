// A video object segmentation set in the DAVIS-2017 layout:
//
//     ROOT/JPEGImages/480p/CLIP/00000.jpg …     (or JPEGImages/CLIP/…, frames .jpg or .png)
//     ROOT/Annotations/480p/CLIP/00000.png …    (palette PNGs: 0 background, 1…n objects, 255 void)
//     ROOT/ImageSets/2017/val.txt               (or ImageSets/val.txt: one clip name per line)
//
// What it is: the paths that facebookresearch/dino eval_video_segmentation.py and
// davisvideochallenge/davis2017-evaluation read (`JPEGImages/480p`, `Annotations/480p`,
// `ImageSets/2017/<set>.txt`), with the flat variant of videos-dev accepted too.

import Foundation

/// The clips of a DAVIS-2017-style folder.
public struct DAVISDataset: Sendable {
    public let root: String
    /// The frames' folder (JPEGImages/480p, or JPEGImages).
    public let framesRoot: String
    /// The annotations' folder (Annotations/480p, or Annotations).
    public let annotationsRoot: String
    /// Clip names in the order of the set file.
    public let sequences: [String]

    /// - Parameters:
    ///   - root: the DAVIS folder.
    ///   - set: the image set (`val`): ImageSets/2017/<set>.txt, else ImageSets/<set>.txt, else
    ///     every clip folder, sorted.
    /// - Throws: `DatasetError` naming the missing folder, set file or clip.
    public init(root: String, set: String = "val") throws {
        self.root = root
        let fm = FileManager.default
        func folder(_ parts: String...) -> String { parts.reduce(root) { ($0 as NSString).appendingPathComponent($1) } }
        func isDirectory(_ p: String) -> Bool {
            var d: ObjCBool = false
            return fm.fileExists(atPath: p, isDirectory: &d) && d.boolValue
        }
        guard isDirectory(folder("JPEGImages")) else { throw DatasetError.missing(folder("JPEGImages")) }
        framesRoot = isDirectory(folder("JPEGImages", "480p")) ? folder("JPEGImages", "480p") : folder("JPEGImages")
        guard isDirectory(folder("Annotations")) else { throw DatasetError.missing(folder("Annotations")) }
        annotationsRoot = isDirectory(folder("Annotations", "480p")) ? folder("Annotations", "480p") : folder("Annotations")
        let setFiles = [folder("ImageSets", "2017", set + ".txt"), folder("ImageSets", set + ".txt")]
        if let file = setFiles.first(where: { fm.fileExists(atPath: $0) }) {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw DatasetError.unreadable(file, error.localizedDescription)
            }
            sequences = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            let frames = framesRoot
            sequences = ((try? fm.contentsOfDirectory(atPath: frames)) ?? []).filter { !$0.hasPrefix(".") && isDirectory((frames as NSString).appendingPathComponent($0)) }.sorted()
        }
        guard !sequences.isEmpty else { throw DatasetError.empty(setFiles[0]) }
        for s in sequences where !isDirectory((framesRoot as NSString).appendingPathComponent(s)) {
            throw DatasetError.missing((framesRoot as NSString).appendingPathComponent(s))
        }
    }

    /// The frame files of a clip, sorted by name (`.jpg`, `.jpeg` or `.png`).
    public func frames(of sequence: String) throws -> [String] {
        let dir = (framesRoot as NSString).appendingPathComponent(sequence)
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch { throw DatasetError.missing(dir) }
        let frames = names.filter { n in !n.hasPrefix(".") && ["jpg", "jpeg", "png"].contains((n as NSString).pathExtension.lowercased()) }.sorted()
        guard !frames.isEmpty else { throw DatasetError.empty(dir) }
        return frames.map { (dir as NSString).appendingPathComponent($0) }
    }

    /// The annotation of a frame: Annotations/…/CLIP/<frame name>.png.
    public func annotationPath(sequence: String, frame: String) -> String {
        let name = ((frame as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
        return ((annotationsRoot as NSString).appendingPathComponent(sequence) as NSString).appendingPathComponent(name)
    }

    /// The object labels of an annotation PNG (palette index or gray value), row-major.
    ///
    /// - Throws: `ImageDecodingError` naming the file when it is missing or unreadable.
    public static func labels(_ path: String) throws -> (width: Int, height: Int, labels: [UInt8]) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ImageDecodingError(path: path, reason: .unreadable("no annotation"))
        }
        let png = try PNGSamples.read(path)
        guard png.bitDepth == 8 else {
            throw ImageDecodingError(path: path, reason: .unreadable("an annotation must be an 8-bit palette or gray PNG, this one is \(png.bitDepth)-bit"))
        }
        return (png.width, png.height, png.firstChannel.map { UInt8($0) })
    }
}
