"""The analysis package on results produced by the real program: every expected
figure and table, table numbers equal to the HDF5 values, clear errors for
malformed files, and partial results drawn with a note."""
import csv
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import ENV, hk

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def analysis(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, timeout=300)


CONFIGS = {
    "reg": """experiment: hyperkernel-regression
params: {dx: 4, z_embedding: fourier, embedding_width: 16, test_distinct_x: 4, test_samples_per_x: 5,
         kernels: [Th, Tmlp], snapshot: true, team_size: 1}
sweep:
  zip: {distinct_x: [6, 12], samples_per_x: [4, 5]}
  seeds: [1, 2]
""",
    "conv": """experiment: kernel-convergence
params: {inits: 4, steps: 3, inputs: 5, team_size: 1}
sweep:
  grid: {width_f: [8, 32, 64], width_g: [4, 16, 32]}
  seeds: [1, 2]
""",
    "train": """experiment: hypernet-training
params: {dx: 3, distinct_x: 8, samples_per_x: 4, test_distinct_x: 3, test_samples_per_x: 4, epochs: 3,
         width_f: 16, width_g: 8, batch_size: 16, lr: 0.05, team_size: 1}
sweep:
  grid: {width_g: [8, 16]}
  seeds: [1, 2]
""",
    "completion": """experiment: image-completion
params: {data: synthetic, test_images: 4, coords_per_image: 10, embedding_width: 32, methods: [Th, Kh, hypernet, mlp],
         width_f: 32, width_g: 8, width_mlp: 32, epochs: 3, examples: 3, team_size: 1, validation_images: 4,
         lr_grid: [0.01, 0.1], ridge_grid: [0.01, 1]}
sweep:
  grid: {train_images: [10, 20]}
  seeds: [1, 2]
""",
    "inpainting": """experiment: image-inpainting
params: {data: synthetic, test_images: 4, coords_per_image: 10, context_pixels: 60, embedding_width: 32,
         methods: [Th, Tmlp], examples: 2, team_size: 1}
sweep:
  grid: {train_images: [10, 20]}
  seeds: [1, 2]
""",
    "rotation": """experiment: rotation
params: {data: synthetic, train_images: 20, test_images: 10, samples_per_image: 2, width_f: 16, bottleneck: 8,
         epochs: 3, methods: [hypernet, Th], team_size: 1}
sweep:
  grid: {width_g: [4, 8]}
  seeds: [1, 2]
""",
}


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    dirs = []
    for name, text in CONFIGS.items():
        cfg = d / f"{name}.yaml"
        cfg.write_text(text)
        hk("run", cfg, "--out", d / name, "--quiet", ranks=2, check=True)
        dirs.append(d / name)
    # hksweep merges one sweep at a time; the analysis reads the six files as one table
    (d / "all.txt").write_text("\n".join(str(x / "results.h5") for x in dirs))
    return d


def all_results(merged):
    return (merged / "all.txt").read_text().split("\n")


