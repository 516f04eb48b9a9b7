// Collapse monitors: entropies of the teacher's targets, logged by every method that has a
// teacher distribution (DINO, DINOv2, distillation).

import DinoTensor

/// Entropies of a batch of target distributions, in nats.
public enum TargetEntropy {
    /// Collapse monitors from the teacher's targets q (R, K): the mean entropy of one target
    /// (0 when every target is one-hot) and the entropy of the mean target (log K when the
    /// prototypes are used evenly). Collapse to one prototype drives both to 0; collapse to the
    /// uniform distribution drives both to log K.
    ///
    ///     teacher_entropy       = −1/R Σ_r Σ_k q[r,k] log q[r,k]
    ///     teacher_mean_entropy  = −Σ_k q̄[k] log q̄[k],   q̄ = 1/R Σ_r q[r]
    ///
    /// - Returns: `LossTerm.teacherEntropy` and `LossTerm.teacherMeanEntropy`, scalars off the tape.
    public static func teacherEntropies(_ q: Tensor) -> [String: Tensor] {
        withNoGrad {
            let rows = Double(q.shape[0])
            let plogp = q * q.clamp(min: 1e-30).log()                                     // (R, K)
            let mean = q.mean(axes: [0])                                                  // (K)
            let meanEntropy = -(mean * mean.clamp(min: 1e-30).log()).sum()
            return [LossTerm.teacherEntropy: -plogp.sum() * (1 / rows), LossTerm.teacherMeanEntropy: meanEntropy]
        }
    }
}
