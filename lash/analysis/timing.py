"""The build's measured cost: Snakemake's benchmark files of the training jobs -> results/timing.csv,
and its macros.

Each training rule writes `benchmarks/snakemake/.../<job>.tsv` (Snakemake's `benchmark:`: wall seconds
`s`, peak resident memory `max_rss` in MB, ...). The workflow passes every expected file with its rule,
family and protocol; a file that is missing is counted as missing, never silently left out. The wall
time of the whole build (one Snakemake invocation, jobs side by side) is not the sum of the jobs'
times: it comes from an optional record of the build (`benchmarks/build.json`: {"wall_seconds": ...,
"cores": ...}) and is reported as not recorded without one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .naming import camel

COLUMNS = ["family", "rule", "n_jobs", "n_missing", "total_s", "median_s", "max_s", "max_rss_mb"]


def read_benchmark(path) -> dict:
    """{s, max_rss} of one benchmark file (the mean over its repeats); DataError naming a bad file."""
    try:
        table = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a Snakemake benchmark file ({exc}). Fix: rebuild the job that writes it "
                        "or remove the file") from None
    if not {"s", "max_rss"} <= set(table.columns) or table.empty:
        raise DataError(f"{path}: a Snakemake benchmark file needs the columns s and max_rss and one row. "
                        "Fix: rebuild the job that writes it or remove the file")
    return {"s": float(table.s.mean()), "max_rss": float(table.max_rss.max())}


def _row(family: str, rule: str, jobs: pd.DataFrame) -> dict:
    done = jobs.dropna(subset=["s"])
    return {"family": family, "rule": rule, "n_jobs": len(jobs), "n_missing": int(jobs.s.isna().sum()),
            "total_s": done.s.sum() if len(done) else math.nan,
            "median_s": done.s.median() if len(done) else math.nan,
            "max_s": done.s.max() if len(done) else math.nan,
            "max_rss_mb": done.max_rss.max() if done.max_rss.notna().any() else math.nan}


def timing_table(jobs: dict[str, dict], build: dict | None = None) -> pd.DataFrame:
    """{benchmark path: {rule, family, protocol}} -> one row per family and rule, one per family
    (rule "all") and one for the jobs together (family and rule "all"); with a build record, a row
    (family "all", rule "wall") with the build's wall time in total_s and its cores in n_jobs."""
    records = []
    for path, meta in sorted(jobs.items()):
        measured = read_benchmark(path) if Path(path).is_file() else {"s": math.nan, "max_rss": math.nan}
        records.append({**meta, "path": path, **measured})
    frame = pd.DataFrame(records, columns=["rule", "family", "protocol", "path", "s", "max_rss"])
    rows = [_row(f, r, g) for (f, r), g in frame.groupby(["family", "rule"], sort=True)]
    rows += [_row(f, "all", g) for f, g in frame.groupby("family", sort=True)]
    rows.append(_row("all", "all", frame))
    if build:
        rows.append({"family": "all", "rule": "wall", "n_jobs": build.get("cores"), "n_missing": 0,
                     "total_s": build["wall_seconds"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def read_build_record(path) -> dict:
    """The optional record of the whole build ({} when there is none)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        parsed = {"wall_seconds": float(record["wall_seconds"]), "cores": record.get("cores")}
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a build record ({exc}). Fix: write {{\"wall_seconds\": <s>, \"cores\": <n>}} "
                        "or remove the file") from None
    if record.get("complete") is False:  # tools/rebuild.sh collect records an unfinished build as such
        raise DataError(f"{path}: the record of an unfinished build (its wall time is not the build's). "
                        "Fix: finish the rebuild (tools/rebuild.sh start) and run tools/rebuild.sh collect")
    return parsed


def add_timing_macros(m, timing: pd.DataFrame) -> None:
    """\\timingTotalHours (the jobs' summed wall time), \\timingJobs, \\timingJobsMissing,
    \\timingPeakRssGb and \\timingPeakRule, \\timing<Family>Minutes | Jobs | PeakRssGb, and
    \\buildWallHours (or "not recorded") from the build record row."""
    if timing is None or timing.empty:
        return
    total = timing[(timing.family == "all") & (timing.rule == "all")].iloc[0]
    m.add("timingTotalHours", total.total_s / 3600, "num1")
    m.add("timingJobs", total.n_jobs, "int")
    m.add("timingJobsMissing", total.n_missing, "int")
    m.add("timingPeakRssGb", total.max_rss_mb / 1024, "num1")
    per_rule = timing[(timing.family != "all") & (timing.rule != "all")].dropna(subset=["max_rss_mb"])
    peak = per_rule.loc[per_rule.max_rss_mb.idxmax()] if len(per_rule) else None
    m.add("timingPeakRule", f"{peak.rule} ({peak.family})".replace("_", r"\_") if peak is not None
          else "not recorded", "text")
    for r in timing[(timing.family != "all") & (timing.rule == "all")].itertuples(index=False):
        stem = f"timing{camel(r.family)}"
        m.add(f"{stem}Minutes", r.total_s / 60, "num1")
        m.add(f"{stem}Jobs", r.n_jobs, "int")
        m.add(f"{stem}PeakRssGb", r.max_rss_mb / 1024, "num1")
    wall = timing[(timing.family == "all") & (timing.rule == "wall")]
    if len(wall):
        m.add("buildWallHours", wall.total_s.iloc[0] / 3600, "num1")
    else:
        m.add("buildWallHours", "not recorded", "text")
