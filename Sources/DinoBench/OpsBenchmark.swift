// The op benchmark behind `dino bench ops`: the matrix products of one ViT-Tiny training step
// (batch 64, 65 tokens: 64 patches of a 32×32 image at patch 4 plus the class token, width 192,
// MLP 768, 3 heads of 64) and the fused memory-bound kernels, forward and backward.
// scripts/bench_ops_torch.py times the same cases, by the same names, with PyTorch.
//
// Names are the shared key; `detail` gives the shapes. Matrix products use the public
// `matmul` on the layouts a training step hands to BLAS: the forward reads the weight through
// a transposed view (x·Wᵀ, as `linear`), and dW reads dY through a transposed view, not a copy.

import DinoTensor

/// The benchmark of single ops, in the order they are reported.
public enum OpsBenchmark {
    /// Rows of activations in the ViT-Tiny step: batch 64 × 65 tokens.
    public static let rows = 64 * 65
    /// Elements of the inputs of the memory-bound cases (softmax, layer norm, GELU): 4M floats,
    /// laid out as (4096, 1024).
    public static let elementwiseShape = [4096, 1024]

    /// Every case: the matrix products, then the fused kernels where they exist.
    public static func cases() -> [BenchCase] {
        matmulCases() + fusedCases()
    }

    /// The five products of a ViT-Tiny training step and a square 1024³ product.
    public static func matmulCases() -> [BenchCase] {
        let n = rows
        return [
            linearForward("matmul_qkv_fwd", rows: n, inputs: 192, outputs: 576),
            linearForward("matmul_fc1_fwd", rows: n, inputs: 192, outputs: 768),
            linearForward("matmul_fc2_fwd", rows: n, inputs: 768, outputs: 192),
            // The layers' forward with their bias (`linear`): the bias in the product where
            // oneDNN gives the kernel (`Float32Linear`).
            linearForward("linear_qkv_fwd", rows: n, inputs: 192, outputs: 576, bias: true),
            linearForward("linear_fc1_fwd", rows: n, inputs: 192, outputs: 768, bias: true),
            linearForward("linear_fc2_fwd", rows: n, inputs: 768, outputs: 192, bias: true),
            // The same with the bias broadcast, then the product accumulated onto it: the route
            // of runs recorded before (`Float32Linear.withBiasInProduct(false)`).
            linearForward("linear_qkv_fwd_broadcast", rows: n, inputs: 192, outputs: 576, bias: true, broadcast: true),
            linearForward("linear_fc1_fwd_broadcast", rows: n, inputs: 192, outputs: 768, bias: true, broadcast: true),
            linearForward("linear_fc2_fwd_broadcast", rows: n, inputs: 768, outputs: 192, bias: true, broadcast: true),
            // dX = dY · W: (4160, 576) · (576, 192), both contiguous.
            BenchCase(name: "matmul_qkv_dx", detail: "dY·W (\(n)×576)·(576×192)",
                      work: .flops(2.0 * Double(n) * 576 * 192)) {
                let g = RandomGenerator(seed: 2)
                let dy = g.normal([n, 576]), w = g.normal([576, 192])
                return { withNoGrad { _ = dy.matmul(w) } }
            },
            // dW = dYᵀ · X: (576, 4160) · (4160, 192), dYᵀ a transposed view.
            BenchCase(name: "matmul_qkv_dw", detail: "dYᵀ·X (576×\(n))·(\(n)×192), dYᵀ a view",
                      work: .flops(2.0 * 576 * Double(n) * 192)) {
                let g = RandomGenerator(seed: 3)
                let dy = g.normal([n, 576]), x = g.normal([n, 192])
                return { withNoGrad { _ = dy.transposed().matmul(x) } }
            },
            BenchCase(name: "matmul_1024", detail: "(1024×1024)·(1024×1024)",
                      work: .flops(2.0 * 1024 * 1024 * 1024)) {
                let g = RandomGenerator(seed: 4)
                let a = g.normal([1024, 1024]), b = g.normal([1024, 1024])
                return { withNoGrad { _ = a.matmul(b) } }
            },
        ]
    }

