"""scripts/reproduce: plans every config first, runs each with --resume,
writes each report; a second call finishes nothing twice."""
import os
import re
import shutil
import subprocess

from conftest import ENV, assert_same_results, read_results

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def reproduce(tmp_path, configs, ranks="2", options=(), results="results", published="published"):
    env = dict(ENV, HKSWEEP_REPRODUCE_CONFIGS=" ".join(map(str, configs)), HKSWEEP_PUBLISHED=str(tmp_path / published),
               HKSWEEP_RESULTS=str(tmp_path / results), HKSWEEP_REPORT=str(tmp_path / "report"))
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "reproduce"), *options, ranks], capture_output=True,
                          text=True, env=env, timeout=300)


def test_reproduce_plans_runs_resumes_and_reports(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("name: repro-a\nexperiment: hyperkernel-regression\n"
                 "params: {dx: 4, distinct_x: 10, samples_per_x: 4, test_distinct_x: 4, test_samples_per_x: 4}\n"
                 "sweep:\n  seeds: [1, 2, 3]\n")
    b = tmp_path / "b.yaml"
    b.write_text("name: repro-b\nexperiment: dynamics-convergence\n"
                 "params: {dx: 4, distinct_x: 8, samples_per_x: 2, test_distinct_x: 4, test_samples_per_x: 2,\n"
                 "         depth_f: 1, depth_g: 2, steps: 8, width_f: 32, width_g: 8, team_size: 1}\n"
                 "sweep:\n  seeds: [1, 2]\n")
    first = reproduce(tmp_path, [a, b])
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    # the plan of both comes before any run, with the total
    plan_at, run_at = out.index("== plan on 2 rank(s)"), out.index("== [1/2]")
    assert plan_at < run_at and out.index("predicted in all:") < run_at
    assert re.search(r"a\.yaml +3 points;.*predicted [0-9.e+-]+ s on 2 ranks", out)
    assert re.search(r"b\.yaml +2 points;", out)
    rows_a = read_results(tmp_path / "results" / "repro-a" / "results.h5")
    rows_b = read_results(tmp_path / "results" / "repro-b" / "results.h5")
    assert len(rows_a) == 3 and len(rows_b) == 2
    assert all(r["status"] == "ok" for r in list(rows_a.values()) + list(rows_b.values()))
    for name in ("repro-a", "repro-b"):
        html = (tmp_path / "report" / name / "index.html").read_text()
        assert "<img" in html
    # again: everything is finished, nothing is recomputed
    again = reproduce(tmp_path, [a, b])
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("0 to run") == 2
    assert read_results(tmp_path / "results" / "repro-a" / "results.h5").keys() == rows_a.keys()


def test_reproduce_refuses_bad_input(tmp_path):
    bad = reproduce(tmp_path, [tmp_path / "missing.yaml"])
    assert bad.returncode == 2 and "no config" in bad.stderr and "missing.yaml" in bad.stderr
    zero = reproduce(tmp_path, [tmp_path / "missing.yaml"], ranks="0")
    assert zero.returncode == 2 and "RANKS must be a positive whole number, got '0'" in zero.stderr
    assert not (tmp_path / "results").exists()
    unknown = reproduce(tmp_path, [tmp_path / "missing.yaml"], options=["--from-publised"])
    assert unknown.returncode == 2 and "unknown option '--from-publised'" in unknown.stderr
    late = subprocess.run(["bash", os.path.join(ROOT, "scripts", "reproduce"), "2", "--from-published"],
                          capture_output=True, text=True, env=ENV, timeout=60)
    assert late.returncode == 2 and "unexpected argument '--from-published' after RANKS" in late.stderr, late.stderr


def test_reproduce_continues_a_sweep_published_in_part(tmp_path):
    """--from-published seeds results/<name> with the records publish-results
    commits (docs/results/<name>/records) and computes only the points missing
    there; the merged results equal an uninterrupted run's."""
    a = tmp_path / "a.yaml"
    a.write_text("name: repro-p\nexperiment: hyperkernel-regression\n"
                 "params: {dx: 4, distinct_x: 10, samples_per_x: 4, test_distinct_x: 4, test_samples_per_x: 4}\n"
                 "sweep:\n  seeds: [1, 2, 3, 4]\n")
    whole = reproduce(tmp_path, [a], results="whole")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    done = tmp_path / "whole" / "repro-p"
    # published in part: two of the four point records, with the run's provenance
    records = tmp_path / "published" / "repro-p" / "records"
    (records / "points").mkdir(parents=True)
    kept = sorted(os.listdir(done / "points"))[:2]
    assert len(kept) == 2
    for fn in kept:
        shutil.copy(done / "points" / fn, records / "points" / fn)
    shutil.copytree(done / "runs", records / "runs")
    cont = reproduce(tmp_path, [a], options=["--from-published"], results="cont")
    assert cont.returncode == 0, cont.stdout + cont.stderr
    assert "continuing from 2 published point records" in cont.stdout, cont.stdout
    assert "2 to run, 2 already finished" in cont.stdout, cont.stdout
    assert_same_results(read_results(done / "results.h5"), read_results(tmp_path / "cont" / "repro-p" / "results.h5"))
    # never over points already there
    again = reproduce(tmp_path, [a], options=["--from-published"], results="cont")
    assert again.returncode == 0 and "already holds points: not copying" in again.stdout, again.stdout
    assert "4 points, 0 to run, 4 already finished" in again.stdout, again.stdout
    # without the option nothing is copied
    plain = reproduce(tmp_path, [a], results="plain")
    assert plain.returncode == 0 and "4 to run, 0 already finished" in plain.stdout, plain.stdout
