# Informal timing of PyTorch on the sizes of the fused-op speed targets; prints the same
# lines as the Swift fusedbench. Usage: python3 bench_torch.py [prefix] [reps]
import torch, time, sys
import torch.nn.functional as F
only = sys.argv[1] if len(sys.argv) > 1 else ""
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
def bench(f):
    f(); f()
    best = 1e9; bestc = 1e9
    for _ in range(reps):
        t = time.perf_counter(); c = time.process_time(); f(); best = min(best, time.perf_counter() - t); bestc = min(bestc, time.process_time() - c)
    return best * 1e3, bestc * 1e3
for th in [1, 2]:
    torch.set_num_threads(th)
    x = torch.randn(4096, 1024, requires_grad=True); g = torch.randn(4096, 1024)
    w = torch.randn(1024, requires_grad=True); b = torch.randn(1024, requires_grad=True)
    q = torch.randn(64,3,65,64, requires_grad=True); k = torch.randn(64,3,65,64, requires_grad=True); v = torch.randn(64,3,65,64, requires_grad=True); go = torch.randn(64,3,65,64)
    def clear():
        for t in (x, w, b, q, k, v): t.grad = None
    def nog(f):
        def h():
            with torch.no_grad(): f()
        return h
    def fb(f, gg):
        def h():
            clear(); f().backward(gg)
        return h
    def bonly(y, gg):
        def h():
            clear(); y.backward(gg, retain_graph=True)
        return h
    cases = [("softmax f", nog(lambda: torch.softmax(x, -1))), ("softmax fb", fb(lambda: torch.softmax(x, -1), g)),
             ("layernorm f", nog(lambda: F.layer_norm(x, (1024,), w, b))), ("layernorm fb", fb(lambda: F.layer_norm(x, (1024,), w, b), g)),
             ("gelu f", nog(lambda: F.gelu(x))), ("gelu fb", fb(lambda: F.gelu(x), g)), ("gelu-tanh fb", fb(lambda: F.gelu(x, approximate='tanh'), g)),
             ("layernorm b", bonly(F.layer_norm(x, (1024,), w, b), g)), ("softmax b", bonly(torch.softmax(x, -1), g)), ("gelu b", bonly(F.gelu(x), g)),
             ("attn f", nog(lambda: F.scaled_dot_product_attention(q, k, v))), ("attn fb", fb(lambda: F.scaled_dot_product_attention(q, k, v), go))]
    for name, f in cases:
        if only and not name.startswith(only): continue
        wall, c = bench(f)
        print(f"torch threads {th} {name:14s} wall {wall:8.2f} ms  cpu {c:8.2f} ms", flush=True)
