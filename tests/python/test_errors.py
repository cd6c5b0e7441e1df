"""The error contract: any failure inside a point, running out of memory
included, fails that point with its reason, and the sweep finishes the others
on every rank."""
import os

from conftest import ENV, HKSWEEP, MPIRUN, read_results

import subprocess

TRAINING = """
name: oom
experiment: hypernet-training
params:
  dx: 4
  distinct_x: 20
  samples_per_x: 4
  test_distinct_x: 4
  test_samples_per_x: 4
  width_f: 16
  epochs: 2
  batch_size: 40
  team_size: 1
sweep:
  grid:
    width_g: [8, 400, 16]
"""


def run(tmp_path, text, ranks=2, env=None):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    proc = subprocess.run([MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np", str(ranks), HKSWEEP, "run",
                           cfg, "--out", out, "--quiet"], capture_output=True, text=True, timeout=300,
                          env=dict(ENV, **(env or {})))
    return proc, out


def by_width(rows, key):
    return {int(r["param"][key]): r for r in rows.values()}


def test_an_allocation_that_fails_inside_a_point_fails_only_that_point(tmp_path):
    # g of width 400 has P = 400*2 + 400*400 + 400 = 161,200 weights, which f
    # (width 16) generates: the gradient of A alone is 20.6 MB, over the 8 MB
    # limit; widths 8 and 16 stay far below it
    proc, out = run(tmp_path, TRAINING, env={"HKSWEEP_TEST_ALLOC_LIMIT": str(8_000_000)})
    assert proc.returncode == 0, proc.stderr
    rows = by_width(read_results(out / "results.h5"), "width_g")
    assert sorted(rows) == [8, 16, 400]
    assert rows[8]["status"] == "ok" and rows[16]["status"] == "ok", rows
    assert rows[400]["status"] == "failed"
    assert "out of memory allocating" in rows[400]["reason"], rows[400]["reason"]
    assert rows[8]["metric"]["mse_test_final"] < rows[8]["metric"]["mse_test_initial"]


def test_without_the_limit_the_same_sweep_runs_every_point(tmp_path):
    proc, out = run(tmp_path, TRAINING)
    assert proc.returncode == 0, proc.stderr
    rows = read_results(out / "results.h5")
    assert sorted(r["status"] for r in rows.values()) == ["ok", "ok", "ok"]


def test_a_point_too_large_for_the_machine_fails_before_it_starts(tmp_path):
    # f of width 10^6 generating g of width 2,000: about 4 x 10^12 weights,
    # terabytes per rank, refused by plan's own memory prediction
    text = TRAINING.replace("width_f: 16", "width_f: 1000000").replace("[8, 400, 16]", "[8, 2000]")
    text = text.replace("width_f: 1000000", "width_f: 16").replace("sweep:", "sweep:\n  zip:\n    width_f: [16, 1000000]\n")
    text = text.replace("  grid:\n    width_g: [8, 2000]\n", "    width_g: [8, 2000]\n")
    proc, out = run(tmp_path, text)
    assert proc.returncode == 0, proc.stderr
    rows = by_width(read_results(out / "results.h5"), "width_g")
    assert rows[8]["status"] == "ok", rows[8]
    assert rows[2000]["status"] == "failed"
    assert "out of memory" in rows[2000]["reason"] and "GB per rank" in rows[2000]["reason"], rows[2000]["reason"]
