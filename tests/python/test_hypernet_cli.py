"""Finite hypernetworks through the real binary: the empirical NTK against an
independent numpy evaluation of the analytic hyperkernel (Monte Carlo), the
convergence experiment's one-sided and dually wide cells, and independence of
the number of ranks."""
import h5py
import numpy as np
import pytest

from conftest import hk, read_results
from kernel_reference import kernels, th_published


# The Monte Carlo check of section 8: per entry, the seed mean of the empirical
# NTK against Th, in units of its standard error (std over seeds / sqrt(seeds)).
# With g of depth 2 the generated weights are few (P = 3m), so both widths can
# be 1024 and 1000 seeds take about 30 s on 2 cores; measured here, the largest
# |z| over the 21 distinct entries was 2.4 against Th, 7.2 against Th with its
# off-diagonal entries 5 % larger, and 127 against the published variant.
MC_WIDTH_F, MC_WIDTH_G, MC_DEPTH_F, MC_DEPTH_G, MC_SEEDS = 1024, 1024, 2, 2, 1000


def batch(path, n=6, dx=4, dz=2, seed=1):
    """n inputs with distinct x (norm^2 = dx) and distinct z."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dx))
    x *= np.sqrt(dx) / np.linalg.norm(x, axis=1, keepdims=True)
    z = rng.uniform(-1, 1, size=(n, dz))
    with h5py.File(path, "w") as f:
        f["x"], f["z"] = x, z
    return x, z


@pytest.fixture(scope="module")
def monte_carlo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mc")
    x, z = batch(tmp / "in.h5")
    hk("ntk", "--in", tmp / "in.h5", "--out", tmp / "ntk.h5", "--width-f", MC_WIDTH_F, "--width-g", MC_WIDTH_G,
       "--depth-f", MC_DEPTH_F, "--depth-g", MC_DEPTH_G, "--seeds", MC_SEEDS, ranks=2, timeout=900, check=True)
    with h5py.File(tmp / "ntk.h5") as f:
        mean, seeds, h = f["Th_mean"][...], f["Th_seeds"][...], f["h_seeds"][...]
    assert seeds.shape == (MC_SEEDS, len(x), len(x)) and h.shape == (MC_SEEDS, len(x))
    assert np.allclose(mean, seeds.mean(0), rtol=1e-12, atol=0)
    return x, z, seeds, h


def z_scores(samples, reference):
    """(mean - reference) / standard error of the mean, for the distinct entries."""
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(len(samples))
    assert np.all(se > 0), "no spread across seeds: the standard error is zero"
    iu = np.triu_indices(reference.shape[0])
    return ((mean - reference) / se)[iu]


def test_empirical_ntk_mean_matches_the_hyperkernel(monte_carlo):
    x, z, seeds, _ = monte_carlo
    th = kernels(x, z, MC_DEPTH_F, MC_DEPTH_G)["Th"]
    worst = np.max(np.abs(z_scores(seeds, th)))
    assert worst < 4.0, f"an entry of the seed-mean NTK is {worst:.1f} standard errors from Th"


def test_monte_carlo_rejects_wrong_kernels(monte_carlo):
    """The same samples must reject plausible wrong answers: the published
    variant, and Th with its off-diagonal entries changed by 5 %."""
    x, z, seeds, _ = monte_carlo
    th = kernels(x, z, MC_DEPTH_F, MC_DEPTH_G)["Th"]
    published = th_published(x, z, MC_DEPTH_F, MC_DEPTH_G)
    assert np.max(np.abs(published - th)) > 0.01 * np.max(np.abs(th))   # a real difference, 2 % here
    assert np.max(np.abs(z_scores(seeds, published))) > 20
    off = th * 1.05
    off[np.diag_indices_from(off)] = np.diag(th)
    assert np.max(np.abs(z_scores(seeds, off))) > 5


def test_empirical_output_covariance_matches_the_hyper_gp(monte_carlo):
    """h at initialisation is a centred GP with kernel Kh: the covariance of the
    outputs over seeds, entry by entry, in units of its standard error."""
    x, z, _, h = monte_carlo
    kh = kernels(x, z, MC_DEPTH_F, MC_DEPTH_G)["Kh"]
    products = h[:, :, None] * h[:, None, :]          # seeds x N x N, mean Kh
    worst = np.max(np.abs(z_scores(products, kh)))
    assert worst < 4.0, f"an entry of the output covariance is {worst:.1f} standard errors from Kh"
    # plausible mistakes it must reject: generated weights of different x taken
    # as independent (no covariance across x), and the last Sf factor left out
    # (measured here: |z| up to 8.8 and 9.8)
    independent = np.diag(np.diag(kh))
    assert np.max(np.abs(z_scores(products, independent))) > 5
    sf = kernels(x, z, MC_DEPTH_F, MC_DEPTH_G)["Sf"]
    assert np.max(np.abs(z_scores(products, kh / sf))) > 5


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
    assert all(set(r) == set(cells) for r in results), [sorted(r) for r in results]
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
    assert np.allclose(c1["test_mse_per_epoch"], c2["test_mse_per_epoch"], rtol=1e-8, atol=0)


def test_training_divergence_is_recorded_with_its_step(tmp_path):
    row, curves, proc = train(tmp_path, "div", lr=1e6)
    assert row["status"] == "diverged" and row["metric"]["divergence_step"] >= 0
    assert np.isnan(curves["test_mse_per_epoch"][-1])
