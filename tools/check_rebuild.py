"""The rebuild's acceptance (issue 12), checked on a checkout's results after `snakemake` has regenerated
the statistics from the committed runs:

- at most 5 % of the corrected character-level runs reached their epoch cap without stopping early
  (results/runs.csv `cap_reached`; the families that did are named);
- the published ASHEM run at seed 42 agrees with every number the original code prints
  (results/ashem_provenance.csv `match`);
- no word-level training rule peaked above 4 GiB resident (results/timing.csv `max_rss_mb`);
- every run JSON under results/ was made with a clean tree at the build commit, or, for a run directory
  rebuilt alone (--amended <family>/<protocol>-<variant>=<commit>), at its amending commit
  (provenance git_sha, git_dirty);
- an amending commit changes none of the training rules' sources against the build commit (only
  settings in config/, which check_runs holds every kept run to).

Usage: python tools/check_rebuild.py [--root .] [--commit SHA] [--amended DIR=SHA ...]. Prints one line
per check and exits 1 when any fails (2 when a file is missing), so `tools/rebuild.sh finish` stops
before a commit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from lash.analysis.runs import char_level_ablations, made_clean_at, parse_amended, rebuild_commit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "lib"))
from sources import sources  # noqa: E402  (workflow/lib: the closure Snakemake's training rules take)

CAP_SHARE = 0.05
WORD_FAMILIES = ("ashem", "progressive")
PEAK_MB = 4096


def capped(runs: pd.DataFrame) -> tuple[int, int, list[str]]:
    """(capped, runs, 'family: k of n' of each family with a capped run) over the corrected
    character-level runs (the provenance family excluded: it keeps the original's budget)."""
    char = char_level_ablations(runs).query("protocol == 'corrected'")
    hit = char.cap_reached.eq(1)  # not recorded (NaN): not capped
    families = [f"{f}: {int(g.sum())} of {len(g)}" for f, g in hit.groupby(char.family, sort=True) if g.any()]
    return int(hit.sum()), len(char), families


def seed42_mismatches(table: pd.DataFrame) -> list[str]:
    """The printed numbers of the original code that the seed-42 run does not match (settings rows
    carry no match)."""
    numbers = table[table.match.notna()]
    return [f"{r.key}: printed {r.printed}, ours {r.ours_rounded}" for r in numbers.itertuples()
            if str(r.match) != "True"]


def word_level_peaks(timing: pd.DataFrame) -> list[str]:
    """Word-level training rules whose largest peak resident memory is above PEAK_MB."""
    rows = timing[timing.family.isin(WORD_FAMILIES) & (timing.rule != "all")]
    return [f"{r.family}/{r.rule}: {r.max_rss_mb:.0f} MB" for r in rows.itertuples() if r.max_rss_mb > PEAK_MB]


def foreign_runs(paths: list[Path], commit: str | None, amended: dict[str, str] | None = None
                 ) -> tuple[set[str], list[str]]:
    """(the commits the runs were made at, the runs made with a dirty tree or at another commit than
    `commit`, or than their directory's commit in `amended`)."""
    shas, bad = set(), []
    for path in paths:
        prov = json.loads(path.read_text())["provenance"]
        sha = prov.get("git_sha") or "unknown"
        shas.add(sha)
        if not made_clean_at(prov, rebuild_commit(path, commit, amended or {})):
            bad.append(f"{path}: {sha[:7]}{' dirty' if prov.get('git_dirty') is not False else ''}")
    return shas, bad


# The rules' code (their arguments come from config/ through common.smk: check_runs holds every run file
# to the settings this checkout's workflow gives it).
TRAINING_RULES = ["workflow/rules/train.smk", "workflow/rules/ashem.smk"]


def training_changes(commit: str, amending: str, repo: Path = REPO) -> list[str]:
    """The training rules' files (their rule files and the closure of lash.run and lash.ashem, as this
    checkout lists them) that differ between the build commit and an amending commit."""
    files = TRAINING_RULES + sources(repo, "lash.run", "lash.ashem")
    diff = subprocess.run(["git", "-C", str(repo), "diff", "--name-only", commit, amending, "--", *files],
                          capture_output=True, text=True, check=True)
    return diff.stdout.split()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".", help="the checkout whose results/ to check")
    parser.add_argument("--commit", help="the build commit every run must name (default: one commit, any)")
    parser.add_argument("--amended", nargs="*", default=[], metavar="DIR=SHA",
                        help="a run directory <family>/<protocol>-<variant> rebuilt alone at a later commit")
    args = parser.parse_args(argv)
    amended = parse_amended(args.amended)
    results = Path(args.root) / "results"
    try:
        runs = pd.read_csv(results / "runs.csv")
        seed42 = pd.read_csv(results / "ashem_provenance.csv")
        timing = pd.read_csv(results / "timing.csv")
    except FileNotFoundError as exc:
        print(f"{exc.filename}: missing. Fix: run snakemake in {args.root} first", file=sys.stderr)
        return 2
    failures = 0

    def report(ok: bool, text: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {text}")

    n_cap, n, families = capped(runs)
    report(n > 0 and n_cap <= CAP_SHARE * n, f"corrected character-level runs at their epoch cap: {n_cap} of {n}"
           + (f" ({'; '.join(families)}: raise those caps and rerun)" if n_cap > CAP_SHARE * n else ""))
    missed = seed42_mismatches(seed42)
    report(not seed42.empty and not missed, "seed-42 ASHEM run against the original code's printed numbers: "
           + ("; ".join(missed) if missed else f"{int((seed42.match.astype(str) == 'True').sum())} match"))
    peaks = word_level_peaks(timing)
    report(not peaks, "word-level rules above 4 GiB resident: " + ("; ".join(peaks) if peaks else "none"))
    shas, bad = foreign_runs(sorted(results.rglob("seed~*.json")), args.commit, amended)
    report(not bad and len(shas) == 1 + len(set(amended.values())),
           f"runs made at {', '.join(sorted(s[:7] for s in shas))}"
           + (f"; not from a clean build commit: {'; '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}" if bad else ""))
    for amending in sorted(set(amended.values())):
        changed = training_changes(args.commit, amending) if args.commit else ["(no --commit to compare with)"]
        report(not changed, f"training sources changed from the build commit at {amending}: "
               + (", ".join(changed) if changed else "none"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
