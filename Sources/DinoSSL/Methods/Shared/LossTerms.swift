// The names under which methods return their loss terms and monitors (the trainer logs them
// to metrics.jsonl and TensorBoard; "loss" is the total it minimises). One table, so that two
// methods logging the same quantity use the same name and plots compare across methods.

/// Names of loss terms and monitors, as the references log them.
public enum LossTerm {
    /// The total the trainer minimises (every method returns it).
    public static let total = "loss"
    /// DINO's loss, logged on its own when a regulariser is added (DINO with KoLeo).
    public static let dino = "dino_loss"
    /// DINOv2's DINO term between the two global crops, and between local and global crops.
    public static let dinoGlobalCrops = "dino_global_crops_loss"
    public static let dinoLocalCrops = "dino_local_crops_loss"
    /// KoLeo on the student backbone's CLS tokens (weighted).
    public static let koleo = "koleo_loss"
    /// iBOT on the masked (or, distilling, all) patches (weighted).
    public static let ibot = "ibot_loss"
    /// Collapse monitors of the teacher's targets (TargetEntropy.swift).
    public static let teacherEntropy = "teacher_entropy"
    public static let teacherMeanEntropy = "teacher_mean_entropy"
    /// Collapse monitor of the student's features (CollapseMonitor.featureSpread).
    public static let featureStd = "feature_std"
}
