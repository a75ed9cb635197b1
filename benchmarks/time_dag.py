"""Wall time of a Snakemake build with lash's fast kernels against the reference kernels (issue 5).

    python benchmarks/time_dag.py smoke --out benchmarks/dag_smoke.json
    python benchmarks/time_dag.py paper-slice --data-dir ../shared/data/wikitext-2 --out benchmarks/dag_paper_slice.json

Each pass builds the same targets from scratch into its own temporary output root, one pass after
the other, alternating the kernels (`--order`, default fast,reference,fast: on a shared machine
whose speed drifts, a setting timed on both sides of the other is compared with their mean), with
`--config kernels=fast|reference` (workflow/schemas/config.schema.yaml) and the same `--cores`.
`reference` runs every training job with plain PyTorch ops, full-vocabulary logits and foreach
AdamW: the training code as it was before the fast path. `paper-slice` is the paper config (real
WikiText-2) limited to seed 0 of one variant per character-level family, both protocols, and the
word-level ASHEM phase-1 training of the corrected protocol: the whole paper build takes hours per
setting on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lash.io import check_writable, write_atomic, write_json_atomic
from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
KERNELS = ("fast", "reference")

PAPER_SLICE = [f"results/{family}/{protocol}-{variant}/seed~0.json"
               for family, variant in [("baselines", "standard"), ("alpha", "a0.7"), ("l2", "w1.0"),
                                       ("lr", "decreasing"), ("dynamic_alpha", "linear"), ("sweep", "exit2")]
               for protocol in ("original", "corrected")] + ["results/ashem_stages/corrected/seed~0/phase1.json"]


def job_seconds(root: Path) -> dict[str, float]:
    """Sum of the jobs' own wall times (provenance.wall_seconds of each results JSON) by family."""
    totals: dict[str, float] = {}
    for path in sorted((root / "results").rglob("*.json")):
        payload = json.loads(path.read_text())
        if isinstance(payload, dict) and "wall_seconds" in payload.get("provenance", {}):
            family = path.relative_to(root / "results").parts[0]
            totals[family] = totals.get(family, 0.0) + payload["provenance"]["wall_seconds"]
    return totals


def mean_by_kernels(runs: list[dict], value) -> dict[str, float]:
    """{kernels: mean of value(run) over that setting's passes}."""
    return {k: statistics.mean(value(r) for r in runs if r["kernels"] == k) for k in KERNELS}


def build(what: str, kernels: str, cores: int, data_dir: str | None, root: Path) -> dict:
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    config = [f"kernels={kernels}", f"output_root={root}"]
    if what == "smoke":
        cmd += ["--configfile", "config/smoke.yaml", "--config", *config]
    else:
        cmd += [f"{root}/{target}" for target in PAPER_SLICE] + ["--config", *config, f"data_dir={data_dir}"]
    env = with_this_interpreter()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({kernels}):\n{proc.stderr[-3000:]}")
    jobs = proc.stderr.count("Finished job")
    return {"kernels": kernels, "wall_s": wall, "jobs": jobs, "job_seconds": job_seconds(root),
            "command": " ".join(cmd[1:]).replace(str(root), "<tmp>")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["smoke", "paper-slice"])
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--data-dir", help="local WikiText-2 directory (paper-slice)")
    p.add_argument("--order", default="fast,reference,fast", help="kernels of the passes, in order")
    p.add_argument("--out", required=True, help="results JSON (a Markdown table is written beside it)")
    args = p.parse_args(argv)
    if args.what == "paper-slice" and not args.data_dir:
        p.error("paper-slice needs --data-dir (the local WikiText-2 directory)")
    try:
        check_writable(args.out)  # before the builds, which take minutes to hours
    except PermissionError as exc:
        p.error(str(exc))
    order = args.order.split(",")
    if set(order) != set(KERNELS):
        p.error(f"--order {args.order!r}: a comma-separated list of fast and reference, each at least once")
    runs = []
    for kernels in order:
        root = Path(tempfile.mkdtemp(prefix=f"lash-dag-{kernels}-"))
        try:
            runs.append(build(args.what, kernels, args.cores, args.data_dir, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(f"{args.what} {kernels}: {runs[-1]['wall_s'] / 60:.1f} min, {runs[-1]['jobs']} jobs", flush=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                            check=False).stdout.strip()
    report = {"what": args.what, "cores": args.cores, "git_commit": commit, "host": platform.node(),
              "cpu_count": os.cpu_count(), "runs": runs,
              "mean_wall_s": mean_by_kernels(runs, lambda r: r["wall_s"])}
    report["speedup"] = report["mean_wall_s"]["reference"] / report["mean_wall_s"]["fast"]
    md = [f"`{args.what}` build, `--cores {args.cores}`, commit {commit[:7]}:", "",
          "| pass | kernels | wall | jobs |", "|---:|---|---:|---:|"]
    md += [f"| {i} | {r['kernels']} | {r['wall_s'] / 60:.1f} min | {r['jobs']} |" for i, r in enumerate(runs, 1)]
    md += ["", f"Mean wall time: fast {report['mean_wall_s']['fast'] / 60:.1f} min, reference "
           f"{report['mean_wall_s']['reference'] / 60:.1f} min: reference / fast = {report['speedup']:.2f}."]
    families = sorted({f for r in runs for f in r["job_seconds"]})
    if families:
        md += ["", "Jobs' own wall times (sum of `provenance.wall_seconds`), mean over the passes of each setting:",
               "", "| family | fast | reference | reference / fast |", "|---|---:|---:|---:|"]
        for family in families:
            mean = mean_by_kernels(runs, lambda r, family=family: r["job_seconds"].get(family, 0.0))
            md.append(f"| {family} | {mean['fast']:.0f} s | {mean['reference']:.0f} s | "
                      f"{mean['reference'] / mean['fast']:.2f} |")
    write_json_atomic(args.out, report)
    text = "\n".join(md) + "\n"
    write_atomic(Path(args.out).with_suffix(".md"), lambda fh: fh.write(text.encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
