// The differentiable all-gather of data-parallel training: every rank's rows, concatenated in
// rank order, with gradients flowing back to the rank that owns each row.
//
// What it is: PyTorch's `torch.distributed.nn.functional.all_gather` (`_AllGather`), which
// dinov3's `KoLeoLossDistributed` calls on the normalised CLS features. Forward: MPI_Allgather
// of the rows. Backward: each rank holds the gradient of its own loss with respect to all the
// gathered rows; `_AllGather.backward` sums, over ranks, the gradient of this rank's rows
// (a reduce-scatter with NCCL, an all-to-all then a sum with other backends): here an
// all-reduce of the whole gradient, then this rank's slice. The trainer's gradient all-reduce
// then averages the parameters' gradients over ranks, so the result is the gradient of the
// mean over ranks of the ranks' losses, as on one process.
// What it is not: a gather of unequal row counts (every rank gives the same number of rows).
// Reference: pytorch torch/distributed/nn/functional.py (`all_gather`, `_AllGather`);
// facebookresearch/dinov3 dinov3/loss/koleo_loss.py (`KoLeoLossDistributed.forward`).

import DinoTensor

extension Communicator {
    /// Every rank's `x` (n, …), concatenated in rank order: (size · n, …), on the tape; its
    /// backward gives `x` the sum over ranks of the gradient of this rank's rows,
    ///
    ///     y = concat_r x_r,   ∂/∂x_r = Σ_q ∂L_q/∂y[r·n ..< (r+1)·n]
    ///
    /// (one process: `x` itself). Every rank must call it at the same point of forward, and run
    /// backward through it (each backward is an all-reduce of `size · n · …` values).
    public func allGatherRows(_ x: Tensor, label: String) -> Tensor {
        if size == 1 { return x }
        let n = x.shape[0], rank = self.rank
        let y = allGather(x, label: label)                                   // (size·n, …)
        return Tensor.recordWithBackward(y, inputs: [x]) { [self] g in
            let sum = allReduceSum(g, label: "gradient of \(label)")                   // Σ_q ∂L_q/∂y
            return [sum.slice(axis: 0, start: rank * n, end: (rank + 1) * n).contiguousCopy()]
        }
    }
}
