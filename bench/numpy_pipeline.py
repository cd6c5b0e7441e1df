"""The end-to-end baseline of bench/run: kernel regression with Th written
like the authors' published numpy code (docs/experiments.md): the whole
N x N Gram matrix by vectorised numpy (here with f's kernels on the distinct
x, which is kinder to numpy than the published code), its inverse by
np.linalg.inv, then the predictions one test image (one distinct x and its
coordinates) at a time. Best of 3 of the whole pipeline; prints the test MSE
so bench/run can check that it fits what hksweep fits.

With --careful, the same regression written with care instead: only the
lower triangle of the Gram matrix, in row blocks of 256 (as hksweep fills
it), a Cholesky factorisation and solve (scipy's cho_factor and cho_solve:
a third of the inverse's flops), the predictions in row blocks of 256
against all training points; bench/run reports hksweep's ratio to both.

  numpy_pipeline.py TRAIN.h5 TEST.h5 RIDGE [DEPTH_F DEPTH_G] [--careful]"""
import sys
import time

import h5py
import numpy as np

from numpy_kernels import distinct, f_kernels, gram, hyper_kernels


def pipeline(x, z, y, xs, zs, ridge, depth_f, depth_g):
    n = len(y)
    th, _ = gram(x, z, x, z, depth_f, depth_g, block=n, want_kh=False)
    alpha = np.linalg.inv(th + ridge * np.eye(n)) @ y
    pred = np.empty(len(xs))
    images, which = np.unique(xs, axis=0, return_inverse=True)
    for img in range(len(images)):
        rows = np.flatnonzero(which.ravel() == img)
        k, _ = gram(xs[rows], zs[rows], x, z, depth_f, depth_g, block=len(rows), want_kh=False)
        pred[rows] = k @ alpha
    return pred


def careful(x, z, y, xs, zs, ridge, depth_f, depth_g, block=256):
    from scipy.linalg import cho_factor, cho_solve
    n = len(y)
    ua, ia = distinct(x)
    ia = ia.ravel()
    f = f_kernels(ua, ua, depth_f)
    K = np.empty((n, n))                      # the lower triangle is filled and read; the rest never is
    for r in range(0, n, block):
        e = min(r + block, n)
        K[r:e, :e] = hyper_kernels(ia[r:e], z[r:e], ia[:e], z[:e], f, depth_g)[0]
    K[np.diag_indices(n)] += ridge
    alpha = cho_solve(cho_factor(K, lower=True, overwrite_a=True, check_finite=False), y, check_finite=False)
    us, is_ = distinct(xs)
    is_ = is_.ravel()
    ft = f_kernels(us, ua, depth_f)
    pred = np.empty(len(xs))
    for r in range(0, len(xs), block):
        pred[r:r + block] = hyper_kernels(is_[r:r + block], zs[r:r + block], ia, z, ft, depth_g)[0] @ alpha
    return pred


if __name__ == "__main__":
    use_careful = "--careful" in sys.argv
    sys.argv = [a for a in sys.argv if a != "--careful"]
    with h5py.File(sys.argv[1]) as f:
        x, z, y = f["x"][...], f["z"][...], f["y"][...]
    with h5py.File(sys.argv[2]) as f:
        xs, zs, ys = f["x"][...], f["z"][...], f["y"][...]
    ridge = float(sys.argv[3])
    depth_f, depth_g = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (2, 3)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        pred = (careful if use_careful else pipeline)(x, z, y, xs, zs, ridge, depth_f, depth_g)
        best = min(best, time.perf_counter() - t0)
    print(f"numpy_pipeline{'_careful' if use_careful else ''} n={len(y)} m={len(xs)} seconds={best:.3f} mse_test={np.mean((pred - ys) ** 2):.12g}")
