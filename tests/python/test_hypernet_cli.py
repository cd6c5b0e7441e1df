"""Finite hypernetworks through the real binary: the empirical NTK against an
independent numpy evaluation of the analytic hyperkernel (Monte Carlo), the
convergence experiment's one-sided and dually wide cells, and independence of
the number of ranks."""
import h5py
import numpy as np
import pytest

from conftest import hk, read_results
from kernel_reference import kernels


# f's width sets an O(1/n) bias (about 4 % at n = 1024, 1 % at n = 4096 for this
# batch) and the seed-mean's standard error is about dispersion / sqrt(seeds):
# n = 4096, m = 256 with 100 seeds puts the expected error near 2 %.
MC_WIDTH_F, MC_WIDTH_G, MC_SEEDS = 4096, 256, 100


def batch(path, n=6, dx=4, dz=2, seed=1):
    """n inputs with distinct x (norm^2 = dx) and distinct z."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dx))
    x *= np.sqrt(dx) / np.linalg.norm(x, axis=1, keepdims=True)
    z = rng.uniform(-1, 1, size=(n, dz))
    with h5py.File(path, "w") as f:
        f["x"], f["z"] = x, z
    return x, z


def ntk_error(tmp_path, x, z, n, m, seeds, seed0=1):
    out = tmp_path / f"ntk_{n}_{m}.h5"
    hk("ntk", "--in", tmp_path / "in.h5", "--out", out, "--width-f", n, "--width-g", m, "--depth-f", 2,
       "--depth-g", 3, "--seeds", seeds, "--seed0", seed0, ranks=2, timeout=900, check=True)
    th = kernels(x, z, 2, 3)["Th"]
    with h5py.File(out) as f:
        mean, all_seeds, h = f["Th_mean"][...], f["Th_seeds"][...], f["h_seeds"][...]
    assert all_seeds.shape == (seeds, len(x), len(x)) and h.shape == (seeds, len(x))
    assert np.allclose(mean, all_seeds.mean(0), rtol=1e-12)
    return np.linalg.norm(mean - th) / np.linalg.norm(th)


def test_empirical_ntk_converges_to_the_hyperkernel(tmp_path):
    x, z = batch(tmp_path / "in.h5")
    err_wide = ntk_error(tmp_path, x, z, MC_WIDTH_F, MC_WIDTH_G, MC_SEEDS)
    err_narrow = ntk_error(tmp_path, x, z, 128, 32, MC_SEEDS)
    assert err_wide < 0.05, f"seed-mean NTK at n={MC_WIDTH_F}, m={MC_WIDTH_G} is {err_wide:.3f} from Th"
    assert err_wide < err_narrow, (err_wide, err_narrow)


def test_ntk_does_not_depend_on_the_number_of_ranks(tmp_path):
    batch(tmp_path / "in.h5", n=5)
    files = []
    for ranks in (1, 2, 4):
        out = tmp_path / f"r{ranks}.h5"
        hk("ntk", "--in", tmp_path / "in.h5", "--out", out, "--width-f", 48, "--width-g", 24, "--seeds", 7,
           ranks=ranks, check=True)
        with h5py.File(out) as f:
            files.append((f["Th_seeds"][...], f["h_seeds"][...]))
    for th, h in files[1:]:
        assert np.array_equal(th, files[0][0]) and np.array_equal(h, files[0][1])


def convergence_config(tmp_path, cells, inits, steps, team):
    lines = ["experiment: kernel-convergence",
             f"params: {{inits: {inits}, steps: {steps}, team_size: {team}, inputs: 6}}",
             "sweep:", "  zip:",
             f"    width_f: [{', '.join(str(c[0]) for c in cells)}]",
             f"    width_g: [{', '.join(str(c[1]) for c in cells)}]"]
    path = tmp_path / f"conv-{team}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def by_widths(path):
    return {(int(r["param"]["width_f"]), int(r["param"]["width_g"])): r for r in read_results(path).values()}


def test_dispersion_falls_only_when_both_widths_grow(tmp_path):
    cells = [(2048, 8), (16, 512), (2048, 512)]
    cfg = convergence_config(tmp_path, cells, inits=8, steps=0, team=2)
    hk("run", cfg, "--out", tmp_path / "out", ranks=2, timeout=900, check=True)
    rows = by_widths(tmp_path / "out" / "results.h5")
    wide = rows[(2048, 512)]["metric"]["ntk_dispersion"]
    for cell in [(2048, 8), (16, 512)]:
        one_sided = rows[cell]["metric"]["ntk_dispersion"]
        assert one_sided > 3 * wide, f"dispersion at {cell} is {one_sided:.3f}, at (2048, 512) {wide:.3f}"
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        pid = [k for k in f["arrays"]][0]
        assert f["arrays"][pid]["ntk_init"].shape == (8, 6, 6)
        assert f["arrays"][pid]["Th"].shape == (6, 6)


def test_training_moves_the_ntk_less_when_both_are_wide(tmp_path):
    cells = [(1024, 8), (16, 256), (1024, 256)]
    cfg = convergence_config(tmp_path, cells, inits=4, steps=20, team=1)
    hk("run", cfg, "--out", tmp_path / "out", ranks=2, timeout=900, check=True)
    rows = by_widths(tmp_path / "out" / "results.h5")
    wide = rows[(1024, 256)]["metric"]["ntk_change"]
    assert all(rows[c]["metric"]["ntk_change"] > 2 * wide for c in [(1024, 8), (16, 256)]), \
        {c: r["metric"]["ntk_change"] for c, r in rows.items()}
    assert all(r["metric"]["train_loss_final"] < 1 for r in rows.values())


def test_convergence_results_do_not_depend_on_ranks(tmp_path):
    cells = [(32, 16), (64, 8)]
    results = []
    for ranks, team in ((1, 1), (2, 2), (4, 4), (4, 1)):
        cfg = convergence_config(tmp_path, cells, inits=5, steps=3, team=team)
        out = tmp_path / f"o{ranks}-{team}"
        hk("run", cfg, "--out", out, ranks=ranks, check=True)
        results.append(by_widths(out / "results.h5"))
    for other in results[1:]:
        for cell, row in results[0].items():
            for key in ("ntk_dispersion", "ntk_distance", "ntk_change", "gp_distance", "train_loss_final"):
                assert row["metric"][key] == other[cell]["metric"][key], (cell, key)


def test_divergence_is_recorded(tmp_path):
    cfg = tmp_path / "div.yaml"
    cfg.write_text("experiment: kernel-convergence\nparams: {width_f: 32, width_g: 16, inits: 2, steps: 30, "
                   "lr_fraction: 50}\n")
    proc = hk("run", cfg, "--out", tmp_path / "o", ranks=1, check=True)
    (row,) = read_results(tmp_path / "o" / "results.h5").values()
    assert row["status"] == "diverged" and row["metric"]["diverged_inits"] == 2
    assert row["metric"]["first_divergence_step"] >= 0
    with h5py.File(tmp_path / "o" / "results.h5") as f:
        assert "diverged at step" in f["points/reason"].asstr()[0]
    assert "FAILED" in proc.stdout and "diverged: diverged at step" in proc.stdout


def test_builtin_quickstart_shows_convergence_only_when_both_are_wide(tmp_path):
    proc = hk("run", "--out", tmp_path / "qs", "--quiet", ranks=2, timeout=600, check=True)
    assert "summary (mean +- std over seeds" in proc.stdout
    rows = read_results(tmp_path / "qs" / "results.h5")
    assert len(rows) == 18 and all(r["status"] == "ok" for r in rows.values())
    disp = {}
    for r in rows.values():
        key = (int(r["param"]["width_f"]), int(r["param"]["width_g"]))
        disp.setdefault(key, []).append(r["metric"]["ntk_dispersion"])
    mean = {k: np.mean(v) for k, v in disp.items()}
    assert mean[(512, 128)] < 0.5 * min(mean[(512, 8)], mean[(16, 128)])
    assert mean[(16, 8)] > mean[(128, 32)] > mean[(512, 128)]


TRAINING = """
experiment: hypernet-training
params: {{dx: 4, z_embedding: fourier, embedding_width: 32, embedding_lengthscale: 1.0, distinct_x: 40,
          samples_per_x: 10, test_distinct_x: 10, test_samples_per_x: 10, epochs: 8, width_f: 64, width_g: 32,
          batch_size: 50, depth_f: 1, depth_g: 2, lr: {lr}, team_size: {team}, optimizer: {opt}}}
