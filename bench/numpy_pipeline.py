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
a third of the inverse's flops, on K's Fortran view so that LAPACK works in
place), the predictions in row blocks of 256
against all training points; bench/run reports hksweep's ratio to both.
With --careful --mixed, the careful pipeline solves as hksweep's default
solver does: a float32 Cholesky factor (scipy on a float32 copy of the
lower triangle) refined with float64 residuals (BLAS dsymv on the lower
triangle) to LAPACK dsposv's bound, so that both sides do the same work.

  numpy_pipeline.py TRAIN.h5 TEST.h5 RIDGE [DEPTH_F DEPTH_G] [--careful [--mixed]]"""
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


REFINED = [False]   # whether the last careful pipeline's mixed-precision solve converged


def solve_mixed(K, y, block):
    """(K) a = y from K's lower triangle (ridge included): float32 factor, float64 refinement until
    |y - K a|_inf <= sqrt(n) 2^-53 |K|_inf |a|_inf, as dsposv; None when it does not converge"""
    from scipy.linalg import cho_factor, cho_solve
    from scipy.linalg.blas import dsymv
    n = len(y)
    K32 = np.empty((n, n), dtype=np.float32)
    rows = np.zeros(n)
    for r in range(0, n, block):
        e = min(r + block, n)
        low = np.tril(K[r:e, :e], r)                # the block's part of the lower triangle
        K32[r:e, :e] = low
        rows[r:e] += np.abs(low).sum(1)
        rows[:e] += np.abs(low).sum(0)
    rows -= np.abs(np.diag(K))                     # the diagonal was counted twice
    tol = np.sqrt(n) * 2.0 ** -53 * rows.max()
    try:
        c32 = cho_factor(K32.T, lower=False, overwrite_a=True, check_finite=False)   # in place, no copy
    except np.linalg.LinAlgError:
        return None
    a = cho_solve(c32, y.astype(np.float32), check_finite=False).astype(np.float64)
    prev = np.inf
    for _ in range(31):
        r = y - dsymv(1.0, K.T, a, lower=0)          # K.T is K's Fortran view: its upper triangle is K's lower
        rn = np.abs(r).max()
        if rn <= tol * np.abs(a).max():
            return a
        if not rn <= 0.5 * prev:
            return None
        prev = rn
        a += cho_solve(c32, r.astype(np.float32), check_finite=False)
    return None


def careful(x, z, y, xs, zs, ridge, depth_f, depth_g, block=256, mixed=False):
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
    alpha = solve_mixed(K, y, block) if mixed else None
    REFINED[0] = alpha is not None
    if alpha is None:
        # K.T is K's Fortran view, whose upper triangle is K's lower: LAPACK factors it in place, where a
        # C-ordered K would be copied first (twice the time of the factorisation at N = 4,000)
        alpha = cho_solve(cho_factor(K.T, lower=False, overwrite_a=True, check_finite=False), y, check_finite=False)
    us, is_ = distinct(xs)
    is_ = is_.ravel()
    ft = f_kernels(us, ua, depth_f)
    pred = np.empty(len(xs))
    for r in range(0, len(xs), block):
        pred[r:r + block] = hyper_kernels(is_[r:r + block], zs[r:r + block], ia, z, ft, depth_g)[0] @ alpha
    return pred


if __name__ == "__main__":
    use_careful, mixed = "--careful" in sys.argv, "--mixed" in sys.argv
    sys.argv = [a for a in sys.argv if a not in ("--careful", "--mixed")]
    with h5py.File(sys.argv[1]) as f:
        x, z, y = f["x"][...], f["z"][...], f["y"][...]
    with h5py.File(sys.argv[2]) as f:
        xs, zs, ys = f["x"][...], f["z"][...], f["y"][...]
    ridge = float(sys.argv[3])
    depth_f, depth_g = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (2, 3)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        if use_careful:
            pred = careful(x, z, y, xs, zs, ridge, depth_f, depth_g, mixed=mixed)
        else:
            pred = pipeline(x, z, y, xs, zs, ridge, depth_f, depth_g)
        best = min(best, time.perf_counter() - t0)
    print(f"numpy_pipeline{'_careful' if use_careful else ''}{'_mixed' if mixed else ''} n={len(y)} m={len(xs)} seconds={best:.3f} mse_test={np.mean((pred - ys) ** 2):.12g}"
          f" refined={int(REFINED[0])}")
