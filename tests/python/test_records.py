"""Point records are verified before they are trusted: resume recomputes a
damaged one with a warning, and merge refuses records of different sweeps and
names two records of one point that disagree."""
import shutil

import h5py
import numpy as np

from conftest import SMALL_SWEEP, assert_same_results, hk, read_results


def run_small(tmp_path, name="small", text=None, out=None):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text((text or SMALL_SWEEP).replace("{team}", "1"))
    out = out or tmp_path / name
    hk("run", cfg, "--out", out, "--quiet", ranks=1, check=True)
    return cfg, out


def record_warnings(proc):
    """stderr without the BLAS core's warning, which a machine without OPENBLAS_CORETYPE also prints"""
    return "\n".join(l for l in proc.stderr.splitlines() if "OpenBLAS runs its generic" not in l)


def records(out):
    return sorted((out / "points").glob("*.h5"))


def test_resume_recomputes_a_damaged_record(tmp_path):
    cfg, out = run_small(tmp_path)
    clean = read_results(out / "results.h5")
    recs = records(out)
    assert len(recs) == 8
    # three kinds of damage, each behind a valid record name
    data = recs[0].read_bytes()
    recs[0].write_bytes(data[: len(data) // 3])                 # cut short: not readable
    with h5py.File(recs[1], "r+") as f:                         # a value changed: checksum mismatch
        f["metric"].attrs["mse_test_Th"] = 0.5
    with h5py.File(recs[2], "r+") as f:                         # a required field gone
        del f.attrs["status"]
    proc = hk("run", cfg, "--out", out, "--resume", ranks=1, check=True)
    assert "3 to run, 5 already finished" in proc.stdout, proc.stdout
    assert record_warnings(proc).count("warning:") == 3, proc.stderr
    assert "checksum" in proc.stderr and "computed again" in proc.stderr
    assert len(list((out / "points").glob(".damaged-*"))) == 3
    assert_same_results(read_results(out / "results.h5"), clean, rtol=0)


def test_records_without_damage_are_all_trusted(tmp_path):
    cfg, out = run_small(tmp_path)
    proc = hk("run", cfg, "--out", out, "--resume", ranks=1, check=True)
    assert "0 to run, 8 already finished" in proc.stdout and "warning" not in record_warnings(proc), proc.stderr


def test_merge_refuses_a_damaged_record(tmp_path):
    _, out = run_small(tmp_path)
    with h5py.File(records(out)[3], "r+") as f:
        f["param"].attrs["dx"] = 5.0
    proc = hk("merge", out, "--out", tmp_path / "m.h5")
    assert proc.returncode == 1 and "checksum" in proc.stderr and records(out)[3].name in proc.stderr, proc.stderr
    assert not (tmp_path / "m.h5").exists()


def test_merge_refuses_records_of_another_config(tmp_path):
    _, a = run_small(tmp_path, "first")
    _, b = run_small(tmp_path, "second", SMALL_SWEEP.replace("name: small", "name: other").replace("ridge: 1.0e-3", "ridge: 2.0e-3"))
    proc = hk("merge", a, b, "--out", tmp_path / "m.h5")
    assert proc.returncode == 1, proc.stderr
    assert "of config 'other'" in proc.stderr and "of config 'small'" in proc.stderr, proc.stderr
    assert not (tmp_path / "m.h5").exists()


def test_merge_refuses_records_of_another_kind(tmp_path):
    _, a = run_small(tmp_path, "first")
    quick = ("name: small\nexperiment: kernel-convergence\nparams: {inits: 2, steps: 0, width_f: 8, width_g: 4}\n")
    _, c = run_small(tmp_path, "conv", quick)
    proc = hk("merge", a, c, "--out", tmp_path / "m.h5")
    assert proc.returncode == 1 and "kernel-convergence" in proc.stderr and "hyperkernel-regression" in proc.stderr
    assert not (tmp_path / "m.h5").exists()


def test_merge_takes_agreeing_duplicates_once_and_names_differing_ones(tmp_path):
    _, a = run_small(tmp_path, "first")
    b = tmp_path / "copy"
    shutil.copytree(a, b)
    proc = hk("merge", a, b, "--out", tmp_path / "m.h5", check=True)
    assert "merged 8 points" in proc.stdout and "taken once" in proc.stdout
    # the same point computed differently in the second directory, with a valid checksum
    rec = records(b)[4]
    hk("run", tmp_path / "first.yaml", "--out", tmp_path / "again", "--quiet", ranks=1, check=True)
    again = records(tmp_path / "again")[4]
    assert again.name == rec.name
    with h5py.File(again, "r+") as f:
        f["metric"].attrs["mse_test_Th"] = f["metric"].attrs["mse_test_Th"] * 1.5
        del f.attrs["checksum"]          # as an older record without a checksum: readable, results differ
    shutil.copy(again, rec)
    proc = hk("merge", a, b, "--out", tmp_path / "m2.h5")
    assert proc.returncode == 1 and rec.name[:16] in proc.stderr and "differs between" in proc.stderr, proc.stderr
    assert not (tmp_path / "m2.h5").exists()


def table_columns(path):
    """every column of the points table, NaN-aware, and every array, for an exact comparison"""
    out = {}
    with h5py.File(path, "r") as f:
        order = np.argsort(f["points/id"].asstr()[...])
        for group in ("points", "points/param", "points/metric"):
            for k, v in f[group].items():
                if isinstance(v, h5py.Dataset) and k not in ("checksum", "started", "seconds", "run", "host"):
                    out[group, k] = v.asstr()[...][order] if v.dtype.kind == "O" else v[...][order]
        for pid in f.get("arrays", {}):
            for k, v in f["arrays"][pid].items():
                out["arrays", pid, k] = v[...]
    return out


# a sweep whose points carry arrays (NTKs per initialisation) as well as metrics
SPLIT_SWEEP = """name: conv
experiment: kernel-convergence
params: {inits: 2, steps: 20, inputs: 4}
sweep:
  grid: {width_f: [16, 32], width_g: [8, 16]}
  seeds: [1, 2]
"""


def test_split_gives_back_records_that_resume_and_merge_trust(tmp_path):
    cfg, out = run_small(tmp_path, "conv", SPLIT_SWEEP)
    full = table_columns(out / "results.h5")
    assert sum(k[0] == "arrays" for k in full) >= 8 * 3   # the records' arrays are part of what must come back
    # a sweep kept only as a results file of 6 of its 8 points, as a published one is
    part = tmp_path / "part"
    (part / "points").mkdir(parents=True)
    for rec in records(out)[:6]:
        shutil.copy(rec, part / "points")
    shutil.copytree(out / "runs", part / "runs")
    hk("merge", part, "--out", tmp_path / "kept.h5", check=True)
    again = tmp_path / "again"
    proc = hk("split", tmp_path / "kept.h5", "--out", again, check=True)
    assert "6 point records and 1 run" in proc.stdout, proc.stdout
    # the records are trusted (checksums), only the 2 missing points are computed
    proc = hk("run", cfg, "--out", again, "--resume", ranks=1, check=True)
    assert "2 to run, 6 already finished" in proc.stdout and "warning" not in record_warnings(proc), proc.stdout
    # and the whole table comes back: every column and array as the uninterrupted sweep wrote it
    got = table_columns(again / "results.h5")
    assert got.keys() == full.keys(), set(got) ^ set(full)
    for key, want in full.items():
        if want.dtype.kind in "fc":
            timing = key[0] == "points/metric" and key[1].startswith(("time_", "peak_rss"))
            assert timing or np.array_equal(got[key], want, equal_nan=True), key
        elif key[:2] != ("points", "config"):      # the config's path differs only by where it ran
            assert (got[key] == want).all(), (key, got[key], want)
    # a split record changed afterwards is caught like any other
    with h5py.File(sorted((again / "points").glob("*.h5"))[0], "r+") as f:
        f["metric"].attrs["mse_test_Th"] = 0.5
    proc = hk("merge", again, "--out", tmp_path / "m.h5")
    assert proc.returncode == 1 and "checksum" in proc.stderr, proc.stderr


def test_split_refuses_to_overwrite_and_names_a_wrong_file(tmp_path):
    _, out = run_small(tmp_path)
    before = {p.name: p.read_bytes() for p in records(out)}
    proc = hk("split", out / "results.h5", "--out", out)
    assert proc.returncode == 1 and "already exists" in proc.stderr, proc.stderr
    assert {p.name: p.read_bytes() for p in records(out)} == before
    proc = hk("split", records(out)[0], "--out", tmp_path / "x")
    assert proc.returncode == 1 and "not an hksweep results file" in proc.stderr, proc.stderr
    assert not (tmp_path / "x").exists()
    proc = hk("split", out / "results.h5")
    assert proc.returncode == 2 and "--out DIR is required" in proc.stderr, proc.stderr