    /// x · Wᵀ with x (rows, inputs) and W (outputs, inputs) read through a transposed view; with
    /// `bias`, `x.linear(weight: W, bias: b)` (x · Wᵀ + b, the layer's forward).
    /// `broadcast`: the bias broadcast into the result first (the route of runs recorded before
    /// the bias went into the product).
    static func linearForward(_ name: String, rows: Int, inputs: Int, outputs: Int, bias: Bool = false,
                              broadcast: Bool = false) -> BenchCase {
        let shapes = "(\(rows)×\(inputs))·(\(inputs)×\(outputs))"
        return BenchCase(name: name, detail: bias ? "x·Wᵀ + b \(shapes), linear" + (broadcast ? ", bias broadcast" : "")
                                                  : "x·Wᵀ \(shapes), Wᵀ a view",
                         work: .flops(2.0 * Double(rows) * Double(inputs) * Double(outputs))) {
            let g = RandomGenerator(seed: UInt64(outputs * 1000 + inputs))
            let x = g.normal([rows, inputs]), w = g.normal([outputs, inputs]), b = g.normal([outputs])
            if bias {
                return { Float32Linear.withBiasInProduct(!broadcast) { withNoGrad { _ = x.linear(weight: w, bias: b) } } }
            }
            return { withNoGrad { _ = x.matmul(w.transposed()) } }
        }
    }

    /// Runs `cases` with each thread count in turn and reports each result as it comes.
    public static func run(_ cases: [BenchCase], threads: [Int], warmup: Int, repeats: Int,
                           report: (BenchResult) -> Void) {
        for c in cases {
            for t in threads {
                report(measure(c, threads: t, warmup: warmup, repeats: repeats))
            }
        }
    }
}

// MARK: - Fused kernels

extension OpsBenchmark {
    /// Attention, softmax, layer norm and GELU, each forward then backward.
    public static func fusedCases() -> [BenchCase] {
        let (b, h, n, dh) = (64, 3, 65, 64)
        let elements = elementwiseShape.reduce(1, *)
        let shape = elementwiseShape
        let dims = "(\(shape[0]), \(shape[1]))"
        // Forward reads x and writes y; backward reads x (or y) and dY and writes dX:
        // five passes over 4-byte elements at the least.
        let passes = BenchWork.bytes(5.0 * 4.0 * Double(elements))
        return [
            // Forward 2·(B H N² Dh)·2 (QKᵀ, PV); backward 4 products of the same size: 12 B H N² Dh.
            BenchCase(name: "attention_fwd_bwd", detail: "q,k,v (\(b),\(h),\(n),\(dh)) forward+backward",
                      work: .flops(12.0 * Double(b * h * n * n * dh))) {
                let g = RandomGenerator(seed: 5)
                let q = g.normal([b, h, n, dh]).requiringGrad()
                let k = g.normal([b, h, n, dh]).requiringGrad()
                let v = g.normal([b, h, n, dh]).requiringGrad()
                let dy = g.normal([b, h, n, dh])
                return {
                    q.zeroGrad(); k.zeroGrad(); v.zeroGrad()
                    Tensor.scaledDotProductAttention(query: q, key: k, value: v).backward(dy)
                }
            },
            BenchCase(name: "softmax_fwd_bwd", detail: "\(dims) softmax(axis: -1) forward+backward",
                      work: passes) {
                let g = RandomGenerator(seed: 6)
                let x = g.normal(shape).requiringGrad(), dy = g.normal(shape)
                return { x.zeroGrad(); x.softmax(axis: -1).backward(dy) }
            },
            BenchCase(name: "layernorm_fwd_bwd", detail: "\(dims) layerNorm(weight, bias) forward+backward",
                      work: passes) {
                let g = RandomGenerator(seed: 7)
                let x = g.normal(shape).requiringGrad(), dy = g.normal(shape)
                let w = g.normal([shape[1]]).requiringGrad(), bias = g.normal([shape[1]]).requiringGrad()
                return {
                    x.zeroGrad(); w.zeroGrad(); bias.zeroGrad()
                    x.layerNorm(weight: w, bias: bias).backward(dy)
                }
            },
            BenchCase(name: "gelu_fwd_bwd", detail: "\(dims) gelu() forward+backward", work: passes) {
                let g = RandomGenerator(seed: 8)
                let x = g.normal(shape).requiringGrad(), dy = g.normal(shape)
                return { x.zeroGrad(); x.gelu().backward(dy) }
            },
        ]
    }
}