"""


def train(tmp_path, name, ranks=1, team=1, lr=0.2, opt="sgd"):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(TRAINING.format(lr=lr, team=team, opt=opt))
    proc = hk("run", cfg, "--out", tmp_path / name, ranks=ranks, check=True)
    (row,) = read_results(tmp_path / name / "results.h5").values()
    with h5py.File(tmp_path / name / "results.h5") as f:
        (arrays,) = f["arrays"].values()
        curves = {k: arrays[k][...] for k in arrays}
    return row, curves, proc


def test_training_learns_and_records_its_curve(tmp_path):
    row, curves, _ = train(tmp_path, "sgd")
    m = row["metric"]
    assert row["status"] == "ok"
    assert curves["train_mse_per_epoch"].shape == (9,) and curves["test_mse_per_epoch"].shape == (9,)
    assert curves["train_mse_per_epoch"][-1] < 0.5 * curves["train_mse_per_epoch"][0]
    assert m["mse_test_final"] < 0.8 * m["mse_test_mean_predictor"]
    assert m["mse_test_final"] == curves["test_mse_per_epoch"][-1]
    gd, gd_curves, _ = train(tmp_path, "gd", opt="gd", lr=0.5)
    assert gd["metric"]["steps"] == 8    # one full-batch step per epoch
    assert gd_curves["train_mse_per_epoch"][-1] < 0.8 * gd_curves["train_mse_per_epoch"][0]


def test_data_parallel_training_matches_one_rank(tmp_path):
    one, c1, _ = train(tmp_path, "one")
    two, c2, _ = train(tmp_path, "two", ranks=2, team=2)
    # the gradient sum is split differently over ranks: equal up to rounding
    assert np.allclose(c1["test_mse_per_epoch"], c2["test_mse_per_epoch"], rtol=1e-8)


def test_training_divergence_is_recorded_with_its_step(tmp_path):
    row, curves, proc = train(tmp_path, "div", lr=1e6)
    assert row["status"] == "diverged" and row["metric"]["divergence_step"] >= 0
    assert np.isnan(curves["test_mse_per_epoch"][-1])
