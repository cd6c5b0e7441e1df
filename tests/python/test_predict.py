"""hksweep predict: the infinite-width hypernetwork trained by gradient descent
(docs/hyperkernel-math.md, section 9) against independent references: explicit
iteration of f <- f - (eta/N) Th (f - y), many small steps for the flow, and a
separate numpy evaluation of the GP and ensemble posterior formulas."""
import h5py
import numpy as np
import pytest

from conftest import hk
from kernel_reference import kernels


def write_task(tmp_path, n=50, m=12, dx=4, dz=2, k=1, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + m, dx))
    x *= np.sqrt(dx) / np.linalg.norm(x, axis=1, keepdims=True)
    z = rng.uniform(-1, 1, size=(n + m, dz))
    y = np.sin(2 * z[:n, :1] + x[:n, :1]) + 0.1 * rng.normal(size=(n, k))
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f["x"], f["z"] = x[:n], z[:n]
        f["y"] = y[:, 0] if k == 1 else y
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["x"], f["z"] = x[n:], z[n:]
    return x, z, y


def reference_kernels(x, z, n, L=2, H=3):
    K = kernels(x, z, L, H)
    return K["Th"][:n, :n], K["Th"][n:, :n], K["Kh"][:n, :n], K["Kh"][n:, :n], np.diag(K["Kh"])[n:], K["Kh"][n:, n:]


def predict(tmp_path, *extra, ranks=2, name="out.h5"):
    out = tmp_path / name
    proc = hk("predict", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5", "--out", out, *extra,
              ranks=ranks)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        return {k: f[k][...] for k in f}, dict(f.attrs)


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_discrete_gd_equals_explicit_iteration(tmp_path, ranks):
    x, z, y = write_task(tmp_path)
    n = len(y)
    th, ths, *_ = reference_kernels(x, z, n)
    lam_max = np.linalg.eigvalsh(th)[-1]
    eta = 0.9 * 2 * n / lam_max
    steps = [0, 1, 2, 7, 30, 100]
    got, attrs = predict(tmp_path, "--lr", repr(eta), "--steps", ",".join(map(str, steps)), ranks=ranks)
    # explicit iteration of gradient descent on the linear model, in function space
    f = np.zeros(n)
    ftest = np.zeros(len(ths))
    want_train, want_test, want_loss = [], [], []
    for t in range(max(steps) + 1):
        if t in steps:
            want_train.append(f.copy())
            want_test.append(ftest.copy())
            want_loss.append(np.sum((f - y[:, 0]) ** 2) / (2 * n))
        r = f - y[:, 0]
        ftest = ftest - eta / n * ths @ r
        f = f - eta / n * th @ r
    scale = np.max(np.abs(y))
    assert got["f_train"].shape == (len(steps), n) and got["f_test"].shape == (len(steps), len(ths))
    assert np.max(np.abs(got["f_train"] - np.array(want_train))) <= 1e-10 * scale
    assert np.max(np.abs(got["f_test"] - np.array(want_test))) <= 1e-10 * scale
    assert np.allclose(got["loss_train"], want_loss, rtol=1e-10, atol=0)
    assert np.allclose(got["eigenvalues_Th"], np.linalg.eigvalsh(th), rtol=1e-9, atol=0)
    assert attrs["max_stable_lr"] == pytest.approx(2 * n / lam_max, rel=1e-9)


def test_flow_is_the_limit_of_small_steps(tmp_path):
    x, z, y = write_task(tmp_path)
    n = len(y)
    th, ths, *_ = reference_kernels(x, z, n)
    t_end, eta = 5.0, 1.0
    got, _ = predict(tmp_path, "--flow", "--lr", "1", "--steps", f"0,{t_end}")
    # many small discrete steps: f <- f - (eta dt / N) Th (f - y), error O(dt)
    errors = []
    for steps in (2000, 8000):
        dt = t_end / steps
        f, ft = np.zeros(n), np.zeros(len(ths))
        for _ in range(steps):
            r = f - y[:, 0]
            ft = ft - eta * dt / n * ths @ r
            f = f - eta * dt / n * th @ r
        errors.append(np.max(np.abs(got["f_test"][1] - ft)))
    assert errors[1] < errors[0] / 3, errors           # first order: 4x more steps, ~4x closer
    assert errors[1] < 1e-4 * np.max(np.abs(y))
    assert np.array_equal(got["f_train"][0], np.zeros(n))


