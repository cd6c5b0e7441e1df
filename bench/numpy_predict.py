"""The baseline of `hksweep predict` in bench/run: the same outputs from the
formulas of docs/hyperkernel-math.md, section 9, the way a careful numpy user
(or neural-tangents' predict.gradient_descent_mse and gp_inference, which do
the same on one host) computes them:
  - Th and Kh between all points in row blocks of 1,000, f's kernels on the
    distinct x only (fully vectorised, no Python loop over entries);
  - one np.linalg.eigh of Th (LAPACK dsyevd), reused for every step and for
    the ensemble;
  - the GP posterior with np.linalg.solve (numpy has no Cholesky solve);
  - the ensemble variance as rowsums, never an M x M matrix.
Best of 3 of the whole pipeline (reading inputs and writing outputs left
out). Writes the outputs to OUT.h5 so bench/run can check that both sides
agree.

  numpy_predict.py TRAIN.h5 TEST.h5 OUT.h5 LR STEPS RIDGE [DEPTH_F DEPTH_G]"""
import sys
import time

import h5py
import numpy as np

from numpy_kernels import gram, kh_diagonal


def predict(x, z, y, xs, zs, lr, steps, ridge, depth_f, depth_g):
    n = len(y)
    th, kh = gram(x, z, x, z, depth_f, depth_g, block=1000)
    ths, khs = gram(xs, zs, x, z, depth_f, depth_g, block=1000)
    lam, vecs = np.linalg.eigh(th)
    del th
    c = vecs.T @ y
    p = ths @ vecs
    f_train, f_test, loss = [], [], []
    for t in steps:
        fit = 1 - (1 - lr * lam / n) ** t
        f_train.append(vecs @ (fit * c))
        f_test.append(p @ (fit / lam * c))
        loss.append(np.sum(((1 - fit) * c) ** 2) / (2 * n))
    mean_ens = p @ (c / lam)
    e = (p / lam) @ vecs.T                    # Th(U*, U) Th^-1
    var_ens = kh_diagonal(xs, zs, depth_g) + np.einsum("ij,ij->i", e @ kh, e) - 2 * np.einsum("ij,ij->i", e, khs)
    a = kh + ridge * np.eye(n)
    sol = np.linalg.solve(a, np.concatenate([y[:, None], khs.T], axis=1))
    mean_kh = khs @ sol[:, 0]
    var_kh = kh_diagonal(xs, zs, depth_g) - np.einsum("ij,ji->i", khs, sol[:, 1:])
    return dict(f_train=np.array(f_train), f_test=np.array(f_test), loss_train=np.array(loss), eigenvalues_Th=lam,
                mean_test_Kh=mean_kh, var_test_Kh=var_kh, mean_test_ensemble=mean_ens, var_test_ensemble=var_ens)


if __name__ == "__main__":
    train, test, out = sys.argv[1:4]
    lr, steps, ridge = float(sys.argv[4]), [float(s) for s in sys.argv[5].split(",")], float(sys.argv[6])
    depth_f, depth_g = (int(sys.argv[7]), int(sys.argv[8])) if len(sys.argv) > 8 else (2, 3)
    with h5py.File(train) as f:
        x, z, y = f["x"][...], f["z"][...], f["y"][...]
    with h5py.File(test) as f:
        xs, zs = f["x"][...], f["z"][...]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        res = predict(x, z, y, xs, zs, lr, steps, ridge, depth_f, depth_g)
        best = min(best, time.perf_counter() - t0)
    with h5py.File(out, "w") as f:
        for k, v in res.items():
            f[k] = v
    print(f"numpy_predict n={len(y)} m={len(xs)} seconds={best:.3f}")
