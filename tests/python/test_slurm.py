"""jobs/ on a real one-node Slurm (Debian's slurm-wlm and munge): the job array
plus merge equals a direct mpirun run point for point, and a cancelled sweep
job resumes when resubmitted. The daemons are started here, with their state
under a temporary folder, and stopped by pid. Skipped, with a message, only
where Slurm is not installed (scripts/setup installs it)."""
import glob
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ENV, SMALL_SWEEP, assert_same_results, hk, read_results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, limit, what):
    t0 = time.time()
    while time.time() - t0 < limit:
        if cond():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {limit} s waiting for {what}")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = [d for d in DAEMONS if not shutil.which(d) and not os.path.exists(f"/usr/sbin/{d}")]
    if missing:
        pytest.skip(f"Slurm is not installed here ({', '.join(missing)} missing); scripts/setup installs slurm-wlm and munge")
    t = tmp_path_factory.mktemp("slurm")
    for d in ("state", "spool", "log"):
        (t / d).mkdir()
    pids = []
    env = dict(ENV, SLURM_CONF=str(t / "slurm.conf"))
    try:
        subprocess.run(["mungekey", "--create", f"--keyfile={t}/munge.key"], check=True, capture_output=True)
        os.chmod(t / "munge.key", 0o600)
        subprocess.run(["munged", "--force", f"--key-file={t}/munge.key", f"--socket={t}/munge.sock",
                        f"--pid-file={t}/munged.pid", f"--log-file={t}/munged.log", f"--seed-file={t}/munge.seed"],
                       check=True, capture_output=True)
        pids.append(t / "munged.pid")
        host = socket.gethostname()
        mem = int(open("/proc/meminfo").read().split()[1]) // 1024 - 1024
        (t / "slurm.conf").write_text(f"""ClusterName=hktest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={t}/munge.sock
CredType=cred/munge
StateSaveLocation={t}/state
SlurmdSpoolDir={t}/spool
SlurmctldPidFile={t}/slurmctld.pid
SlurmdPidFile={t}/slurmd.pid
SlurmctldLogFile={t}/log/slurmctld.log
SlurmdLogFile={t}/log/slurmd.log
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName={host} CPUs=2 RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        for daemon, pidfile in (("slurmctld", "slurmctld.pid"), ("slurmd", "slurmd.pid")):
            subprocess.run([daemon, "-f", str(t / "slurm.conf")], check=True, capture_output=True, env=env)
            pids.append(t / pidfile)
        wait_for(lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                                 env=env).stdout, 60, "the node to come up")
        yield t, env
    finally:
        for pidfile in reversed(pids):
            if pidfile.exists():
                pid = int(pidfile.read_text().split()[0])
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    continue
                for _ in range(50):
                    try:
                        os.kill(pid, 0)
                        time.sleep(0.1)
                    except ProcessLookupError:
                        break


def queue_empty(env):
    return subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=env).stdout.strip() == ""


def test_array_and_merge_equal_a_direct_run(slurm, tmp_path):
    t, env = slurm
    cfg = tmp_path / "small.yaml"
    cfg.write_text(SMALL_SWEEP.replace("{team}", "1"))
    out = tmp_path / "array"
    proc = subprocess.run([os.path.join(ROOT, "jobs", "submit"), str(cfg), "--shards", "3", "--out", str(out),
                           "--", f"--output={tmp_path}/job-%j.out"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "array job" in proc.stdout and "merge job" in proc.stdout
    wait_for(lambda: queue_empty(env) and (out / "report" / "index.html").exists(), 240, "array and merge")
    hk("run", cfg, "--out", tmp_path / "direct", ranks=2, check=True)
    assert_same_results(read_results(out / "results.h5"), read_results(tmp_path / "direct" / "results.h5"))
    assert len(glob.glob(str(out / "runs" / "*.h5"))) == 3        # one run per shard


def test_cancelled_sweep_resumes_when_resubmitted(slurm, tmp_path):
    t, env = slurm
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(SMALL_SWEEP.replace("distinct_x: [10, 30]", "distinct_x: [60, 80]").replace("{team}", "1")
                   .replace("seeds: [1, 2]", "seeds: [1, 2, 3]"))
    out = tmp_path / "sweep"
    submit = ["sbatch", "--parsable", "--ntasks=2", f"--chdir={ROOT}", f"--output={tmp_path}/sweep-%j.out",
              os.path.join(ROOT, "jobs", "sweep.sbatch")]
    job_env = dict(env, HKSWEEP_CONFIG=str(cfg), HKSWEEP_OUT=str(out))
    # each of the two ranks stores one point and then waits for a signal: the
    # cancel lands with exactly two points finished, whatever the timing
    job = subprocess.run(submit, capture_output=True, text=True, env=dict(job_env, HKSWEEP_TEST_PAUSE_AFTER="1"),
                         check=True).stdout.strip()
    wait_for(lambda: len(glob.glob(str(out / "points" / "*.h5"))) >= 2, 120, "the first points")
    subprocess.run(["scancel", job], check=True, env=env)
    wait_for(lambda: queue_empty(env), 60, "the cancelled job to leave")
    kept = len(glob.glob(str(out / "points" / "*.h5")))
    assert kept == 2
    subprocess.run(submit, capture_output=True, text=True, env=job_env, check=True)
    wait_for(lambda: queue_empty(env) and len(glob.glob(str(out / "points" / "*.h5"))) == 12, 240, "the resubmitted job")
    wait_for(lambda: (out / "results.h5").exists() and len(read_results(out / "results.h5")) == 12, 30, "the merge")
    rows = read_results(out / "results.h5")
    assert all(r["status"] == "ok" for r in rows.values())
    logs = "".join(open(p).read() for p in glob.glob(str(tmp_path / "sweep-*.out")))
    assert f"{12 - kept} to run, {kept} already finished" in logs


def test_reproduce_is_one_array_over_all_configs_then_merge_and_report(slurm, tmp_path):
    """jobs/reproduce: the plan first, one array whose tasks are the shards of
    every config, then one merge-and-report job; each config's merged results
    equal a direct run."""
    t, env = slurm
    a = tmp_path / "a.yaml"
    a.write_text(SMALL_SWEEP.replace("{team}", "1").replace("name: small", "name: repro-a"))
    b = tmp_path / "b.yaml"
    b.write_text("name: repro-b\nexperiment: hyperkernel-regression\n"
                 "params: {dx: 4, distinct_x: 10, samples_per_x: 4, test_distinct_x: 4, test_samples_per_x: 4}\n"
                 "sweep:\n  seeds: [1, 2, 3]\n")
    # repro-b was published in part (two of its three point records): --from-published continues it
    hk("run", b, "--out", tmp_path / "direct-repro-b", ranks=1, check=True)
    records = tmp_path / "published" / "repro-b" / "records"
    (records / "points").mkdir(parents=True)
    for fn in sorted(os.listdir(tmp_path / "direct-repro-b" / "points"))[:2]:
        shutil.copy(tmp_path / "direct-repro-b" / "points" / fn, records / "points" / fn)
    shutil.copytree(tmp_path / "direct-repro-b" / "runs", records / "runs")
    job_env = dict(env, HKSWEEP_REPRODUCE_CONFIGS=f"{a} {b}", HKSWEEP_RESULTS=str(tmp_path / "results"),
                   HKSWEEP_REPORT=str(tmp_path / "report"), HKSWEEP_PUBLISHED=str(tmp_path / "published"))
    proc = subprocess.run([os.path.join(ROOT, "jobs", "reproduce"), "--ranks", "1", "--shards", "2",
                           "--from-published", "--", f"--output={tmp_path}/job-%j.out"],
                          capture_output=True, text=True, env=job_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "continuing from 2 published point records" in out, out
    assert out.index("predicted in all:") < out.index("array job")
    assert "2 configs x 2 shards = 4 tasks" in out
    wait_for(lambda: queue_empty(env) and all((tmp_path / "report" / n / "index.html").exists()
                                              for n in ("repro-a", "repro-b")), 300, "the array and the merge")
    hk("run", a, "--out", tmp_path / "direct-repro-a", ranks=1, check=True)
    for name, runs in (("repro-a", 2), ("repro-b", 3)):
        merged = tmp_path / "results" / name
        # one run per shard, and for repro-b the published run
        assert len(glob.glob(str(merged / "runs" / "*.h5"))) == runs, name
        assert_same_results(read_results(merged / "results.h5"),
                            read_results(tmp_path / f"direct-{name}" / "results.h5"))
    logs = "".join(open(p).read() for p in glob.glob(str(tmp_path / "job-*.out")))
    # the two shards of repro-b ran only the point not published
    shards_b = re.findall(re.escape(f"{b} (hyperkernel-regression), 3 points in the sweep, ") +
                          r"(\d+) to run, (\d+) already finished", logs)
    assert len(shards_b) == 2 and sum(int(r) for r, _ in shards_b) == 1 and \
        sum(int(f) for _, f in shards_b) == 2, (shards_b, logs[-3000:])
    bad = subprocess.run([os.path.join(ROOT, "jobs", "reproduce"), "--shards", "0"], capture_output=True, text=True,
                         env=job_env)
    assert bad.returncode == 2 and "--shards expects a positive integer, got '0'" in bad.stderr
