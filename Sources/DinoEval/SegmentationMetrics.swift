// Semantic segmentation scores from a confusion matrix: per-class intersection over union,
// their mean, and pixel accuracy — as mmsegmentation's `mean_iou` computes them for DINOv2's
// linear segmentation evaluation.

import Foundation

/// Scores of a segmentation on labelled pixels, in percent.
public struct SegmentationScores: Codable, Equatable, Sendable {
    /// Mean over classes of IoU = |pred ∩ label| / |pred ∪ label|, classes with an empty union
    /// left out (mmseg's `nanmean`).
    public var miou: Double
    /// Correct pixels / labelled pixels.
    public var pixelAccuracy: Double
    /// IoU of each class; nil where the class is neither predicted nor labelled.
    public var classIoU: [Double?]

    enum CodingKeys: String, CodingKey {
        case miou, pixelAccuracy = "pixel_accuracy", classIoU = "class_iou"
    }
}

/// Counts of (label, prediction) pairs over pixels.
///
/// Reference: mmsegmentation `mmseg/evaluation/metrics/iou_metric.py` (`intersect_and_union`,
/// `total_area_to_metrics`); Long et al., "Fully Convolutional Networks for Semantic
/// Segmentation" (CVPR 2015), §5 (pixel accuracy, mean IU).
public struct ConfusionMatrix: Equatable, Sendable {
    public let classes: Int
    /// Row-major (label, prediction) counts, classes × classes.
    public private(set) var counts: [Int]

    public init(classes: Int) {
        precondition(classes > 0, "ConfusionMatrix: \(classes) classes")
        self.classes = classes
        counts = [Int](repeating: 0, count: classes * classes)
    }

    /// Adds pixels; labels equal to `ignoreIndex` (or outside 0..<classes) are skipped.
    public mutating func add(predictions: [Int], labels: [Int], ignoreIndex: Int? = 255) {
        precondition(predictions.count == labels.count,
                     "ConfusionMatrix.add: \(predictions.count) predictions for \(labels.count) labels")
        for (p, l) in zip(predictions, labels) where l != ignoreIndex && l >= 0 && l < classes {
            precondition(p >= 0 && p < classes, "ConfusionMatrix.add: prediction \(p) outside 0..<\(classes)")
            counts[l * classes + p] += 1
        }
    }

    /// IoU per class, mean IoU and pixel accuracy, in percent.
    public var scores: SegmentationScores {
        var ious: [Double?] = []
        var correct = 0, total = 0
        for c in 0..<classes {
            let tp = counts[c * classes + c]
            let labelled = (0..<classes).reduce(0) { $0 + counts[c * classes + $1] }
            let predicted = (0..<classes).reduce(0) { $0 + counts[$1 * classes + c] }
            let union = labelled + predicted - tp
            ious.append(union > 0 ? 100 * Double(tp) / Double(union) : nil)
            correct += tp
            total += labelled
        }
        let present = ious.compactMap { $0 }
        return SegmentationScores(miou: present.isEmpty ? .nan : present.reduce(0, +) / Double(present.count),
                                  pixelAccuracy: total == 0 ? .nan : 100 * Double(correct) / Double(total),
                                  classIoU: ious)
    }
}
