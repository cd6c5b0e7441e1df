"""The sweep runner end to end: results, provenance, resume, signals, shards,
snapshots and failures, all through the real binary under mpirun."""
import glob
import os
import signal
import time
import subprocess

import h5py
import numpy as np
import pytest

from conftest import ENV, HKSWEEP, MPIRUN, SMALL_SWEEP, assert_same_results, hk, popen, read_results


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run of the small sweep on 1 rank."""
    d = tmp_path_factory.mktemp("ref")
    cfg = d / "small.yaml"
    cfg.write_text(SMALL_SWEEP.replace("{team}", "1"))
    proc = hk("run", cfg, "--out", d / "out", ranks=1, check=True)
    return cfg, d / "out", read_results(d / "out" / "results.h5"), proc


def test_results_rows_and_values(reference):
    cfg, out, rows, proc = reference
    assert len(rows) == 8
    for pid, r in rows.items():
        assert r["status"] == "ok"
        m = r["metric"]
        assert m["n_train"] == r["param"]["distinct_x"] * 6
        assert np.isfinite(m["mse_test_Th"]) and np.isfinite(m["mse_test_Tmlp"])
        assert m["time_gram_Th"] >= 0 and m["peak_rss_bytes_max_rank"] > 1e6
        # the default solver is mixed precision, and it converged (no float64 fallback) on these Gram matrices
        assert r["param"]["solver"] == "mixed" and 0 <= m["refine_steps_Th"] <= 30 and 0 <= m["refine_steps_Tmlp"] <= 30
    # on this hypernetwork-shaped task the hyperkernel beats predicting the mean
    big = [r for r in rows.values() if r["param"]["distinct_x"] == 30]
    assert len(big) == 4
    assert all(r["metric"]["mse_test_Th"] < 0.6 * r["metric"]["mse_test_mean_predictor"] for r in big)
    assert "[8/8] ok" in proc.stdout and "about" in proc.stdout and "left" in proc.stdout


def test_provenance(reference):
    _, out, _, _ = reference
    with h5py.File(out / "results.h5") as f:
        runs = list(f["provenance"])
        assert len(runs) == 1
        p = f["provenance"][runs[0]].attrs
        for key in ("git_commit", "host", "mpi_library", "hdf5_version", "libyaml_version", "blas_core",
                    "config_text", "scalapack"):
            assert len(p[key]) > 0, key
        assert "hyperkernel-regression" in p["config_text"]
        assert p["dgemm_gflops_per_rank"] > 0.1
        assert p["blas_threads_per_rank"] == 1
        assert p["mpi_world_size"] == 1
        assert set(f["points/team_size"][...]) == {1}
        assert all((r.decode() if isinstance(r, bytes) else r) == runs[0] for r in f["points/run"][...])


def test_one_node_mpi_transports(tmp_path):
    """Every rank on this node (mpirun, or a singleton): hksweep sets Open MPI's shared-memory transports before
    MPI_Init, which skips 0.2 s of probing network transports, and records it; the user's --mca (which mpirun
    passes as OMPI_MCA_*), the user's MCA parameter file and HKSWEEP_MPI_ONE_NODE=0 leave the choice to Open MPI.
    (tests/test_launch.c takes the launches one machine cannot start: several nodes, srun.)"""
    cfg = tmp_path / "one.yaml"
    cfg.write_text("experiment: hyperkernel-regression\nparams: {distinct_x: 5, samples_per_x: 4}\n")
    # the launch environment of a plain shell on this machine, whatever runs the tests (srun sets PMIX_RANK)
    env = {k: v for k, v in ENV.items()
           if not k.startswith(("OMPI_MCA_", "PMIX_", "PMI_", "OMPI_COMM_WORLD_")) and k != "HKSWEEP_MPI_ONE_NODE"}
    home = tmp_path / "home"
    (home / ".openmpi").mkdir(parents=True)
    (home / ".openmpi" / "mca-params.conf").write_text("# the user's own choice\n  btl = self,vader,tcp\n")
    mpirun = [MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np", "2"]
    # verbose selection (parameters other than pml and btl themselves): which components Open MPI loads
    verbose = ["--mca", "pml_base_verbose", "10", "--mca", "btl_base_verbose", "10"]
    ours = "pml=ob1 btl=self,vader (one node: set by hksweep)"
    cases = [("singleton", [], {}, ours),
             ("2 ranks", mpirun + verbose, {}, ours),
             ("--mca", mpirun + verbose + ["--mca", "btl", "self,vader,tcp"], {},
              "pml=default btl=self,vader,tcp (set by the user)"),
             ("mca file", mpirun + verbose, {"HOME": str(home)},
              "pml=default btl=default (the user's MCA parameter file)"),
             ("opt out", mpirun + verbose, {"HKSWEEP_MPI_ONE_NODE": "off"},
              "pml=default btl=default (HKSWEEP_MPI_ONE_NODE=0)")]
    for name, launch, extra, want in cases:
        out = tmp_path / name.replace(" ", "_")
        proc = subprocess.run([*launch, HKSWEEP, "run", cfg, "--out", out, "--quiet"], capture_output=True,
                              text=True, env=dict(env, **extra), timeout=120)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        with h5py.File(out / "results.h5") as f:
            (run,) = f["provenance"].values()
            assert run.attrs["mpi_transports"] == want, name
            assert run.attrs["mpi_world_size"] == (1 if name == "singleton" else 2), name
        if "pml_base_verbose" in launch:
            # what reached MPI_Init: ours loads no TCP transport and no cm PML; the user's choices (their btl
            # with tcp, their file's) and the opt-out are Open MPI's own selection, which loads both
            loaded = {line.split("found loaded component ")[1].strip() for line in proc.stdout.splitlines() +
                      proc.stderr.splitlines() if "components_open: found loaded component" in line}
            assert "ob1" in loaded and "vader" in loaded, (name, loaded)
            theirs = name != "2 ranks"
            assert ("tcp" in loaded) == theirs and ("cm" in loaded) == theirs, (name, loaded)


def test_two_ranks_one_team_gives_same_results(reference, small_config, tmp_path):
    _, _, rows, _ = reference
    proc = hk("run", small_config(team=2), "--out", tmp_path / "o2", ranks=2, check=True)
    assert "longest first" not in proc.stdout      # one team: the sweep's order, nothing to balance
    assert proc.stdout.index("point 0 ") < proc.stdout.index("point 7 ")
    got = read_results(tmp_path / "o2" / "results.h5")
    assert_same_results(got, rows, rtol=1e-8)
    with h5py.File(tmp_path / "o2" / "results.h5") as f:
        assert set(f["points/team_size"][...]) == {2}


def test_float64_solver_gives_the_mixed_results(reference, small_config, tmp_path):
    """solver: float64 factors in float64 (refinement steps -1) and gives what the default, mixed precision
    refined to float64's accuracy, gives: the same points (solver is not part of the id), the same MSEs to 1e-8"""
    _, _, rows, _ = reference
    cfg = small_config(team=1)
    cfg.write_text(cfg.read_text().replace("  kernels: [Th, Tmlp]", "  kernels: [Th, Tmlp]\n  solver: float64"))
    hk("run", cfg, "--out", tmp_path / "f64", ranks=1, check=True)
    got = read_results(tmp_path / "f64" / "results.h5")
    assert_same_results(got, rows, rtol=1e-8)
    for r in got.values():
        assert r["param"]["solver"] == "float64"
        assert r["metric"]["refine_steps_Th"] == -1 and r["metric"]["refine_steps_Tmlp"] == -1


