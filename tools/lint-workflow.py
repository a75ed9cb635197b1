"""`snakemake --lint` with one documented waiver: every rule runs in the one locked environment of
requirements/lock.txt (README, "Installing"), so the lint asking each rule for a conda environment or
container of its own is not a finding here (per-rule conda environments were dropped: nothing could
test them on the machines this project is built on). Every other lint fails this check.

Usage: python tools/lint-workflow.py [snakemake arguments, e.g. --config data_dir=...]
"""

import re
import subprocess
import sys

WAIVED = {"Specify a conda environment or container for each rule."}


def findings(text: str) -> list[tuple[str, str]]:
    """(where, lint title) for every lint in snakemake's text report."""
    found, where = [], "workflow"
    for line in text.splitlines():
        if m := re.match(r"Lints for (.+):$", line.strip()):
            where = m[1]
        elif m := re.match(r"\* (.+):$", line.strip()):
            found.append((where, m[1]))
    return found


def main(args: list[str]) -> int:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", *args], capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    lints = findings(text)
    if proc.returncode != 0 and not lints:  # the workflow did not even parse
        print(text, file=sys.stderr)
        return proc.returncode
    kept = [(where, title) for where, title in lints if title not in WAIVED]
    for where, title in kept:
        print(f"lint: {where}: {title}", file=sys.stderr)
    waived = len(lints) - len(kept)
    print(f"snakemake --lint: {len(kept)} finding(s), {waived} waived (one locked environment for every rule)")
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
