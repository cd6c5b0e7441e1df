"""Vectorised numpy evaluation of the hyperkernel Th (docs/hyperkernel-math.md),
done the way a careful numpy user would: f's kernels on the distinct x only,
then the g recursion on N x N arrays. The baseline of bench/run."""
import sys
import time

import h5py
import numpy as np


def relu_dual(kxx, kyy, kxy):
    norm = np.sqrt(kxx * kyy)
    c = np.clip(kxy / norm, -1.0, 1.0)
    t = np.arccos(c)
    v = norm * (np.sqrt(1 - c * c) + (np.pi - t) * c) / np.pi
    vd = (np.pi - t) / np.pi
    return v, vd


def hyperkernel(x, z, depth_f=2, depth_g=3):
    ux, xid = np.unique(x, axis=0, return_inverse=True)
    xid = xid.ravel()
    dx, dz = x.shape[1], z.shape[1]
    s = ux @ ux.T / dx
    d = np.diag(s).copy()
    t = s.copy()
    for _ in range(depth_f):
        v, vd = relu_dual(d[:, None], d[None, :], s)
        t = v + t * vd
        s = v
    sf = s[np.ix_(xid, xid)]
    tf = t[np.ix_(xid, xid)]
    z0 = z @ z.T / dz
    sfx = d[xid]                       # Sf(x, x) = x.x/dx for the scaled ReLU
    kd = sfx * np.einsum("ij,ij->i", z, z) / dz
    k = sf * z0
    acc = z0
    for _ in range(1, depth_g):
        v, vd = relu_dual(kd[:, None], kd[None, :], k)
        acc = acc * sf * vd + v
        k = sf * v
        kd = sfx * kd
    return tf * acc


if __name__ == "__main__":
    with h5py.File(sys.argv[1]) as f:
        x, z = f["x"][...], f["z"][...]
    t0 = time.perf_counter()
    th = hyperkernel(x, z)
    seconds = time.perf_counter() - t0
    n = x.shape[0]
    print(f"numpy n={n} seconds={seconds:.3f} entries_per_second={n * n / seconds:.4g} sum={th.sum():.17g}")
