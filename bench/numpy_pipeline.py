"""The end-to-end baseline of bench/run: kernel regression with Th written
like the authors' published numpy code (docs/experiments.md): the whole
N x N Gram matrix by vectorised numpy (here with f's kernels on the distinct
x, which is kinder to numpy than the published code), its inverse by
np.linalg.inv, then the predictions one test image (one distinct x and its
coordinates) at a time. Best of 3 of the whole pipeline; prints the test MSE
so bench/run can check that it fits what hksweep fits.

  numpy_pipeline.py TRAIN.h5 TEST.h5 RIDGE [DEPTH_F DEPTH_G]"""
import sys
import time

import h5py
import numpy as np

from numpy_kernels import gram


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


if __name__ == "__main__":
    with h5py.File(sys.argv[1]) as f:
        x, z, y = f["x"][...], f["z"][...], f["y"][...]
    with h5py.File(sys.argv[2]) as f:
        xs, zs, ys = f["x"][...], f["z"][...], f["y"][...]
    ridge = float(sys.argv[3])
    depth_f, depth_g = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (2, 3)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        pred = pipeline(x, z, y, xs, zs, ridge, depth_f, depth_g)
        best = min(best, time.perf_counter() - t0)
    print(f"numpy_pipeline n={len(y)} m={len(xs)} seconds={best:.3f} mse_test={np.mean((pred - ys) ** 2):.12g}")