def test_four_ranks_two_teams(reference, small_config, tmp_path):
    _, _, rows, _ = reference
    hk("run", small_config(team=2), "--out", tmp_path / "o4", ranks=4, check=True)
    assert_same_results(read_results(tmp_path / "o4" / "results.h5"), rows)


def test_several_teams_take_the_longest_points_first(reference, small_config, tmp_path):
    """with two teams of one rank, the points go out largest first (the 30-x points, N = 180, before the
    10-x ones, N = 60): the order is printed, covers every point once, and the results are the reference's"""
    _, _, rows, _ = reference
    proc = hk("run", small_config(team=1), "--out", tmp_path / "o", ranks=2, check=True)
    line = [l for l in proc.stdout.splitlines() if "longest first" in l]
    assert len(line) == 1, proc.stdout
    order = [int(w) for w in line[0].split(": point", 1)[1].split()]
    with h5py.File(tmp_path / "o" / "results.h5") as f:
        index = f["points/index"][...]
        distinct = dict(zip(index, f["points/param/distinct_x"][...]))
    assert sorted(order) == sorted(index) and len(order) == 8
    sizes = [distinct[i] for i in order]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 30 and sizes[-1] == 10, (order, sizes)
    assert_same_results(read_results(tmp_path / "o" / "results.h5"), rows)