@pytest.fixture(scope="module")
def report(merged):
    """The report of all six sweeps, drawn once for the tests that read it."""
    out = merged / "report"
    proc = analysis("report", *all_results(merged), "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def columns(path):
    """A results file's columns, read with h5py alone."""
    with h5py.File(path) as f:
        c = {"experiment": f["points/experiment"].asstr()[...], "status": f["points/status"].asstr()[...]}
        for group in ("param", "metric"):
            for k in f[f"points/{group}"]:
                c[k] = f[f"points/{group}"][k][...]
    return c


def figure_content(out, name):
    """What a figure shows, read from its SVG (matplotlib names every group): per
    axes with data, the images it holds and the lines it draws (tick marks and
    one-point marker lines left out). Also checks that the PNG is not blank."""
    import xml.etree.ElementTree as ET
    import matplotlib.image
    png = matplotlib.image.imread(str(out / f"{name}.png"))
    rgb = png[..., :3]
    changed = np.any(np.abs(rgb - rgb[0, 0]) > 0.05, axis=-1).mean()
    assert changed > 0.02, f"{name}.png is blank ({changed:.1%} of pixels differ from the background)"
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.parse(out / f"{name}.svg").getroot()
    panels = []

    def walk(node, in_tick, axes):
        gid = node.get("id", "")
        if node.tag == ns + "g" and gid.startswith("axes_"):
            axes = {"images": 0, "lines": 0}
            panels.append(axes)
        in_tick = in_tick or gid.startswith(("xtick_", "ytick_"))
        if axes is not None and not in_tick:
            if node.tag == ns + "image":
                axes["images"] += 1
            if node.tag == ns + "g" and gid.startswith("line2d_"):
                path = node.find(ns + "path")
                d = path.get("d", "") if path is not None else ""
                if d.count("L") >= 1:           # a polyline of two points or more
                    axes["lines"] += 1
        for child in node:
            walk(child, in_tick, axes)

    walk(root, False, None)
    return [p for p in panels if p["images"] or p["lines"]]


def read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def cell_mean(text):
    return float(text.split(" ± ")[0])


def test_report_draws_every_kind(merged, report):
    out = report
    # panels and what each draws, from the configs above
    heat = figure_content(out, "convergence_heatmap_L2_H3")
    # dispersion, distance and change over (n, m), each with its colour bar (an image too)
    assert [p["images"] for p in heat] == [1] * 6, heat
    curves = figure_content(out, "convergence_curves_L2_H3")
    assert len(curves) == 3 and all(p["lines"] >= 3 for p in curves), curves   # a line per width
    reg = figure_content(out, "regression_mse")
    assert len(reg) == 1 and reg[0]["lines"] >= 3, reg              # Th, Tmlp, mean predictor
    train = figure_content(out, "training_curves")
    assert len(train) == 1 and train[0]["lines"] >= 2, train        # widths 8 and 16
    comp = figure_content(out, "completion_mse")
    assert len(comp) == 1 and comp[0]["lines"] >= 5, comp           # Th, Kh, hypernet, mlp, mean image
    ex = figure_content(out, "completion_examples")
    # 3 images x (truth, input, 4 methods, std of the hyper-GP and of the Th ensemble)
    assert len(ex) == 3 * 8 and all(p["images"] == 1 for p in ex), ex
    # the finite networks' loss curves at the largest U: training and validation, per seed
    loss = figure_content(out, "completion_loss_curves")
    # 2 networks x (train, val) x 2 seeds, and a legend key per network and part
    assert len(loss) == 1 and loss[0]["lines"] == 2 * 2 * 2 + 2 * 2, loss
    inp = figure_content(out, "inpainting_mse")
    assert len(inp) == 1 and inp[0]["lines"] >= 3, inp              # Th, Tmlp, mean image
    ex = figure_content(out, "inpainting_examples")
    assert len(ex) == 2 * 6 and all(p["images"] == 1 for p in ex), ex
    rot = figure_content(out, "rotation_accuracy")
    assert len(rot) == 2 and all(p["lines"] >= 3 for p in rot), rot  # per width_g: curve, Th, chance
    header, rows = read_csv(out / "completion_calibration.csv")
    assert len(rows) == 2 and all(0 < cell_mean(r[2]) <= cell_mean(r[3]) <= 1 for r in rows), rows
    for name in ("convergence_table", "regression_table", "training_table", "completion_mse_hidden",
                 "completion_mse_whole", "inpainting_mse_hidden", "rotation_accuracy"):
        assert (out / f"{name}.md").exists() and (out / f"{name}.csv").exists()
    snaps = [p[:-4] for p in os.listdir(out) if p.startswith("snapshot_") and p.endswith(".png")]
    assert len(snaps) >= 1
    for name in snaps:
        panels = figure_content(out, name)
        assert sum(p["images"] for p in panels) >= 2, (name, panels)  # Th and Tmlp matrices
    index = (out / "index.html").read_text()
    assert "Provenance" in index and "convergence_heatmap_L2_H3.png" in index and "git_commit" in index


def test_table_numbers_equal_the_file(merged, report):
    out = report
    c = columns(merged / "conv" / "results.h5")
    header, rows = read_csv(out / "convergence_table.csv")
    col = header.index("ntk_dispersion")
    assert len(rows) == 9
    for r in rows:
        n, mm = float(r[2]), float(r[3])
        sel = (c["status"] == "ok") & (c["width_f"] == n) & (c["width_g"] == mm)
        assert sel.sum() == 2
        assert cell_mean(r[col]) == pytest.approx(np.mean(c["ntk_dispersion"][sel]), rel=1e-3)
        std = np.std(c["ntk_dispersion"][sel], ddof=1)
        assert float(r[col].split(" ± ")[1]) == pytest.approx(std, rel=0.05, abs=1e-12)
    c = columns(merged / "reg" / "results.h5")
    header, rows = read_csv(out / "regression_table.csv")
    col = header.index("test MSE Th")
    assert len(rows) == 2
    for r in rows:
        sel = c["distinct_x"] * c["samples_per_x"] == float(r[0])
        assert cell_mean(r[col]) == pytest.approx(np.mean(c["mse_test_Th"][sel]), rel=1e-3)
    c = columns(merged / "train" / "results.h5")
    header, rows = read_csv(out / "training_table.csv")
    assert len(rows) == 2
    for r in rows:
        sel = c["width_g"] == float(r[1])
        assert cell_mean(r[3]) == pytest.approx(np.mean(c["mse_test_final"][sel]), rel=1e-3)


def test_image_tables_equal_the_file(merged, report):
    out = report
    for stem, methods in (("completion", ["Th", "Kh", "hypernet", "mlp", "mean_image"]),
                          ("inpainting", ["Th", "Tmlp", "mean_image"])):
        for part in ("hidden", "whole"):
            header, rows = read_csv(out / f"{stem}_mse_{part}.csv")
            assert [r[0] for r in rows] == ["10", "20"] and all(r[1] == "2" for r in rows)
            assert len(header) == 2 + len(methods)
            c = columns(merged / stem / "results.h5")
            for r in rows:
                sel = c["train_images"] == float(r[0])
                assert sel.sum() == 2
                for j, meth in enumerate(methods):
                    vals = c[f"mse_{part}_{meth}"][sel]
                    assert cell_mean(r[2 + j]) == pytest.approx(np.mean(vals), rel=1e-3), (stem, part, meth)
                    assert float(r[2 + j].split(" ± ")[1]) == pytest.approx(np.std(vals, ddof=1), rel=0.05, abs=1e-12)
    # what validation chose: the median of the choices per method and U, and how many seeds still improved
    header, rows = read_csv(out / "completion_fits.csv")
    c = columns(merged / "completion" / "results.h5")
    assert header[:3] == ["train_images", "method", "seeds"] and len(rows) == 2 * 4   # U x (Th, Kh, hypernet, mlp)
    for r in rows:
        sel = c["train_images"] == float(r[0])
        name = {"hyperkernel Th": "Th", "hyper-GP Kh": "Kh", "hypernetwork": "hypernet", "finite MLP": "mlp"}[r[1]]
        choice = c[f"lr_{name}" if name in ("hypernet", "mlp") else f"ridge_{name}"][sel]
        assert float(r[3]) == pytest.approx(np.median(choice), rel=1e-3), (r, choice)
        if name in ("hypernet", "mlp"):
            assert r[6] == f"{int(np.sum(c[f'still_improving_{name}'][sel]))} of 2"
            assert float(r[7]) == pytest.approx(np.mean(c[f"parameters_{name}"][sel]), rel=1e-3)
    # each method against Th, paired by seed: recomputed here from the per-point MSEs
    header, rows = read_csv(out / "completion_paired.csv")
    c = columns(merged / "completion" / "results.h5")
    assert header == ["train_images", "seeds", "hyper-GP Kh vs Th", "hypernetwork vs Th", "finite MLP vs Th",
                      "mean image vs Th"], header
    assert len(rows) == 2
    for r in rows:
        sel = c["train_images"] == float(r[0])
        for j, meth in enumerate(["Kh", "hypernet", "mlp", "mean_image"]):
            d = (c[f"mse_hidden_{meth}"][sel] - c["mse_hidden_Th"][sel]) / c["mse_hidden_Th"][sel]
            mean, rest = r[2 + j].split(" % ± ")
            assert float(mean) == pytest.approx(100 * d.mean(), rel=5.1e-3, abs=1e-9), (meth, r[2 + j], d)
            assert float(rest.split(" ")[0]) == pytest.approx(100 * d.std(ddof=1), rel=0.05, abs=1e-9)
            assert rest.endswith(f"({int(np.sum(d > 0))} of 2)")
    header, rows = read_csv(out / "rotation_accuracy.csv")
    assert header[:2] == ["width_g", "seeds"] and len(rows) == 2
    c = columns(merged / "rotation" / "results.h5")
    for r in rows:
        sel = c["width_g"] == float(r[0])
        assert sel.sum() == 2
        assert cell_mean(r[2]) == pytest.approx(np.mean(c["accuracy_test_hypernet"][sel]), rel=1e-3)
        assert cell_mean(r[3]) == pytest.approx(np.mean(c["accuracy_test_Th"][sel]), rel=1e-3)


def test_single_figure_commands(merged):
    proc = analysis("convergence", merged / "conv" / "results.h5", "--out", merged / "only")
    assert proc.returncode == 0, proc.stderr
    assert len(figure_content(merged / "only", "convergence_curves_L2_H3")) == 3
    proc = analysis("training", merged / "conv" / "results.h5", "--out", merged / "none")
    assert proc.returncode == 0 and "nothing to draw for 'training'" in proc.stdout
    for cmd, name in (("completion", "completion_examples.png"), ("inpainting", "inpainting_mse.png"),
                      ("rotation", "rotation_accuracy.png")):
        proc = analysis(cmd, merged / cmd / "results.h5", "--out", merged / f"only-{cmd}")
        assert proc.returncode == 0, proc.stderr
        assert figure_content(merged / f"only-{cmd}", name[:-4]), name     # panels with content


def test_malformed_and_missing_files(tmp_path):
    proc = analysis("report", tmp_path / "nope.h5", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "analysis: " in proc.stderr and "no such file" in proc.stderr
    (tmp_path / "junk.h5").write_text("not hdf5")
    proc = analysis("report", tmp_path / "junk.h5", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "not a readable HDF5 file" in proc.stderr
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.ones(3)
    proc = analysis("report", tmp_path / "other.h5", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "not an hksweep results file" in proc.stderr
    with h5py.File(tmp_path / "cut.h5", "w") as f:
        f.attrs["format"] = "hksweep-results-1"
        f.create_group("points")["id"] = np.array([b"a"])
    proc = analysis("report", tmp_path / "cut.h5", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "/points/status is missing" in proc.stderr


def test_partial_results_are_drawn_with_a_note(tmp_path):
    cfg = tmp_path / "div.yaml"
    cfg.write_text("experiment: kernel-convergence\nparams: {inits: 2, steps: 30, inputs: 4}\nsweep:\n"
                   "  zip: {width_f: [16, 32], width_g: [8, 16], lr_fraction: [0.25, 50]}\n")
    hk("run", cfg, "--out", tmp_path / "o", "--quiet", ranks=1, check=True)
    proc = analysis("report", tmp_path / "o" / "results.h5", "--out", tmp_path / "rep")
    assert proc.returncode == 0
    assert "partial results: 1 point diverged" in proc.stdout
    assert "partial results" in (tmp_path / "rep" / "index.html").read_text()
