"""PyTorch baseline of bench_entk: the empirical NTK of the same hypernetwork
(NTK parameterisation, scaled ReLU, L = 2, H = 3, dx = 16, dz = 2, float64)
by per-sample gradients: one autograd pass per input gives a row of the
Jacobian J (inputs x parameters), and NTK = J J^T. J must fit in memory."""
import math
import sys
import time

import torch


def main(n=128, m=128, N=64, threads=1):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dt = torch.float64
    dx, dz = 16, 2
    g_shapes = [(m, dz), (m, m), (1, m)]
    P = sum(r * c for r, c in g_shapes)
    Ws = [torch.randn(n, dx, dtype=dt, requires_grad=True), torch.randn(n, n, dtype=dt, requires_grad=True)]
    A = torch.randn(P, n, dtype=dt, requires_grad=True)
    params = Ws + [A]
    nparams = sum(p.numel() for p in params)
    x = torch.randn(N, dx, dtype=dt)
    z = torch.rand(N, dz, dtype=dt) * 2 - 1
    s = lambda t: math.sqrt(2) * torch.relu(t)
    t0 = time.perf_counter()
    a = x
    for W in Ws:
        a = s(a @ W.T / math.sqrt(W.shape[1]))
    v = a @ A.T / math.sqrt(n)
    h = z.unsqueeze(2)
    off = 0
    for li, (r, c) in enumerate(g_shapes):
        V = v[:, off:off + r * c].reshape(N, r, c)
        off += r * c
        h = torch.bmm(V, h) / math.sqrt(c)
        if li < 2:
            h = s(h)
    out = h.reshape(N)
    J = torch.empty(N, nparams, dtype=dt)
    for i in range(N):
        grads = torch.autograd.grad(out[i], params, retain_graph=True)
        J[i] = torch.cat([g.reshape(-1) for g in grads])
    ntk = J @ J.T
    t = time.perf_counter() - t0
    print(f"torch n={n} m={m} N={N} params={nparams} jacobian_gb={N * nparams * 8 / 1e9:.2f} seconds={t:.3f} "
          f"trace={ntk[0, 0].item():.6g}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
