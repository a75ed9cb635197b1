"""Seeds -> statistics: per-variant mean/sd/95 % CI and paired differences against each family's
reference (paired.csv). The claims and their verdicts: lash.analysis.claims and verdicts.

Pure functions of the tidy run tables of lash.analysis.runs (no torch, no Snakemake).
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats as sps

from .intervals import mean_ci

GROUP = ["family", "protocol", "variant"]
#: Metrics summarised per variant (the ones that exist in a run table; others are skipped).
SUMMARY_METRICS = ["ppl", "acc", "shallow_fraction", "compute_fraction_layers", "compute_fraction_flops",
                   "hard_ppl", "phase1_ppl", "phase1_acc", "phase1_hard_ppl", "final_ppl", "exit1_ppl",
                   "exit2_ppl", "exit3_ppl", "exit1_ece", "final_ece", "best_epoch", "epochs_run",
                   "phase1_seconds", "speedup_ideal", "speedup_measured"]
#: Metrics compared by seed against each family's reference.
PAIRED_METRICS = ["ppl", "acc"]


# --------------------------------------------------------------------------- summaries

def summarize(runs: pd.DataFrame, metrics: Iterable[str] = SUMMARY_METRICS) -> pd.DataFrame:
    """Long table: one row per (family, protocol, variant, metric) with n, mean, sd, ci_low, ci_high
    and the seeds used. Metrics absent from every run of a variant are left out."""
    rows = []
    present = [m for m in metrics if m in runs.columns]
    for key, g in runs.groupby(GROUP, sort=True):
        for metric in present:
            vals = g[metric].dropna()
            if vals.empty:
                continue
            seeds = g.loc[vals.index, "seed"].tolist()
            rows.append({**dict(zip(GROUP, key, strict=True)), "metric": metric, **mean_ci(vals),
                         "seeds": " ".join(str(s) for s in sorted(seeds))})
    return pd.DataFrame(rows, columns=GROUP + ["metric", "n", "mean", "sd", "ci_low", "ci_high", "seeds"])


def paired_stats(target: pd.Series, reference: pd.Series | float, level: float = 0.95) -> dict:
    """Paired comparison by seed (index = seed) of target - reference, or a one-sample comparison
    when `reference` is a constant. Relative difference = mean diff / mean reference (over the
    matched seeds) in %, its CI the diff CI scaled the same way."""
    target = target.dropna()
    if isinstance(reference, pd.Series):
        reference = reference.dropna()
        seeds = sorted(set(target.index) & set(reference.index))
        a, b = target.loc[seeds].to_numpy(float), reference.loc[seeds].to_numpy(float)
    else:
        seeds = sorted(target.index)
        a = target.loc[seeds].to_numpy(float)
        b = np.full_like(a, float(reference))
    diff = mean_ci(a - b, level)
    ref_mean = float(b.mean()) if len(b) else math.nan
    scale = 100.0 / ref_mean if ref_mean else math.nan
    with warnings.catch_warnings():  # identical diffs: scipy returns p = 0 (or NaN if all 0) and warns
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(sps.ttest_rel(a, b).pvalue) if len(seeds) > 1 else math.nan
    return {"n_pairs": len(seeds), "seeds": " ".join(str(s) for s in seeds),
            "mean_target": float(a.mean()) if len(a) else math.nan, "mean_reference": ref_mean,
            "mean_diff": diff["mean"], "sd_diff": diff["sd"], "ci_low": diff["ci_low"],
            "ci_high": diff["ci_high"], "rel_diff_pct": diff["mean"] * scale,
            "rel_ci_low": diff["ci_low"] * scale, "rel_ci_high": diff["ci_high"] * scale, "p_value": p}


def by_seed(runs: pd.DataFrame, family: str, variant: str, protocol: str, metric: str) -> pd.Series:
    sel = runs[(runs.family == family) & (runs.variant == variant) & (runs.protocol == protocol)]
    if metric not in sel.columns:
        return pd.Series(dtype=float)
    return sel.set_index("seed")[metric].astype(float)


def paired_differences(runs: pd.DataFrame, references: dict[str, str],
                       metrics: Iterable[str] = PAIRED_METRICS) -> pd.DataFrame:
    """Every variant of a family against the family's reference ("family/variant", config
    `references`), same protocol, matching seeds only."""
    rows = []
    for family, ref in references.items():
        ref_family, ref_variant = ref.split("/", 1)
        fam = runs[runs.family == family]
        for (protocol, variant), _ in fam.groupby(["protocol", "variant"], sort=True):
            if (family, variant) == (ref_family, ref_variant):
                continue
            for metric in metrics:
                target = by_seed(runs, family, variant, protocol, metric)
                reference = by_seed(runs, ref_family, ref_variant, protocol, metric)
                if target.dropna().empty or reference.dropna().empty:
                    continue
                rows.append({"family": family, "protocol": protocol, "variant": variant,
                             "reference": ref, "metric": metric, **paired_stats(target, reference)})
    cols = ["family", "protocol", "variant", "reference", "metric", "n_pairs", "seeds", "mean_target",
            "mean_reference", "mean_diff", "sd_diff", "ci_low", "ci_high", "rel_diff_pct", "rel_ci_low",
            "rel_ci_high", "p_value"]
    return pd.DataFrame(rows, columns=cols)


def epoch_caps(runs: pd.DataFrame) -> pd.DataFrame:
    """Per family and protocol: runs, runs that say whether they stopped early, runs that reached their
    epoch cap without stopping early, and that share (issue 12: a verdict on models still improving
    at the cap compares learning speed, not what the methods reach)."""
    rows = []
    if "cap_reached" not in runs:
        return pd.DataFrame(columns=["family", "protocol", "n_runs", "n_known", "n_capped", "share_capped"])
    for (family, protocol), g in runs.groupby(["family", "protocol"], sort=True):
        known = g.cap_reached.dropna()
        rows.append({"family": family, "protocol": protocol, "n_runs": len(g), "n_known": len(known),
                     "n_capped": int(known.sum()), "share_capped": known.mean() if len(known) else math.nan,
                     "max_epochs": " ".join(f"{x:g}" for x in sorted(g.max_epochs.dropna().unique()))})
    return pd.DataFrame(rows, columns=["family", "protocol", "n_runs", "n_known", "n_capped", "share_capped",
                                       "max_epochs"])
