// `dino eval depth`: the linear depth probes of DINOv2 (lin.1 / lin.4) and DINOv3 on frozen
// tokens, with NYU-style depth PNGs; a thin wrapper over DinoEval's `evaluateDepth`.

import ArgumentParser
import DinoEval
import DinoSSL
import DinoVision
import Foundation

struct EvalDepth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depth",
        abstract: "Monocular depth with a linear head on frozen tokens (DINOv2 lin.1/lin.4, DINOv3's batch-norm variant).",
        discussion: """
        --depth DIR mirrors the image folders: the depth of TRAIN/A/x.png is DIR/<name of TRAIN>/A/x.png, \
        a 16-bit gray PNG in millimetres (0 = unknown), as NYU Depth v2 exports and scenes-dev/depth. \
        DINOv2 recipe: tokens of the last block (--layers 1) or of 4 evenly spaced blocks (--layers 4), \
        the class token concatenated onto every patch token, bilinear ×4, a 1×1 projection to 256 bins \
        over [min, max] depth, "linear" bin normalisation. DINOv3 recipe: normed last block, batch norm, \
        no class token, no upsampling. Trained with SigLoss (warm-up 100 steps) and AdamW with the \
        one-cycle schedule of DINOv3's NYU config. Metrics: δ1/δ2/δ3 in %, abs rel, sq rel, RMSE and \
        MAE in m, RMSE log, log10, SILog, averaged over val images, beside two baselines: the train set's \
        mean depth everywhere, and its mean depth at each pixel (which knows only where a pixel is).
        """
    )

    @OptionGroup var source: EvalSource

    @Option(help: "Depth maps folder mirroring the image folders (DIR/train/…, DIR/val/…).")
    var depth: String

    @Option(help: "Recipe: dinov2 or dinov3.")
    var recipe = "dinov2"

    @Option(help: "Blocks used: 1 (lin.1) or 4 (lin.4).")
    var layers = 4

    @Option(help: "Largest depth of the bins and of the evaluation, in metres (NYU: 10).")
    var maxDepth = 10.0

    @Option(help: "Epochs of the probe.")
    var epochs = 10

    @Option(help: "AdamW peak learning rate of the probe (DINOv3: 3e-4).")
    var lr = 3e-4

    @Option(help: "Images per probe step.")
    var probeBatchSize = 16

    @Option(help: "Weight of the gradient loss on log depth (0: off).")
    var gradientLossWeight = 0.0

    @Option(help: "Write a PNG of image | truth | prediction for the first val images.")
    var picture: String?

    @Option(help: "Save the trained head (.safetensors) for `dino predict --head FILE`.")
    var saveHead: String?

    func run() throws {
        guard let r = DepthHeadRecipe(rawValue: recipe) else { throw ValidationError("--recipe is dinov2 or dinov3, got '\(recipe)'") }
        guard layers == 1 || layers == 4 else { throw ValidationError("--layers is 1 or 4, got \(layers)") }
        try source.backboneOptions.requireFloat32("depth")
        let (model, size) = try source.backbone()
        let train = try DepthMaps(images: ImageFileDataset.imageFolder(source.train), depthRoot: depth)
        let val = try DepthMaps(images: ImageFileDataset.imageFolder(source.val), depthRoot: depth)
        var options = DepthEvaluationOptions()
        options.imageSize = size
        options.batchSize = source.batchSize
        options.head = .recipe(r, layers: layers)
        options.head.maxDepth = maxDepth
        do { _ = try depthHeadBlocks(model: model, head: options.head) } catch { throw ValidationError("--layers \(layers): \(error)") }
        options.probe.epochs = epochs
        options.probe.learningRate = lr
        options.probe.batchSize = probeBatchSize
        options.probe.gradientLossWeight = gradientLossWeight
        options.pictureCount = picture == nil ? 0 : 8
        let bar = source.json ? nil : ProgressBar(total: epochs, label: "depth probe", itemsPerStep: nil)
        var saveError: Error?
        let result = evaluateDepth(model: model, train: train, val: val, options: options, progress: { epoch, loss in
            bar?.update(completed: epoch + 1, metrics: [("loss", loss)])
        }, trainedHead: saveHead.map { file in { head, size in
            do {
                try saveDenseHead(head, info: DenseHeadInfo(kind: .depth, imageSize: size, embedDimensions: model.embedDimensions,
                                                            depth: head.config, backbone: source.backboneOptions.description),
                                  to: URL(fileURLWithPath: file))
            } catch { saveError = error }
        } })
        if let saveError { throw saveError }
        bar?.finish()
        if let picture, let image = result.picture { try image.writePNG(to: URL(fileURLWithPath: picture)) }
        if source.json {
            var out: [String: Any] = ["recipe": recipe, "layers": layers, "train_images": result.trainCount,
                                      "val_images": result.valCount, "train_mean_depth": result.trainMeanDepth]
            out["metrics"] = Dictionary(uniqueKeysWithValues: result.metrics.named)
            out["mean_depth_baseline"] = Dictionary(uniqueKeysWithValues: result.baseline.named)
            out["mean_depth_map_baseline"] = Dictionary(uniqueKeysWithValues: result.mapBaseline.named)
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("linear depth (\(recipe) lin.\(layers)) on \(model.embedDimensions)-wide tokens at \(size) px: \(result.trainCount) train / \(result.valCount) val images")
            print(depthTable(result))
            if let picture { print("picture: \(picture)") }
        }
    }

    /// The metrics of the probe and of the two baselines (the mean depth; the mean depth at each
    /// pixel, which knows only where a pixel is), one row each.
    func depthTable(_ r: DepthEvaluation) -> String {
        var lines = ["                      δ1 %    δ2 %    δ3 %  abs rel  sq rel  RMSE m  RMSE log  log10   SILog   MAE m"]
        for (name, m) in [("probe", r.metrics), (String(format: "mean depth (%.2f m)", r.trainMeanDepth), r.baseline),
                          ("mean depth map", r.mapBaseline)] {
            lines.append(name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: " %6.2f  %6.2f  %6.2f  %7.4f  %6.4f  %6.4f  %8.4f  %6.4f  %6.2f  %6.4f",
                                100 * m.delta1, 100 * m.delta2, 100 * m.delta3, m.absRel, m.sqRel, m.rmse,
                                m.rmseLog, m.log10, m.silog, m.mae))
        }
        return lines.joined(separator: "\n")
    }
}
