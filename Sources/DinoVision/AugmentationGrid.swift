// A picture of what the model sees: for a few images, the image itself, its two global
// views with the iBOT mask drawn over the masked patches, and its local views.
//
// Row layout: [original] [global 1] [global 2] [local 1] … [local N], every cell `cell`
// pixels high; small views are enlarged by pixel replication so 16-px crops stay visible.
// Masked patches are tinted red with their patch borders drawn.

import DinoTensor
import Foundation

/// Renders augmentation grids.
public struct AugmentationGrid {
    /// The augmentation shown.
    public var config: MultiCropConfig
    /// The iBOT masks to draw (nil: no masks, as for DINO v1).
    public var maskCollator: MaskCollator?
    /// Patch side in pixels of the global views (for drawing masks).
    public var patchSize: Int
    /// Seed of the views and masks drawn.
    public var seed: UInt64

    /// A renderer of `config`'s views, with masks from `maskCollator` drawn on `patchSize`-px patches.
    public init(config: MultiCropConfig, maskCollator: MaskCollator?, patchSize: Int, seed: UInt64 = 0) {
        self.config = config
        self.maskCollator = maskCollator
        self.patchSize = patchSize
        self.seed = seed
    }

    /// The grid for the given images (one row each).
    public func render(_ images: [RGBImage]) -> RGBImage {
        precondition(!images.isEmpty, "AugmentationGrid: no images")
        let augment = MultiCropAugmentation(config)
        let randomness = EpochRandomness(seed: seed, epoch: 0)
        let views = images.indices.map { augment(images[$0], generator: randomness.sample($0)) }
        let masks = maskCollator?.masks(count: 2 * images.count, generator: randomness.batch(0))

        let g = config.global.size
        let zoom = max(1, 160 / g)                       // global views at least 160 px
        let cell = g * zoom
        let localZoom = max(1, cell / (2 * config.local.size))   // locals at about half a cell
        let gap = 6
        let originalWidth = cell * 4 / 3
        let columns = [originalWidth, cell, cell] + Array(repeating: config.local.size * localZoom, count: config.local.count)
        let width = columns.reduce(gap, { $0 + $1 + gap })
        let height = images.count * (cell + gap) + gap
        var canvas = RGBImage(width: width, height: height, red: 40, green: 40, blue: 40)

        for (row, image) in images.enumerated() {
            let y = gap + row * (cell + gap)
            // The whole image, fitted into the first cell.
            let s = min(Double(originalWidth) / Double(image.width), Double(cell) / Double(image.height))
            let fitted = image.resized(width: max(1, Int(Double(image.width) * s)),
                                       height: max(1, Int(Double(image.height) * s)), filter: .bilinear)
            var x = gap
            canvas.paste(fitted, x: x + (originalWidth - fitted.width) / 2, y: y + (cell - fitted.height) / 2)
            x += originalWidth + gap
            for v in 0..<2 {
                var view = views[row].global[v]
                if let masks {
                    view = drawMask(view, masks: masks, row: v * images.count + row)
                }
                canvas.paste(view.enlarged(zoom), x: x, y: y)
                x += cell + gap
            }
            for local in views[row].local {
                let big = local.enlarged(localZoom)
                canvas.paste(big, x: x, y: y + (cell - big.height) / 2)
                x += big.width + gap
            }
        }
        return canvas
    }

    /// Tints masked patches red and outlines them.
    func drawMask(_ view: RGBImage, masks: BatchMasks, row: Int) -> RGBImage {
        var out = view
        let grid = view.width / patchSize
        guard grid * grid == masks.patches else { return view }
        for p in 0..<masks.patches where masks.values[row * masks.patches + p] {
            let (py, px) = (p / grid, p % grid)
            for yy in 0..<patchSize {
                for xx in 0..<patchSize {
                    let o = ((py * patchSize + yy) * view.width + px * patchSize + xx) * 3
                    let border = yy == 0 || xx == 0 || yy == patchSize - 1 || xx == patchSize - 1
                    out.pixels[o] = border ? 255 : UInt8((Int(out.pixels[o]) + 255) / 2)
                    out.pixels[o + 1] = border ? 40 : UInt8(Int(out.pixels[o + 1]) / 2)
                    out.pixels[o + 2] = border ? 40 : UInt8(Int(out.pixels[o + 2]) / 2)
                }
            }
        }
        return out
    }
}

extension RGBImage {
    /// Each pixel repeated `factor × factor` times (nearest-neighbour enlargement for display).
    public func enlarged(_ factor: Int) -> RGBImage {
        if factor == 1 { return self }
        return pixels.withUnsafeBufferPointer { src in
            RGBImage(width: width * factor, height: height * factor) { out in
                let w = width * factor
                for y in 0..<(height * factor) {
                    for x in 0..<w {
                        let s = src.baseAddress! + ((y / factor) * width + x / factor) * 3
                        let d = out + (y * w + x) * 3
                        d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
                    }
                }
            }
        }
    }
}
