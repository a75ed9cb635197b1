"""Rerun one committed run and compare its metrics with the committed ones, bit for bit.

    python tools/verify_run.py results/alpha/corrected-a0.7/seed~0.json --config data_dir=../shared/data/wikitext-2

The run's rule (and, for an ASHEM run, its chain of stages) is built by Snakemake into a temporary
output root, so nothing committed is touched; then every metric of the rerun is compared with the
committed file's (exact float text: equal strings are equal bits). It prints the CPU both were made
on, and where they differ, the first differing metric and the settings that differ. Exit 0: equal;
1: they differ (or the rerun failed); 2: a bad argument. `--configfile config/smoke.yaml` verifies a
smoke run; `--keep` leaves the temporary tree for inspection.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lash.analysis.runs import read_run
from lash.errors import DataError
from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]


def fail(message: str, code: int = 2):
    print(f"verify_run: {message}", file=sys.stderr)
    sys.exit(code)


def first_difference(a, b, where: str = "") -> str | None:
    """The path of the first leaf where two parsed JSON values differ (exact: floats compared as the
    text json writes them), or None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key}".lstrip(".") + (" (only in the committed run)" if key in a else
                                                        " (only in the rerun)")
            found = first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where} (lengths {len(a)} and {len(b)})".lstrip(".")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if json.dumps(a) != json.dumps(b):
        return f"{where.lstrip('.')}: committed {json.dumps(a)}, rerun {json.dumps(b)}"
    return None


def cpu_of(run: dict) -> str:
    cpu = run.get("provenance", {}).get("cpu") or {}
    if not isinstance(cpu, dict):
        return str(cpu)
    return (f"{cpu.get('model', '?')} (family/model/stepping {cpu.get('family_model_stepping', '?')}, "
            f"ATen {cpu.get('aten_capability', '?')})")


def read(path: Path) -> dict:
    """A run file read strictly, as the workflow's check reads it."""
    try:
        return read_run(path)
    except DataError as exc:
        fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run JSON under <output root>/results/<family>/<protocol>-<variant>/")
    parser.add_argument("--configfile", help="the workflow config it was made with (default: the paper's)")
    parser.add_argument("--config", nargs="*", default=[], help="KEY=VALUE workflow settings, e.g. data_dir=")
    parser.add_argument("--cores", default="2")
    parser.add_argument("--keep", action="store_true", help="keep the temporary tree")
    args = parser.parse_args(argv)

    path = Path(args.run).resolve()
    parts = path.parts
    if "results" not in parts or not path.name.startswith("seed~") or not path.is_file():
        fail(f"{args.run} is not a run file (<output root>/results/<family>/<run>/seed~<s>.json). "
             "Fix: give the path of a committed run JSON")
    relative = Path(*parts[len(parts) - 1 - parts[::-1].index("results"):])
    committed = read(path)
    if not isinstance(committed.get("metrics"), dict):
        fail(f"{args.run} has no `metrics` object. Fix: give a run JSON written by lash")

    tmp = Path(tempfile.mkdtemp(prefix="lash-verify-"))
    command = [sys.executable, "-m", "snakemake", str(tmp / relative), "--cores", str(args.cores),
               *(["--configfile", args.configfile] if args.configfile else []),
               "--config", f"output_root={tmp}", *args.config]
    print(f"rerunning {relative} into {tmp}", flush=True)
    try:
        # the rules call the `lash` console script: this interpreter's, also when its venv is not activated
        env = with_this_interpreter()
        build = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, env=env)
        if build.returncode != 0:
            print(build.stdout[-3000:] + build.stderr[-3000:], file=sys.stderr)
            fail(f"the rerun failed (snakemake exited {build.returncode}; its output above)", 1)
        rerun = read(tmp / relative)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"committed: {cpu_of(committed)}, commit {committed.get('provenance', {}).get('git_sha', '?')}")
    print(f"rerun:     {cpu_of(rerun)}, commit {rerun.get('provenance', {}).get('git_sha', '?')}")
    difference = first_difference(committed["metrics"], rerun["metrics"])
    if difference is None:
        print(f"equal: every metric of {relative} is bit for bit the committed one")
        return 0
    print(f"DIFFERENT: metrics.{difference}")
    settings = first_difference(committed.get("config"), rerun.get("config"))
    print(f"settings: {'the same' if settings is None else 'differ first at config.' + settings}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
