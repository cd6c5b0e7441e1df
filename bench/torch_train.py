"""PyTorch baseline of bench_train: the same hypernetwork (NTK parameterisation,
scaled ReLU, no biases), cross-entropy, SGD with momentum, batch 100, every
sample with its own x; g runs as batched matrix products; float64 or float32
(the precision hksweep is run at), on the CPU with the given number of threads.
Best of 3 passes of STEPS minibatches after 3 warm-up steps.

  torch_train.py [BATCH] [STEPS] [THREADS] [float64|float32]"""
import math
import sys
import time

import torch


def main(batch=100, steps=30, threads=1, precision="float64"):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dt = {"float64": torch.float64, "float32": torch.float32}[precision]
    dx = dz = 784
    widths = [dx, 200, 200, 100]            # f: 784 -> 200 -> 200 -> 100 (bottleneck) -> P
    g_shapes = [(20, dz), (20, 20), (12, 20)]
    P = sum(r * c for r, c in g_shapes)
    Ws = [torch.randn(widths[i + 1], widths[i], dtype=dt, requires_grad=True) for i in range(3)]
    A = torch.randn(P, widths[-1], dtype=dt, requires_grad=True)
    params = Ws + [A]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    n = batch * 4
    x = torch.rand(n, dx, dtype=dt)
    z = torch.rand(n, dz, dtype=dt)
    labels = torch.randint(0, 12, (n,))
    s = lambda t: math.sqrt(2) * torch.relu(t)

    def step(i):
        b = torch.arange(i * batch, (i + 1) * batch) % n
        a = x[b]
        for W in Ws:
            a = s(a @ W.T / math.sqrt(W.shape[1]))
        v = a @ A.T / math.sqrt(A.shape[1])                  # batch x P: g's weights per sample
        h = z[b].unsqueeze(2)                                 # batch x dz x 1
        off = 0
        for li, (r, c) in enumerate(g_shapes):
            V = v[:, off:off + r * c].reshape(batch, r, c)
            off += r * c
            h = torch.bmm(V, h) / math.sqrt(c)
            if li < len(g_shapes) - 1:
                h = s(h)
        loss = torch.nn.functional.cross_entropy(h.squeeze(2), labels[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(3):
        step(i)
    t = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(steps):
            loss = step(i + 3)
        t = min(t, time.perf_counter() - t0)
    params_count = sum(p.numel() for p in params)
    print(f"torch precision={precision} batch={batch} steps={steps} params={params_count} threads={threads} "
          f"seconds={t:.3f} samples_per_second={steps * batch / t:.1f} loss={loss:.4f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(int(a) for a in args[:3]), *args[3:4])
