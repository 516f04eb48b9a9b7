// Contact sheets of image groups, for a person to look at what curation did: one row per
// group (the largest duplicate groups; sample images of each top-level cluster), each image
// fitted into a square cell, unreadable images drawn as a red cell.

import DinoVision
import Foundation

/// Renders rows of image files into one picture.
public struct ImageGrid: Sendable {
    /// Side of a cell in pixels.
    public var cell: Int
    /// Images shown per row at most.
    public var columns: Int
    /// Pixels between cells.
    public var gap: Int

    public init(cell: Int = 64, columns: Int = 12, gap: Int = 4) {
        precondition(cell >= 4 && columns >= 1 && gap >= 0, "ImageGrid: bad layout")
        self.cell = cell
        self.columns = columns
        self.gap = gap
    }

    /// One row per entry of `rows` (file paths; at most `columns` of each shown); as wide as
    /// the longest row shown.
    public func render(_ rows: [[String]]) -> RGBImage {
        let shownRows = rows.isEmpty ? [[]] : rows
        let shownColumns = Swift.max(1, Swift.min(columns, shownRows.map(\.count).max() ?? 1))
        let width = gap + shownColumns * (cell + gap), height = gap + shownRows.count * (cell + gap)
        var canvas = RGBImage(width: width, height: height, red: 40, green: 40, blue: 40)
        let cells = shownRows.enumerated().flatMap { (r, row) in row.prefix(columns).enumerated().map { (r, $0.offset, $0.element) } }
        var images = [RGBImage?](repeating: nil, count: cells.count)
        let side = cell
        images.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: cells.count) { i in
                out[i] = ImageGrid.thumbnail(cells[i].2, side: side)
            }
        }
        for (i, (r, c, _)) in cells.enumerated() {
            let x = gap + c * (cell + gap), y = gap + r * (cell + gap)
            if let image = images[i] {
                canvas.paste(image, x: x + (cell - image.width) / 2, y: y + (cell - image.height) / 2)
            } else {
                canvas.paste(RGBImage(width: cell, height: cell, red: 160, green: 30, blue: 30), x: x, y: y)
            }
        }
        return canvas
    }

    /// Writes the grid of `rows` as a PNG file.
    public func write(_ rows: [[String]], to url: URL) throws {
        try render(rows).pngData().write(to: url)
    }

    static func thumbnail(_ path: String, side: Int) -> RGBImage? {
        guard let image = try? ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path)) else { return nil }
        let s = Swift.min(Double(side) / Double(image.width), Double(side) / Double(image.height))
        return image.resized(width: Swift.max(1, Int(Double(image.width) * s)), height: Swift.max(1, Int(Double(image.height) * s)),
                             filter: .bilinear)
    }
}
