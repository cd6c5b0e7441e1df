"""Rules of the test suite itself: a skipped test fails the run unless its
topic is allowed by HKSWEEP_ALLOW_SKIPS."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_suite(tmp_path, body, allow=""):
    shutil.copy(os.path.join(HERE, "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_one.py").write_text("import pytest\n\n" + body)
    env = dict(os.environ, HKSWEEP_ALLOW_SKIPS=allow)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_an_undocumented_skip_fails_the_run(tmp_path):
    proc = run_suite(tmp_path, "def test_x():\n    pytest.skip('no time today')\n")
    assert proc.returncode == 1 and "undocumented skip" in proc.stdout and "no time today" in proc.stdout


def test_a_skip_fails_unless_its_topic_is_allowed(tmp_path):
    body = "def test_x():\n    pytest.skip('Slurm is not installed here (sbatch missing)')\n"
    assert run_suite(tmp_path, body).returncode == 1
    assert run_suite(tmp_path, body, allow="full-disk").returncode == 1
    proc = run_suite(tmp_path, body, allow="slurm")
    assert proc.returncode == 0, proc.stdout


def test_a_run_without_skips_passes(tmp_path):
    assert run_suite(tmp_path, "def test_x():\n    assert 1 + 1 == 2\n").returncode == 0