def test_refuses_to_reuse_a_directory(reference, tmp_path):
    cfg, out, _, _ = reference
    before = (out / "results.h5").read_bytes()
    proc = hk("run", cfg, "--out", out, ranks=1)
    assert proc.returncode == 2
    assert "already holds 8 finished points" in proc.stderr and "--resume" in proc.stderr
    assert (out / "results.h5").read_bytes() == before
    proc = hk("run", cfg, "--out", out, "--resume", ranks=1, check=True)
    assert "0 to run, 8 already finished" in proc.stdout


def slow_config(tmp_path):
    # 12 points; the signals are raised by the run itself after K stored points
    # (HKSWEEP_TEST_SIGNAL), so the points need not be slow
    text = SMALL_SWEEP.replace("distinct_x: [10, 30]", "distinct_x: [60, 80]").replace("{team}", "1")
    text = text.replace("seeds: [1, 2]", "seeds: [1, 2, 3]")
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(text)
    return cfg


def test_killed_run_resumes_to_the_same_results(tmp_path):
    cfg = slow_config(tmp_path)
    hk("run", cfg, "--out", tmp_path / "full", ranks=1, check=True)
    full = read_results(tmp_path / "full" / "results.h5")
    out = tmp_path / "killed"
    # SIGKILL, raised by the run itself right after its third point is stored:
    # no time for any handler, and no race with the test
    env = dict(ENV, HKSWEEP_TEST_SIGNAL="3:9")
    proc = subprocess.run([HKSWEEP, "run", cfg, "--out", out], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    finished = len(glob.glob(str(out / "points" / "*.h5")))
    assert finished == 3
    assert not (out / "results.h5").exists()
    for path in glob.glob(str(out / "points" / "*.h5")):
        with h5py.File(path) as f:
            assert f.attrs["status"] == "ok"
    resumed = hk("run", cfg, "--out", out, "--resume", ranks=1, check=True)
    assert f"{len(full) - finished} to run, {finished} already finished" in resumed.stdout
    assert_same_results(read_results(out / "results.h5"), full)


def test_sigterm_on_one_rank_keeps_finished_points(tmp_path):
    cfg = slow_config(tmp_path)
    out = tmp_path / "term"
    # rank 1 receives SIGTERM right after it stores its first point, as a
    # node-local kill would deliver it to one rank only
    env = dict(ENV, HKSWEEP_TEST_SIGNAL="1:15:1")
    cmd = [MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np", "2", HKSWEEP, "run", cfg, "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "interrupted by signal 15" in proc.stderr and "--resume" in proc.stderr, proc.stderr
    assert "unknown error" not in proc.stderr, proc.stderr
    points = glob.glob(str(out / "points" / "*.h5"))
    assert not glob.glob(str(out / "points" / ".*")), "temporary files left behind"
    for path in points:
        with h5py.File(path) as f:
            assert f.attrs["status"] == "ok"
    rows = read_results(out / "results.h5")
    assert 1 <= len(rows) == len(points) < 12
    hk("run", cfg, "--out", out, "--resume", ranks=2, check=True)
    resumed = read_results(out / "results.h5")
    assert len(resumed) == 12 and all(r["status"] == "ok" for r in resumed.values())
    hk("run", cfg, "--out", tmp_path / "full", ranks=2, check=True)
    assert_same_results(resumed, read_results(tmp_path / "full" / "results.h5"))


def test_shards_partition_and_merge(reference, tmp_path):
    cfg, _, rows, _ = reference
    ids = []
    for i in range(3):
        plan = hk("plan", cfg, "--shard", f"{i}/3", check=True).stdout
        ids += [line.split()[1] for line in plan.splitlines() if line[:1].isdigit() and len(line.split()[1]) == 16]
        hk("run", cfg, "--out", tmp_path / f"s{i}", "--shard", f"{i}/3", ranks=1, check=True)
    assert sorted(ids) == sorted(rows)
    proc = hk("merge", tmp_path / "s0", tmp_path / "s1", tmp_path / "s2", "--out", tmp_path / "all.h5", check=True)
    assert "merged 8 points from 3 directories" in proc.stdout
    merged = read_results(tmp_path / "all.h5")
    assert_same_results(merged, rows)
    with h5py.File(tmp_path / "all.h5") as f:
        assert len(f["provenance"]) == 3


def test_snapshot_written_collectively_and_linked(small_config, tmp_path):
    text = SMALL_SWEEP.replace("ridge: 1.0e-3", "ridge: 1.0e-3\n  snapshot: true").replace("{team}", "2")
    text = text.replace("depth_g: [2, 3]", "depth_g: [3]").replace("seeds: [1, 2]", "seeds: [1]")
    grams = {}
    for ranks in (1, 2):
        cfg = tmp_path / f"snap{ranks}.yaml"
        cfg.write_text(text)
        out = tmp_path / f"snap{ranks}"
        hk("run", cfg, "--out", out, ranks=ranks, check=True)
        with h5py.File(out / "results.h5") as f:
            for pid in f["snapshots"]:
                th = f["snapshots"][pid]["Th"][...]
                n = f["points/metric/n_train"][list(f["points/id"].asstr()[...]).index(pid)]
                assert th.shape == (n, n)
                assert np.array_equal(th, th.T)
                tmlp = f["snapshots"][pid]["Tmlp"][...] if "Tmlp" in f["snapshots"][pid] else None
                assert tmlp is None or not np.allclose(th, tmlp), "Th and Tmlp snapshots are the same matrix"
                assert np.linalg.eigvalsh(th).min() > -1e-10 * np.abs(th).max()
                grams[(ranks, pid)] = th
    assert len(grams) == 4
    for (ranks, pid), th in grams.items():
        assert np.array_equal(th, grams[(1, pid)]), "snapshot depends on the number of ranks"


def test_jitter_rescues_a_singular_gram(tmp_path):
    cfg = tmp_path / "sing.yaml"
    # H = 1 without embedding: Th = Tf(x,x') z.z'/dz has rank <= 5 * dz < N
    cfg.write_text("experiment: hyperkernel-regression\nparams: {depth_g: 1, dz: 1, dx: 3, distinct_x: 5, "
                   "samples_per_x: 10, ridge: 0, team_size: 1}\n")
    hk("run", cfg, "--out", tmp_path / "o", ranks=1, check=True)
    (row,) = read_results(tmp_path / "o" / "results.h5").values()
    # float32 cannot factor it either: mixed precision falls back to float64 (steps -1), which adds the jitter
    assert row["status"] == "ok" and row["metric"]["jitter_Th"] > 0 and row["metric"]["refine_steps_Th"] == -1


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    cfg = tmp_path / "fail.yaml"
    cfg.write_text("experiment: hyperkernel-regression\nparams: {dx: 2, test_distinct_x: 2, test_samples_per_x: 2}\n"
                   "sweep:\n  zip:\n    distinct_x: [10, 1000000]\n    samples_per_x: [5, 100]\n")
    proc = hk("run", cfg, "--out", tmp_path / "o", ranks=1, check=True)
    assert "FAILED" in proc.stdout and "(1 failed)" in proc.stdout
    rows = read_results(tmp_path / "o" / "results.h5")
    statuses = sorted(r["status"] for r in rows.values())
    assert statuses == ["failed", "ok"]
    with h5py.File(tmp_path / "o" / "results.h5") as f:
        reasons = list(f["points/reason"].asstr()[...])
    # N = 10^8: the Gram matrix alone is 8 x 10^16 bytes; refused by plan's prediction before it starts
    assert any("out of memory: the point needs" in r and "GB per rank" in r for r in reasons), reasons


def test_plan_predicts_memory_and_time(tmp_path):
    proc = hk("plan", "--list", "hyperkernel-regression", check=True)
    assert "depth_f" in proc.stdout and "not part of the point id" in proc.stdout
    cfg = tmp_path / "big.yaml"
    cfg.write_text("experiment: hyperkernel-regression\nparams: {distinct_x: 500, samples_per_x: 20, dx: 784}\n")
    out = hk("plan", cfg, "--ranks", "2", check=True).stdout
    assert "rates measured now" in out
    row = [l for l in out.splitlines() if l.startswith("0 ")][0].split()
    # N = 10,000 on a 1 x 2 grid: each rank holds 10,000 x 5,000 doubles = 400 MB of Gram matrix, and with
    # the default mixed-precision solver its float32 copy, 200 MB more
    mem = float(row[3]) * {"MB": 1e6, "GB": 1e9}[row[4]]
    assert 600e6 <= mem < 700e6
    assert float(row[5]) == pytest.approx(10000**3 / 3 / 1e9, rel=0.01)
    cfg.write_text(cfg.read_text().replace("dx: 784}", "dx: 784, solver: float64}"))
    out = hk("plan", cfg, "--ranks", "2", check=True).stdout
    row64 = [l for l in out.splitlines() if l.startswith("0 ")][0].split()
    mem = float(row64[3]) * {"MB": 1e6, "GB": 1e9}[row64[4]]
    assert 400e6 <= mem < 500e6


def test_inspect_results(reference):
    _, out, _, _ = reference
    text = hk("inspect", out / "results.h5", check=True).stdout
    assert "hksweep-results-1" in text and "points: 8 (8 ok, 0 failed)" in text and "runs: " in text
    proc = hk("inspect", out / "nope.h5")
    assert proc.returncode == 2 and "cannot open as HDF5" in proc.stderr


def test_generic_blas_core_is_reported_and_warned(tmp_path):
    cfg = tmp_path / "one.yaml"
    cfg.write_text("experiment: hyperkernel-regression\nparams: {distinct_x: 5, samples_per_x: 4}\n")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OPENBLAS_CORETYPE="Prescott")
    proc = subprocess.run([HKSWEEP, "run", cfg, "--out", tmp_path / "o"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "generic 'Prescott' kernels" in proc.stderr and "OPENBLAS_CORETYPE=" in proc.stderr
    with h5py.File(tmp_path / "o" / "results.h5") as f:
        (run,) = f["provenance"].values()
        assert run.attrs["blas_core"] == "Prescott"
        assert run.attrs["blas_generic_fallback"] == 1
        assert run.attrs["env_OPENBLAS_CORETYPE"] == "Prescott"


def test_full_disk_keeps_every_stored_point(tmp_path):
    """A sweep that fills its disk stops with a clear message; every record on
    disk stays readable; after space is freed, --resume completes the sweep."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk test needs one")
    try:
        cfg = tmp_path / "many.yaml"
        cfg.write_text("experiment: hyperkernel-regression\nparams: {distinct_x: 5, samples_per_x: 4, "
                       "test_distinct_x: 2, test_samples_per_x: 2, team_size: 1}\nsweep:\n  seeds: 200\n")
        out = disk / "out"
        proc = hk("run", cfg, "--out", out, "--quiet", ranks=2)
        assert proc.returncode != 0
        assert "No space left on device" in proc.stderr and "--resume" in proc.stderr
        assert "Segmentation" not in proc.stderr + proc.stdout
        records = glob.glob(str(out / "points" / "*.h5"))
        assert 0 < len(records) < 200
        assert not [p for p in os.listdir(out / "points") if p.startswith(".")], "temporary files left"
        for path in records:
            with h5py.File(path) as f:
                assert f.attrs["status"] == "ok"
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        done = hk("run", cfg, "--out", out, "--resume", "--quiet", ranks=2, check=True)
        assert f"{200 - len(records)} to run, {len(records)} already finished" in done.stdout
        rows = read_results(out / "results.h5")
        assert len(rows) == 200 and all(r["status"] == "ok" for r in rows.values())
    finally:
        subprocess.run(["umount", str(disk)])


def test_sigusr1_to_mpirun_stops_gracefully(tmp_path):
    """The README's way to stop an interactive run: SIGUSR1 to mpirun, which
    Open MPI forwards to every rank (SIGTERM or Ctrl-C to mpirun make it kill
    the ranks a few seconds later). Points in flight finish, every record is
    whole, the message says how to resume and nothing else."""
    cfg = tmp_path / "many.yaml"
    cfg.write_text("name: many\nexperiment: hyperkernel-regression\n"
                   "params: {dx: 4, distinct_x: 200, samples_per_x: 10, test_distinct_x: 4, test_samples_per_x: 4}\n"
                   "sweep:\n  seeds: [" + ", ".join(str(i) for i in range(1, 201)) + "]\n")
    out = tmp_path / "usr1"
    proc = popen("run", cfg, "--out", out, ranks=2)
    try:
        deadline = time.time() + 120
        while not glob.glob(str(out / "points" / "*.h5")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGUSR1)   # to mpirun, as `kill -USR1 <mpirun pid>` would
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, stdout
    assert "interrupted by signal 10" in stderr and "--resume" in stderr, stderr
    assert "unknown error" not in stderr, stderr
    points = glob.glob(str(out / "points" / "*.h5"))
    assert not glob.glob(str(out / "points" / ".*")), "temporary files left behind: a point was cut off"
    rows = read_results(out / "results.h5")
    assert 1 <= len(rows) == len(points) < 200 and all(r["status"] == "ok" for r in rows.values())


def test_signal_during_the_first_training_run_abandons_the_point(tmp_path):
    """A signal while a finite network trains its first (here only) learning
    rate abandons the point cleanly: the run used to crash (segmentation
    fault) recording the empty log of a run that never finished, and lost a
    40-minute point that way. One rank, as a point per rank runs."""
    cfg = tmp_path / "train.yaml"
    cfg.write_text("name: stoptrain\nexperiment: image-completion\n"
                   "params: {data: synthetic, train_images: 16, coords_per_image: 20, test_images: 4, width_f: 64,\n"
                   "         width_g: 16, epochs: 6000, patience: 0, lr_grid: [0.01], methods: [hypernet],\n"
                   "         uncertainty: false, validation_images: 4}\n"
                   "sweep:\n  seeds: [1]\n")
    proc = popen("run", cfg, "--out", tmp_path / "out", ranks=1)
    try:
        time.sleep(5)   # set-up takes about 1 s; 6000 epochs about 50
        assert proc.poll() is None, "the point ended before the signal: make it longer"
        proc.send_signal(signal.SIGUSR1)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Segmentation fault" not in stdout + stderr, stderr
    assert "abandoned" in stdout and "interrupted by signal 10" in stderr, stdout + stderr
    assert "1 not run" in stderr, stderr
    # the summary must not show the abandoned point as a finished one with metrics of 0
    summary = stdout.split("summary (mean +- std over seeds")[1]
    assert "(no finished point)" in summary and "mse_hidden_hypernet 0" not in summary, summary
