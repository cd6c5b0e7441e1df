"""Malformed and invalid configs: exit 2, a message naming file:line:column
and the key, and nothing written (for `run` as well as `plan`)."""
import pytest

from conftest import hk

GOOD = "experiment: hyperkernel-regression\n"

CASES = [
    # (name, text, line, words that must appear)
    ("yaml syntax", "experiment: hyperkernel-regression\nparams: {dx: 3\n", 3, ["not valid YAML"]),
    ("empty file", "", 1, ["empty config"]),
    ("top level list", "- experiment\n- params\n", 1, ["top level", "expected a mapping"]),
    ("missing experiment", "params: {dx: 3}\n", 1, ["experiment: missing"]),
    ("unknown experiment", "experiment: hyperkernel-regresion\n", 1, ["experiment", "unknown kind 'hyperkernel-regresion'"]),
    ("unknown top key", GOOD + "parms: {dx: 3}\n", 2, ["parms", "unknown top-level key"]),
    ("unknown param", GOOD + "params:\n  dx: 3\n  depht_f: 2\n", 4, ["params.depht_f", "unknown parameter"]),
    ("string for int", GOOD + "params:\n  depth_f: two\n", 3, ["params.depth_f", "expected an integer", "'two'"]),
    ("real for int", GOOD + "params:\n  depth_g: 2.5\n", 3, ["params.depth_g", "expected an integer"]),
    ("out of range", GOOD + "params:\n  depth_g: 0\n", 3, ["params.depth_g", "[1, 64]", "got 0"]),
    ("negative ridge", GOOD + "params:\n  ridge: -1\n", 3, ["params.ridge", "a number in [0"]),
    ("bad choice", GOOD + "params:\n  z_embedding: wavelet\n", 3, ["params.z_embedding", "none|fourier", "'wavelet'"]),
    ("bad list item", GOOD + "params:\n  kernels: [Th, NTK]\n", 3, ["params.kernels", "item 'NTK'"]),
    ("bool", GOOD + "params:\n  snapshot: maybe\n", 3, ["params.snapshot", "true or false"]),
    ("params not mapping", GOOD + "params: [1, 2]\n", 2, ["params", "expected a mapping"]),
    ("duplicate key", GOOD + "params:\n  dx: 3\n  dx: 4\n", 4, ["dx", "appears twice", "line 3"]),
    ("grid not list", GOOD + "sweep:\n  grid:\n    depth_f: 3\n", 4, ["sweep.grid.depth_f", "expected a list"]),
    ("grid empty", GOOD + "sweep:\n  grid:\n    depth_f: []\n", 4, ["sweep.grid.depth_f", "non-empty"]),
    ("grid bad value", GOOD + "sweep:\n  grid:\n    depth_f: [1, x]\n", 4, ["sweep.grid.depth_f", "expected an integer", "'x'"]),
    ("grid unknown key", GOOD + "sweep:\n  grid:\n    width: [1, 2]\n", 4, ["sweep.grid.width", "unknown parameter"]),
    ("zip lengths", GOOD + "sweep:\n  zip:\n    distinct_x: [1, 2]\n    samples_per_x: [1, 2, 3]\n", 5,
     ["sweep.zip.samples_per_x", "has 3 values", "same length"]),
    ("grid and zip", GOOD + "sweep:\n  grid:\n    dx: [1, 2]\n  zip:\n    dx: [3, 4]\n", 6, ["sweep.zip.dx", "already swept"]),
    ("seeds bad", GOOD + "sweep:\n  seeds: [1, -2]\n", 3, ["sweep.seeds", "got -2"]),
    ("seeds twice", GOOD + "sweep:\n  seeds: [3, 3]\n", 3, ["sweep.seeds", "seed 3 appears twice"]),
    ("sweep unknown", GOOD + "sweep:\n  grids: {dx: [1]}\n", 3, ["sweep.grids", "expected grid, zip or seeds"]),
    ("list swept", GOOD + "sweep:\n  grid:\n    kernels: [Th, Kh]\n", 4, ["sweep.grid.kernels", "cannot be swept"]),
    ("two documents", GOOD + "---\nexperiment: hyperkernel-regression\n", 3, ["second YAML document"]),
    ("name with a path", GOOD + "name: ../../etc\n", 2, ["name: '../../etc' is not a plain file name"]),
    ("name absolute", GOOD + "name: /tmp/x\n", 2, ["not a plain file name"]),
    ("name hidden", GOOD + "name: .hidden\n", 2, ["not a plain file name"]),
    ("too many points", GOOD + "sweep:\n  grid:\n" + "".join(f"    {k}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        for k in ("dx", "dz", "distinct_x", "samples_per_x", "test_distinct_x")) + "  seeds: 100000\n", 3,
     ["sweep: expands to 10000000000 points, more than the limit of", "at most 1 GiB of points"]),
    ("deep nesting", GOOD + "params:\n  kernels: " + "[" * 100000 + "\n", 3, ["nested more than 64 levels deep"]),
]


@pytest.mark.parametrize("name,text,line,words", CASES, ids=[c[0] for c in CASES])
def test_config_error(tmp_path, name, text, line, words):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    for args in (["plan", cfg], ["run", cfg, "--out", out]):
        proc = hk(*args)
        assert proc.returncode == 2, f"{name}: exit {proc.returncode}\n{proc.stderr}"
        msg = proc.stderr.strip().splitlines()[0]
        assert msg.startswith(f"hksweep: {cfg}:{line}:"), f"{name}: wrong location in: {msg}"
        for w in words:
            assert w in msg, f"{name}: '{w}' missing from: {msg}"
        assert proc.stdout == "", f"{name}: printed output before failing"
        assert not out.exists(), f"{name}: wrote {out}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_bounds_are_checked_quickly(tmp_path):
    """The configs that once took minutes and gigabytes (a sweep of 10^13 points,
    100,000 nested brackets) are refused in well under a second of work."""
    import time
    for name, text in (("points", GOOD + "sweep:\n  grid:\n" + "".join(f"    {k}: [{', '.join(map(str, range(1, 11)))}]\n"
                                for k in ("dx", "dz", "distinct_x")) + "  seeds: 100000\n"),
                       ("nesting", GOOD + "params:\n  kernels: " + "[" * 100000 + "\n")):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(text)
        t0 = time.monotonic()
        proc = hk("plan", cfg)
        assert proc.returncode == 2 and time.monotonic() - t0 < 5, (name, proc.stderr)


def test_oversized_config_is_refused(tmp_path):
    cfg = tmp_path / "big.yaml"
    cfg.write_text(GOOD + "# " + "x" * (1 << 20) + "\n")
    proc = hk("plan", cfg)
    assert proc.returncode == 2 and "a config is at most 1048576 bytes" in proc.stderr, proc.stderr


def test_missing_config_file(tmp_path):
    proc = hk("run", tmp_path / "nope.yaml", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "nope.yaml: cannot open: No such file or directory" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,message", [
    (["run", "--shard", "3/3"], "need 0 <= I < N"),
    (["run", "--shard", "a/b"], "expected I/N"),
    (["run", "--bogus"], "unknown option '--bogus'"),
    (["plan"], "which CONFIG?"),
    (["plan", "x.yaml", "--ranks", "0"], "--ranks expects an integer in [1, 10000000], got '0'"),
    (["merge"], "which directories?"),
    (["frobnicate"], "unknown command 'frobnicate'"),
])
def test_bad_arguments(tmp_path, args, message):
    proc = hk(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_every_command_has_help():
    for cmd in ("run", "plan", "merge", "inspect", "kernel"):
        proc = hk(cmd, "--help")
        assert proc.returncode == 0 and "usage: hksweep " + cmd in proc.stdout, cmd


def test_repeated_value_gives_duplicate_points(tmp_path):
    cfg = tmp_path / "dup.yaml"
    cfg.write_text(GOOD + "sweep:\n  grid:\n    dx: [3, 3]\n")
    proc = hk("run", cfg, "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "points 0 and 1 have identical parameters" in proc.stderr
    assert not (tmp_path / "out").exists()
