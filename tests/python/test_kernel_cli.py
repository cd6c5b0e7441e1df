"""hksweep kernel against an independent numpy evaluation of the formulas."""
import h5py
import numpy as np
import pytest

from conftest import hk
from kernel_reference import kernels


def write_inputs(path, n=45, dx=5, dz=3, distinct=12, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(distinct, dx))
    x = xs[rng.integers(0, distinct, n)]          # shared x, as in the image tasks
    z = rng.uniform(-1, 1, size=(n, dz))
    z[3] = 0.0                                     # a zero z: zero variance in g
    x[5] = -x[6]                                   # antiparallel x: c = -1
    with h5py.File(path, "w") as f:
        f["x"] = x
        f["z"] = z
    return x, z


@pytest.mark.parametrize("ranks", [1, 2, 4])
@pytest.mark.parametrize("depths", [(1, 1), (2, 3), (3, 2)])
def test_kernels_match_numpy(tmp_path, ranks, depths):
    x, z = write_inputs(tmp_path / "in.h5")
    L, H = depths
    out = tmp_path / "out.h5"
    hk("kernel", "--in", tmp_path / "in.h5", "--out", out, "--depth-f", L, "--depth-g", H, "--block-size", 7,
       ranks=ranks, check=True)
    ref = kernels(x, z, L, H)
    with h5py.File(out) as f:
        for name, want in ref.items():
            got = f[name][...]
            assert got.shape == want.shape
            err = np.abs(got - want).max() / np.abs(want).max()
            assert err < 1e-13, f"{name} L={L} H={H} on {ranks} ranks: relative error {err}"
            assert np.array_equal(got, got.T), f"{name} not exactly symmetric"


def test_kernel_subset_and_inspect(tmp_path):
    write_inputs(tmp_path / "in.h5", n=10)
    hk("kernel", "--in", tmp_path / "in.h5", "--out", tmp_path / "o.h5", "--kernels", "Th,Tmlp", check=True)
    with h5py.File(tmp_path / "o.h5") as f:
        assert sorted(f) == ["Th", "Tmlp"]
        assert f.attrs["depth_g"] == 3
    out = hk("inspect", tmp_path / "o.h5", check=True).stdout
    assert "/Th  [10 x 10]" in out and "max |A - A^T|" in out


@pytest.mark.parametrize("args,message", [
    (["--out", "o.h5"], "--in IN.h5 and --out OUT.h5 are required"),
    (["--in", "missing.h5", "--out", "o.h5"], "missing.h5: cannot open as HDF5"),
    (["--in", "bad.h5", "--out", "o.h5"], "/x has 4 rows but /z has 3"),
    (["--in", "in.h5", "--out", "o.h5", "--kernels", "Th,Foo"], "unknown kernel 'Foo'"),
    (["--in", "in.h5", "--out", "o.h5", "--depth-g", "0"], "--depth-g expects an integer in [1, 64], got '0'"),
    (["--in", "in.h5", "--out", "o.h5", "--depth-f", "two"], "--depth-f expects an integer in [1, 64], got 'two'"),
    (["--in", "nan.h5", "--out", "o.h5"], "/x[1][0] is not finite"),
])
def test_kernel_bad_input(tmp_path, args, message):
    write_inputs(tmp_path / "in.h5", n=8)
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["x"] = np.ones((4, 2))
        f["z"] = np.ones((3, 2))
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        x = np.ones((3, 2))
        x[1, 0] = np.nan
        f["x"] = x
        f["z"] = np.ones((3, 2))
    proc = hk("kernel", *[str(tmp_path / a) if a.endswith(".h5") else a for a in args])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.tmp").exists()


@pytest.mark.parametrize("args,message", [
    (["--in", "in.h5", "--out", "o.h5", "--width-f", "8", "--seeds", "2"], "--width-g and --seeds are required"),
    (["--in", "in.h5", "--out", "o.h5", "--width-f", "0", "--width-g", "4", "--seeds", "2"], "--width-f expects an integer in [1,"),
    (["--in", "bad.h5", "--out", "o.h5", "--width-f", "8", "--width-g", "4", "--seeds", "2"], "/x has 4 rows but /z has 3"),
    (["--in", "missing.h5", "--out", "o.h5", "--width-f", "8", "--width-g", "4", "--seeds", "2"], "cannot open as HDF5"),
])
def test_ntk_bad_input(tmp_path, args, message):
    write_inputs(tmp_path / "in.h5", n=8)
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["x"] = np.ones((4, 2))
        f["z"] = np.ones((3, 2))
    proc = hk("ntk", *[str(tmp_path / a) if a.endswith(".h5") else a for a in args])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "o.h5").exists()
