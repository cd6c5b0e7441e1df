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


def write_bad_shapes(tmp_path):
    """Files whose shapes are wrong: written by h5py, read by hksweep."""
    with h5py.File(tmp_path / "nocols.h5", "w") as f:
        f["x"] = np.ones((4, 0))
        f["z"] = np.ones((4, 2))
    with h5py.File(tmp_path / "nozcols.h5", "w") as f:
        f["x"] = np.ones((4, 2))
        f["z"] = np.ones((4, 0))
    with h5py.File(tmp_path / "oned.h5", "w") as f:
        f["x"] = np.ones(4)
        f["z"] = np.ones((4, 2))
    with h5py.File(tmp_path / "huge.h5", "w") as f:
        # declared 2^60 + 1 rows, stored in chunks never written: a 2 KB file
        f.create_dataset("x", shape=(2**60 + 1, 2), dtype="f8", chunks=(1, 2))
        f["z"] = np.ones((4, 2))
    with h5py.File(tmp_path / "big.h5", "w") as f:
        # a shape that fits in int but not in memory: 2e9 x 1000 doubles
        f.create_dataset("x", shape=(2_000_000_000, 1000), dtype="f8", chunks=(1, 1000))
        f["z"] = np.ones((4, 2))
    write_inputs(tmp_path / "good.h5", n=8)
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])          # truncated
    (tmp_path / "junk.h5").write_bytes(data[:512] + bytes(len(data) - 512))  # zeroed after the superblock


@pytest.mark.parametrize("cmd", ["kernel", "ntk"])
@pytest.mark.parametrize("name,message", [
    ("nocols.h5", "dataset /x is 4 x 0; it needs at least one row and one column"),
    ("nozcols.h5", "dataset /z is 4 x 0; it needs at least one row and one column"),
    ("oned.h5", "dataset /x has rank 1; expected a matrix"),
    ("huge.h5", "dataset /x is 1152921504606846977 x 2; at most 2147483647 rows"),
    ("big.h5", "more than the"),
    ("cut.h5", "cut.h5"),
    ("junk.h5", "junk.h5"),
])
def test_malformed_input_files_are_refused(tmp_path, cmd, name, message):
    write_bad_shapes(tmp_path)
    extra = ["--width-f", "8", "--width-g", "4", "--seeds", "2"] if cmd == "ntk" else []
    proc = hk(cmd, "--in", tmp_path / name, "--out", tmp_path / "o.h5", *extra, ranks=1)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert message in proc.stderr, proc.stderr
    assert "double free" not in proc.stderr and "Segmentation" not in proc.stderr
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.tmp").exists()


def test_kernel_too_large_for_memory_is_refused_before_allocating(tmp_path):
    # 200,000 points: one 200,000^2 kernel is 320 GB, 160 GB per rank on 2 ranks
    n = 200_000
    with h5py.File(tmp_path / "many.h5", "w") as f:
        f["x"] = np.ones((n, 1))
        f["z"] = np.ones((n, 1))
    proc = hk("kernel", "--in", tmp_path / "many.h5", "--out", tmp_path / "o.h5", "--kernels", "Th", ranks=2)
    assert proc.returncode == 2, proc.stderr
    assert "N = 200000 points need" in proc.stderr and "GB per rank" in proc.stderr, proc.stderr
    assert not (tmp_path / "o.h5").exists()
