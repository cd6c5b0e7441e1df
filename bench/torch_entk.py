"""PyTorch baseline of bench_entk: the empirical NTK of the same hypernetwork
(NTK parameterisation, scaled ReLU, L = 2, H = 3, dx = 16, dz = 2, float64),
written as strongly as per-sample gradients allow: one batched forward pass,
then every input's gradient of every parameter in one batched backward pass
by the explicit per-example formulas (broadcast products / bmm, no autograd
loop), each parameter block's per-sample gradients J_b (inputs x block size)
formed once, and NTK = sum_b J_b J_b^T (no copy of the whole Jacobian). Best
of 3.

`python3 torch_entk.py n m N threads [--factorised] [--check]`:
--factorised times the factorised form instead (section 7's identity, what
hksweep computes, no per-sample gradients); --check also computes the NTK by
autograd, one input at a time, and prints the largest difference of either
form from it."""
import math
import sys
import time

import torch


def setup(n, m, N, dt):
    torch.manual_seed(0)
    dx, dz = 16, 2
    Ws = [torch.randn(n, dx, dtype=dt), torch.randn(n, n, dtype=dt)]
    g_shapes = [(m, dz), (m, m), (1, m)]
    P = sum(r * c for r, c in g_shapes)
    A = torch.randn(P, n, dtype=dt)
    x = torch.randn(N, dx, dtype=dt)
    z = torch.rand(N, dz, dtype=dt) * 2 - 1
    return Ws, A, g_shapes, x, z


def relu(t):
    return math.sqrt(2) * torch.relu(t)


def relu_d(t):
    return math.sqrt(2) * (t > 0).to(t.dtype)


def gradient_factors(Ws, A, g_shapes, x, z):
    """Every input's gradient of each parameter block, in one batched pass by
    the explicit per-example formulas: the gradient of block b for input i
    is the outer product u_i w_i^T times scale. Yields (u, w, scale) for A,
    then f's layers from the last."""
    N, n = x.shape[0], A.shape[1]
    # forward, keeping what the gradients need
    ys, acts = [], [x]
    for W in Ws:
        y = acts[-1] @ W.T / math.sqrt(W.shape[1])
        ys.append(y)
        acts.append(relu(y))
    phi = acts[-1]
    v = phi @ A.T / math.sqrt(n)
    Vs, hs, gs, off = [], [z.unsqueeze(2)], [], 0
    for li, (r, c) in enumerate(g_shapes):
        V = v[:, off:off + r * c].reshape(N, r, c)
        off += r * c
        Vs.append(V)
        g = torch.bmm(V, hs[-1]) / math.sqrt(c)
        gs.append(g)
        hs.append(relu(g) if li < len(g_shapes) - 1 else g)
    # backward of every input at once (d out_i / d ...)
    dV = [None] * len(g_shapes)
    delta = torch.ones(N, 1, 1, dtype=x.dtype)
    for li in reversed(range(len(g_shapes))):
        r, c = g_shapes[li]
        dV[li] = torch.bmm(delta, hs[li].transpose(1, 2)) / math.sqrt(c)      # N x r x c
        if li > 0:
            delta = torch.bmm(Vs[li].transpose(1, 2), delta) / math.sqrt(c) * relu_d(gs[li - 1])
    dv = torch.cat([d.reshape(N, -1) for d in dV], 1)                          # N x P
    yield dv, phi, 1 / math.sqrt(n)                                            # dA_i = dv_i phi_i^T / sqrt(n)
    dy = dv @ A / math.sqrt(n) * relu_d(ys[-1])
    for li in reversed(range(len(Ws))):
        fan = Ws[li].shape[1]
        yield dy, acts[li], 1 / math.sqrt(fan)
        if li > 0:
            dy = dy @ Ws[li] / math.sqrt(fan) * relu_d(ys[li - 1])


def ntk_per_sample(Ws, A, g_shapes, x, z):
    """Each block's per-sample gradients J_b (N x size) formed, and NTK =
    sum_b J_b J_b^T: no copy of the whole Jacobian is made (the blocks are
    its columns)."""
    N, ntk, count = x.shape[0], 0, 0
    for u, w, scale in gradient_factors(Ws, A, g_shapes, x, z):
        J = (u.unsqueeze(2) * (w * scale).unsqueeze(1)).reshape(N, -1)
        ntk = ntk + J @ J.T
        count += J.shape[1]
        del J
    return ntk, count


def ntk_factorised(Ws, A, g_shapes, x, z):
    """The same NTK without per-sample gradients: a block's per-sample gradient
    is an outer product u_i w_i^T, so its Gram matrix is (U U^T) * (W W^T),
    the identity hksweep uses (docs/hyperkernel-math.md section 7)."""
    ntk = 0
    for u, w, scale in gradient_factors(Ws, A, g_shapes, x, z):
        ntk = ntk + (u @ u.T) * (w @ w.T) * scale ** 2
    return ntk, sum(W.numel() for W in Ws) + A.numel()


def ntk_autograd(Ws, A, g_shapes, x, z):
    params = [W.clone().requires_grad_(True) for W in Ws] + [A.clone().requires_grad_(True)]
    N, n = x.shape[0], A.shape[1]
    a = x
    for W in params[:-1]:
        a = relu(a @ W.T / math.sqrt(W.shape[1]))
    v = a @ params[-1].T / math.sqrt(n)
    h, off = z.unsqueeze(2), 0
    for li, (r, c) in enumerate(g_shapes):
        V = v[:, off:off + r * c].reshape(N, r, c)
        off += r * c
        h = torch.bmm(V, h) / math.sqrt(c)
        if li < len(g_shapes) - 1:
            h = relu(h)
    out = h.reshape(N)
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(out[i], params, retain_graph=True)])
            for i in range(N)]
    J = torch.stack(rows)
    return J @ J.T


def main():
    n, m, N, threads = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    dt = torch.float64
    Ws, A, g_shapes, x, z = setup(n, m, N, dt)
    method = ntk_factorised if "--factorised" in sys.argv else ntk_per_sample
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        ntk, nparams = method(Ws, A, g_shapes, x, z)
        best = min(best, time.perf_counter() - t0)
    line = (f"torch n={n} m={m} N={N} params={nparams} jacobian_gb={N * nparams * 8 / 1e9:.2f} seconds={best:.4f} "
            f"trace={ntk[0, 0].item():.6g}")
    if "--check" in sys.argv:
        ref = ntk_autograd(Ws, A, g_shapes, x, z)
        other, _ = ntk_factorised(Ws, A, g_shapes, x, z) if method is ntk_per_sample else ntk_per_sample(Ws, A, g_shapes, x, z)
        diff = max((ntk - ref).abs().max().item(), (other - ref).abs().max().item()) / ref.abs().max().item()
        line += f" check_max_rel_diff={diff:.3g}"
    print(line)


if __name__ == "__main__":
    main()
