"""The workflow through a real SLURM scheduler (issue 13, item 6).

A slice of the smoke DAG (a few training runs, the fast-path benchmark, check_runs and aggregate) is
built twice: locally, and submitted with `--executor slurm --workflow-profile profiles/slurm` to the
one-node cluster that .ci/slurm/start.sh runs on this host. The runs' metrics and the aggregate's
tables (but for timings) must be equal bit for bit, and SLURM's accounting must list every job of the
slice, completed, in the CI partition and account. Where that cluster does not answer, the test is
skipped with the reason (pytest's `-ra` prints it); LASH_SLURM_REQUIRED=1 (.ci/run, once the cluster
is up) makes it fail.
"""

import csv
import getpass
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
CLUSTER = dict(
    line.split("=", 1)
    for line in (REPO / ".ci/slurm/cluster.env").read_text().splitlines()
    if line and not line.startswith("#")
)
PARTITION, ACCOUNT = CLUSTER["LASH_SLURM_PARTITION"], CLUSTER["LASH_SLURM_ACCOUNT"]
START = "bash .ci/slurm/install.sh && bash .ci/slurm/start.sh (as root, on Debian)"
# The aggregate measures the timed claim on bench_fast_path's record, so the slice runs that benchmark
# too; its record and the claims measured on it are timings, which differ between any two builds.
SLICE_RULES = {"train", "bench_fast_path", "check_runs", "aggregate"}
TIMING_FILES = {"bench_fast_path.json"}
# Columns of the aggregate's runs table that say where a run file lies, how long it took and which
# commit made it (others commit to a shared tree while the two builds run), not what it computed.
PROVENANCE_COLUMNS = {"path", "wall_seconds", "speedup_measured", "git_sha", "git_dirty"}
BUILD_TIMEOUT = 900  # seconds per build; both together take 3-4 minutes on 2 busy cores


def query(*command: str) -> tuple[bool, str]:
    """A SLURM client command: (succeeded, its output), never an exception."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stdout if proc.returncode == 0 else proc.stderr.strip()


def cluster_problem() -> str | None:
    """Why the CI cluster cannot take this test's jobs; None when it can."""
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return f"SLURM is not installed here (no sinfo or sacct). Fix: {START}"
    ok, config = query("scontrol", "show", "config")
    if not ok:
        last = config.strip().splitlines()[-1:] or ["no output"]
        return f"no SLURM controller answers ({last[0]}). Fix: {START}"
    name = re.search(r"^ClusterName\s*=\s*(\S+)", config, re.MULTILINE)
    if not name or name.group(1) != CLUSTER["LASH_SLURM_CLUSTER"]:
        return (f"the SLURM controller here runs cluster {name and name.group(1)!r}, not the CI "
                f"cluster {CLUSTER['LASH_SLURM_CLUSTER']!r} of .ci/slurm/start.sh: this test "
                "submits jobs to that one only")
    ok, states = query("sinfo", "-h", "-p", PARTITION, "-o", "%t")
    if not ok or not {"idle", "mix"} & set(states.split()):
        return f"no idle node in partition {PARTITION} (sinfo: {states.strip()!r}). Fix: {START}"
    user = getpass.getuser()
    ok, users = query("sacctmgr", "-n", "-P", "show", "assoc", f"account={ACCOUNT}", "format=user")
    if not ok:
        return f"slurmdbd does not answer (sacctmgr: {users}). Fix: {START}"
    if user not in users.split():
        return (f"user {user} may not submit to account {ACCOUNT}. "
                f"Fix: sacctmgr add user {user} Account={ACCOUNT}")
    return None


@pytest.fixture
def slurm_cluster():
    problem = cluster_problem()
    if problem and os.environ.get("LASH_SLURM_REQUIRED") == "1":
        pytest.fail(f"LASH_SLURM_REQUIRED=1, but {problem}")
    if problem:
        pytest.skip(problem)


def start_snakemake(log: Path, *args: str) -> subprocess.Popen:
    """Snakemake in the background, its console in `log` (a pipe nobody reads would block it)."""
    # the jobs (local, or in SLURM, which exports this environment) call this environment's `lash`
    env = with_this_interpreter()
    with log.open("w") as console:
        return subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=REPO, env=env,
                                stdout=console, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, log: Path) -> str:
    """Wait for a build; its console text, or the test fails with the end of it."""
    try:
        proc.wait(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, f"snakemake {proc.args[3:]} exited {proc.returncode}:\n{text[-5000:]}"
    return text


def slice_config(path: Path) -> Path:
    """Merged over config/smoke.yaml: baselines/standard (its family's reference) in both protocols
    at the smoke seeds; every other variant, the provenance and the word-level runs emptied."""
    paper = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cut = {
        "only": {family: ["standard"] if family == "baselines" else [] for family in paper["families"]},
        "provenance": {"corpora": [], "variants": []},
        "ashem": {"run": {p: [] for p in paper["ashem"]["run"]}, "baseline_protocols": [],
                  "provenance_seed": None},
        "progressive": {"protocols": []},
    }
    path.write_text(yaml.safe_dump(cut))
    return path


def planned_jobs(stdout: str) -> Counter:
    """Job name -> count from a dry run's "Job stats" table."""
    table = stdout.split("Job stats:")[1].split("total")[0]
    return Counter({m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)})


