// `dino eval video`: DAVIS-2017 video object segmentation by label propagation on frozen patch
// features (DINO's eval_video_segmentation.py); a thin wrapper over DinoEval's `evaluateVideo`.

import ArgumentParser
import DinoEval
import DinoSSL
import DinoVision
import Foundation

struct EvalVideo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract: "Video object segmentation by label propagation (DINO's DAVIS-2017 protocol), scored by J&F.",
        discussion: """
        DATA is a DAVIS-2017 folder (JPEGImages/480p/CLIP/*.jpg, Annotations/480p/CLIP/*.png, \
        ImageSets/2017/val.txt; the flat videos-dev layout works too). The first frame's mask is \
        propagated with the first frame and the 7 previous predictions as context: affinities \
        exp(cos / 0.1) within ±r patches (r = 12 on DINO's 30-patch-tall 480p grid; by default scaled \
        to the grid, round(12 · short side in patches / 30)), top 5 per patch, bilinear upsampling. \
        Scores as davis2017-evaluation (first and last frames excluded), in %, beside copying the \
        first mask to every frame. A ConvNeXt propagates on its normed final map (stride 32), or with \
        --patch-size P on that map resized to the grid of a ViT with P-px patches, as DINOv3 reads a \
        ConvNeXt densely (its pseudo patch_size).
        """
    )

    @Option(help: "DAVIS-2017-style folder.")
    var data: String

    @Option(help: "Image set (ImageSets/2017/SET.txt).")
    var set = "val"

    @OptionGroup var backboneOptions: EvalBackbone

    @Option(help: "A ConvNeXt's pseudo patch size: its final map resized to frame size / P per side (DINOv3's patch_size; default: none, the stride-32 map).")
    var patchSize: Int?

    @Option(help: "Frames' target short side (DINO: 480; default: the frames' own).")
    var shortSide: Int?

    @Option(help: "Previous predictions kept as context (n_last_frames).")
    var queue = 7

    @Option(help: "Window radius in patches (size_mask_neighborhood; default: 12 scaled to the grid; 0: none).")
    var neighborhood: Int?

    @Option(help: "Neighbours per patch (topk).")
    var topk = 5

    @Option(help: "Write one overlay PNG per clip (truth above, prediction below) into this folder.")
    var overlays: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        try backboneOptions.requireFloat32("video")
        let (model, _) = try backboneOptions.loadEmbedding()
        let dataset = try DAVISDataset(root: data, set: set)
        var options = VideoEvaluationOptions()
        options.shortSide = shortSide
        options.propagation.queueLength = queue
        options.propagation.neighborhood = neighborhood
        options.propagation.topK = topk
        options.overlayFrames = overlays == nil ? 0 : 8
        let bar = json ? nil : ProgressBar(total: dataset.sequences.count, label: "clips", itemsPerStep: nil)
        let result = try evaluateVideo(model: model, patchSize: patchSize, dataset: dataset, options: options) { done, _ in bar?.update(completed: done) }
        bar?.finish()
        if let overlays {
            try FileManager.default.createDirectory(atPath: overlays, withIntermediateDirectories: true)
            for (sequence, picture) in result.overlays {
                try picture.writePNG(to: URL(fileURLWithPath: overlays).appendingPathComponent("\(sequence).png"))
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            struct Out: Encodable { let propagation: DAVISScores; let copy_first_mask: DAVISScores; let clips: Int }
            let data = try encoder.encode(Out(propagation: result.scores, copy_first_mask: result.copyFirstMask, clips: dataset.sequences.count))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("label propagation on \(model.embedDimensions)-wide patch tokens (patch \(patchSize ?? model.patchSize)\(patchSize.map { $0 != model.patchSize ? ", the stride-\(model.patchSize) map resized to \($0)-px patches" : "" } ?? "")), \(dataset.sequences.count) clips, \(result.scores.objects.count) objects")
            print("                  J&F    J-mean  J-recall  J-decay  F-mean  F-recall  F-decay")
            for (name, s) in [("propagation", result.scores), ("copy first mask", result.copyFirstMask)] {
                print(name.padding(toLength: 16, withPad: " ", startingAt: 0)
                      + String(format: " %6.2f  %6.2f  %8.2f  %7.2f  %6.2f  %8.2f  %7.2f", 100 * s.jAndF, 100 * s.jMean, 100 * s.jRecall,
                               100 * s.jDecay, 100 * s.fMean, 100 * s.fRecall, 100 * s.fDecay))
            }
            if let overlays { print("overlays: \(overlays)/CLIP.png") }
        }
    }
}
