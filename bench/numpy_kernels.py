"""The hyperkernels Th and Kh of docs/hyperkernel-math.md in numpy, written
the way a careful numpy user would for the benchmarks' baselines: f's kernels
on the distinct x only, the g recursion vectorised over row blocks of all
columns (no N x N temporaries beyond the result, no Python loop over
entries). Used by numpy_gram.py and numpy_predict.py."""
import numpy as np


def relu_dual(sa, sb, kxy):
    """V and Vd of the scaled ReLU, each side's variance given as its square
    root (sa a column, sb a row), taken once per point rather than per pair,
    as hksweep does: a product in place of a square root and a division."""
    norm = sa * sb
    c = kxy * ((1 / sa) * (1 / sb))
    np.clip(c, -1.0, 1.0, out=c)
    t = np.arccos(c)
    v = norm * (np.sqrt(1 - c * c) + (np.pi - t) * c) / np.pi
    return v, (np.pi - t) / np.pi


def f_kernels(xa, xb, depth_f):
    """Sf, Tf between two sets of (distinct) x, and Sf's diagonals."""
    dx = xa.shape[1]
    da, db = np.einsum("ij,ij->i", xa, xa) / dx, np.einsum("ij,ij->i", xb, xb) / dx
    s = xa @ xb.T / dx
    t = s.copy()
    sa, sb = np.sqrt(da)[:, None], np.sqrt(db)[None, :]
    for _ in range(depth_f):
        v, vd = relu_dual(sa, sb, s)
        t = v + t * vd
        s = v
    return s, t, da, db   # V(k, k, k) = k: the diagonals stay


def hyper_kernels(ia, za, ib, zb, f, depth_g):
    """Th and Kh between rows (x index ia, z za) and columns (ib, zb); f holds
    Sf, Tf and the diagonals on the distinct x."""
    sf_all, tf_all, da_all, db_all = f
    sf, tf = sf_all[np.ix_(ia, ib)], tf_all[np.ix_(ia, ib)]
    dz = za.shape[1]
    z0 = za @ zb.T / dz
    sfa, sfb = da_all[ia], db_all[ib]
    kda = sfa * np.einsum("ij,ij->i", za, za) / dz
    kdb = sfb * np.einsum("ij,ij->i", zb, zb) / dz
    k = sf * z0
    acc = z0
    for _ in range(1, depth_g):
        v, vd = relu_dual(np.sqrt(kda)[:, None], np.sqrt(kdb)[None, :], k)
        acc = acc * sf * vd + v
        k = sf * v
        kda, kdb = sfa * kda, sfb * kdb
    return tf * acc, k


def distinct(x):
    """The distinct rows of x and each row's index among them."""
    return np.unique(x, axis=0, return_inverse=True)


def gram(xa, za, xb, zb, depth_f, depth_g, block=256, want_kh=True, distinct_a=None, distinct_b=None, out=None):
    """Th and Kh (rows a, columns b; Kh None unless want_kh), row blocks of
    `block`; distinct_a, distinct_b: distinct(xa), distinct(xb) if known;
    out: an array to fill with Th (a repeated evaluation reuses its memory,
    as bench_gram reuses its matrix, instead of faulting in new pages)."""
    ua, ia = distinct_a if distinct_a is not None else distinct(xa)
    ub, ib = distinct_b if distinct_b is not None else distinct(xb)
    f = f_kernels(ua, ub, depth_f)
    th = out if out is not None else np.empty((len(xa), len(xb)))
    kh = np.empty((len(xa), len(xb))) if want_kh else None
    for r in range(0, len(xa), block):
        sl = slice(r, r + block)
        t, k = hyper_kernels(ia.ravel()[sl], za[sl], ib.ravel(), zb, f, depth_g)
        th[sl] = t
        if want_kh:
            kh[sl] = k
    return th, kh


def kh_diagonal(x, z, depth_g):
    """Kh(u, u) = (x.x/dx)^H (z.z/dz) for the scaled ReLU (V(k, k, k) = k)."""
    return (np.einsum("ij,ij->i", x, x) / x.shape[1]) ** depth_g * np.einsum("ij,ij->i", z, z) / z.shape[1]