def profile_default_resources() -> list[str]:
    """profiles/slurm's default-resources: `--default-resources` on the command line replaces the
    profile's whole list, so the site's partition and account are given with them."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    return [f"{key}={value}" for key, value in profile["default-resources"].items()]


def accounted_jobs(prefix: str) -> list[dict]:
    """SLURM's accounting records of this test's jobs (job names start with `prefix`)."""
    fields = ["JobID", "JobName", "State", "Partition", "Account", "Timelimit", "Comment"]
    ok, out = query("sacct", "-X", "-n", "-P", "-S", "now-1days", "-o", ",".join(fields))
    assert ok, out
    rows = [dict(zip(fields, line.split("|"), strict=False)) for line in out.splitlines()]
    return [row for row in rows if row["JobName"].startswith(prefix + "_")]


def cancel_leftovers(prefix: str) -> None:
    ok, out = query("squeue", "-h", "-o", "%i|%j")
    ids = [line.split("|")[0] for line in out.splitlines() if ok and line.split("|")[1].startswith(prefix)]
    if ids:
        query("scancel", *ids)


def table_rows(path: Path) -> list[list[str]]:
    """A CSV's cells as written (exact digits), without the provenance columns and without the rows
    of claims measured over timing rounds (replicate "round")."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return []
    header = rows[0]
    keep = [i for i, name in enumerate(header) if name not in PROVENANCE_COLUMNS]
    replicate = header.index("replicate") if "replicate" in header else None
    untimed = [header] + [row for row in rows[1:] if replicate is None or row[replicate] != "round"]
    return [[row[i] for i in keep] for row in untimed]


def json_without_timings(path: Path):
    """A JSON output as parsed, without the records of claims measured over timing rounds."""
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return [row for row in data if not (isinstance(row, dict) and row.get("replicate") == "round")]
    return data


def test_smoke_slice_through_slurm_equals_the_local_build_bit_for_bit(slurm_cluster, tmp_path):
    build = ["--configfile", "config/smoke.yaml", str(slice_config(tmp_path / "slice.yaml"))]
    logs = {name: tmp_path / f"{name}.log" for name in ("plan", "local", "slurm")}
    plan = start_snakemake(logs["plan"], "-n", "--quiet", "rules", *build,
                           "--config", f"output_root={tmp_path}/plan", "--", "aggregate")
    jobs = planned_jobs(finish(plan, logs["plan"]))
    # a few training jobs and the statistics: minutes, not the whole smoke DAG
    assert set(jobs) == SLICE_RULES and 2 <= jobs["train"] <= 6, jobs

    # Both builds at once: the SLURM build's waits (submission, status polls) overlap local work.
    local_root, slurm_root = tmp_path / "local", tmp_path / "slurm"
    prefix = f"lashtest{os.getpid()}"
    started = time.monotonic()
    slurm = start_snakemake(
        logs["slurm"], "--executor", "slurm", "--workflow-profile", "profiles/slurm",
        "--jobs", "4", "--default-resources", *profile_default_resources(),
        f"slurm_partition={PARTITION}", f"slurm_account={ACCOUNT}",
        "--slurm-jobname-prefix", prefix, "--slurm-logdir", str(tmp_path / "slurm_logs"),
        "--slurm-init-seconds-before-status-checks", "5",  # small jobs: look early
        *build, "--config", f"output_root={slurm_root}", "--", "aggregate",
    )
    try:
        local = start_snakemake(logs["local"], "--cores", "2", *build,
                                "--config", f"output_root={local_root}", "--", "aggregate")
        finish(local, logs["local"])
        local_seconds = time.monotonic() - started
        finish(slurm, logs["slurm"])
    finally:
        if slurm.poll() is None:
            slurm.kill()
        cancel_leftovers(prefix)
    print(f"local build {local_seconds:.0f} s, SLURM build {time.monotonic() - started:.0f} s (at once)")

    # Every job of the slice went through SLURM, finished, in the site's partition and account,
    # with the time limit its runtime asked for (the profile's default for check_runs and aggregate).
    accounted = accounted_jobs(prefix)
    rules = Counter(re.match(r"rule_(\w+?)(_wildcards_.*)?$", job["Comment"])[1] for job in accounted)
    assert rules == jobs, accounted
    for job in accounted:
        assert (job["State"], job["Partition"], job["Account"]) == ("COMPLETED", PARTITION, ACCOUNT), job
        assert job["Timelimit"] not in ("UNLIMITED", "Partition_Limit"), job

    runs = sorted(p.relative_to(local_root) for p in (local_root / "results").rglob("seed~*.json"))
    assert len(runs) == jobs["train"]
    assert runs == sorted(p.relative_to(slurm_root) for p in (slurm_root / "results").rglob("seed~*.json"))
    for run in runs:
        local_metrics, slurm_metrics = (json.loads((root / run).read_text())["metrics"]
                                        for root in (local_root, slurm_root))
        assert local_metrics  # exact float text: equal strings are equal bits (-0.0 and nan too)
        assert json.dumps(slurm_metrics, sort_keys=True) == json.dumps(local_metrics, sort_keys=True), run

    # The aggregate's tables (checked_runs.json lists paths and file digests, which differ; the
    # benchmark's record is a timing)
    skip = {"checked_runs.json"} | TIMING_FILES
    tables = sorted(p.name for p in (local_root / "results").iterdir() if p.is_file() and p.name not in skip)
    assert "summary.csv" in tables and "runs.csv" in tables and "claims.csv" in tables
    assert tables == sorted(p.name for p in (slurm_root / "results").iterdir()
                            if p.is_file() and p.name not in skip)
    for name in tables:
        local_file, slurm_file = local_root / "results" / name, slurm_root / "results" / name
        if name.endswith(".csv"):
            assert table_rows(slurm_file) == table_rows(local_file), name
        elif name == "claims.json":
            assert json_without_timings(slurm_file) == json_without_timings(local_file), name
        else:
            assert slurm_file.read_bytes() == local_file.read_bytes(), name