def test_uncertainty_against_numpy(tmp_path):
    x, z, y = write_task(tmp_path, k=2)
    n = len(y)
    th, ths, kh, khs, khdiag, khss = reference_kernels(x, z, n)
    ridge = 1e-2
    got, _ = predict(tmp_path, "--ridge", repr(ridge), "--steps", "0,10")
    A = kh + ridge * np.eye(n)
    mean_gp = khs @ np.linalg.solve(A, y)
    var_gp = khdiag - np.einsum("ij,ji->i", khs, np.linalg.solve(A, khs.T))
    Tinv = np.linalg.inv(th)
    mean_ens = ths @ Tinv @ y
    cov = khss + ths @ Tinv @ kh @ Tinv @ ths.T - (ths @ Tinv @ khs.T + khs @ Tinv @ ths.T)
    assert got["mean_test_Kh"].shape == (len(ths), 2)
    assert np.allclose(got["mean_test_Kh"], mean_gp, rtol=1e-8, atol=1e-10)
    assert np.allclose(got["var_test_Kh"], var_gp, rtol=1e-6, atol=1e-10)
    assert np.all(got["var_test_Kh"] > 0)
    assert np.allclose(got["mean_test_ensemble"], mean_ens, rtol=1e-6, atol=1e-8)
    assert np.allclose(got["var_test_ensemble"], np.diag(cov), rtol=1e-5, atol=1e-8)
    assert got["f_train"].shape == (2, n, 2)


@pytest.mark.parametrize("ranks,block", [(1, 128), (2, 8), (4, 8)])
def test_converged_posteriors_by_cholesky_against_numpy(tmp_path, ranks, block):
    # --converged (what the image kinds use for their uncertainty): the same
    # posteriors through Cholesky factors of Th and Kh + rI, no eigendecomposition;
    # blocks of 8 spread the 50 x 50 matrices block-cyclically over the ranks
    x, z, y = write_task(tmp_path, k=2)
    n = len(y)
    th, ths, kh, khs, khdiag, khss = reference_kernels(x, z, n)
    ridge = 1e-2
    got, attrs = predict(tmp_path, "--ridge", repr(ridge), "--converged", "--block-size", str(block), ranks=ranks)
    assert "f_train" not in got and "eigenvalues_Th" not in got
    assert attrs["jitter_Th"] == 0
    A = kh + ridge * np.eye(n)
    mean_gp = khs @ np.linalg.solve(A, y)
    var_gp = khdiag - np.einsum("ij,ji->i", khs, np.linalg.solve(A, khs.T))
    E = np.linalg.solve(th, ths.T).T                     # Th* Th^-1
    mean_ens = E @ y
    var_ens = np.diag(khss) + np.einsum("ij,jk,ik->i", E, kh, E) - 2 * np.einsum("ij,ij->i", E, khs)
    for key, want in (("mean_test_Kh", mean_gp), ("var_test_Kh", var_gp), ("mean_test_ensemble", mean_ens),
                      ("var_test_ensemble", var_ens)):
        assert got[key].shape == want.shape, key
        assert np.all(np.isfinite(got[key])), key
        assert np.allclose(got[key], want, rtol=1e-6, atol=1e-9), (key, np.max(np.abs(got[key] - want)))
    # the two variances differ by far more than the tolerance, so a swap or a
    # dropped cross term would fail above
    assert np.max(np.abs(var_ens - var_gp)) > 1e-3 * np.max(np.abs(var_ens))
    assert np.max(np.abs(var_ens - (np.diag(khss) + np.einsum("ij,jk,ik->i", E, kh, E)))) > 1e-2 * np.max(var_ens)


def test_results_do_not_depend_on_the_number_of_ranks(tmp_path):
    write_task(tmp_path)
    one, _ = predict(tmp_path, "--steps", "0,5,50", ranks=1, name="one.h5")
    four, _ = predict(tmp_path, "--steps", "0,5,50", ranks=4, name="four.h5")
    for key in one:
        assert np.allclose(one[key], four[key], rtol=1e-9, atol=1e-12), key


@pytest.mark.parametrize("case,args,message", [
    ("missing y", [], "has no dataset /y"),
    ("rows", [], "/y has 49 rows but /x and /z have 50"),
    ("nan", [], "/y[3] is not finite"),
    ("nocols", [], "it needs at least one row and one column"),
    ("lr", ["--lr", "1e9"], "at or above 2N / lambda_max"),
    ("steps", ["--steps", "1,-2"], "--steps expects non-negative numbers"),
    ("dims", [], "has dx = 3, dz = 2 but"),
])
def test_bad_input(tmp_path, case, args, message):
    write_task(tmp_path)
    with h5py.File(tmp_path / "train.h5", "r+") as f:
        if case == "missing y":
            del f["y"]
        elif case == "rows":
            y = f["y"][...]
            del f["y"]
            f["y"] = y[:-1]
        elif case == "nan":
            f["y"][3] = np.nan
        elif case == "nocols":
            del f["x"]
            f["x"] = np.ones((50, 0))
    if case == "dims":
        with h5py.File(tmp_path / "test.h5", "r+") as f:
            del f["x"]
            f["x"] = np.ones((12, 3))
    proc = hk("predict", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5", "--out",
              tmp_path / "o.h5", *args, ranks=2)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert message in proc.stderr, proc.stderr
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.tmp").exists()
