"""Seeds -> statistics: per-variant mean/sd/95 % CI, paired tests, claim verdicts.

Pure functions of the tidy run tables of lash.analysis.runs (no torch, no Snakemake).
"""

from __future__ import annotations

import math
import re
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
                   "best_epoch", "epochs_run", "speedup_ideal", "speedup_measured"]
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
            rows.append({**dict(zip(GROUP, key)), "metric": metric, **mean_ci(vals),
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


# --------------------------------------------------------------------------- verdicts

VERDICTS = ("supported", "contradicted", "inconclusive")


def verdict(ci_low: float, ci_high: float, direction: str, n_pairs: int) -> str:
    """The paper's verdict rule for a claim about a paired difference d = target - reference
    (per seed, same protocol), with its 95 % t-interval [ci_low, ci_high]:

    - "supported": the CI excludes 0 on the claimed side (claimed "decrease": ci_high < 0;
      claimed "increase": ci_low > 0);
    - "contradicted": the CI excludes 0 on the opposite side; for a claimed "none" (no
      difference), a CI that excludes 0 on either side;
    - "inconclusive": otherwise, i.e. the CI contains 0 (a claimed "none" is never "supported":
      absence of evidence is not evidence), and always with fewer than 2 paired seeds.
    """
    if direction not in ("decrease", "increase", "none"):
        raise ValueError(f"direction must be decrease, increase or none, not {direction!r}")
    if n_pairs < 2 or not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    below, above = ci_high < 0, ci_low > 0
    if direction == "none":
        return "contradicted" if (below or above) else "inconclusive"
    claimed, opposite = (below, above) if direction == "decrease" else (above, below)
    return "supported" if claimed else "contradicted" if opposite else "inconclusive"


# --------------------------------------------------------------------------- claims

_SWEEP_METRIC = re.compile(r"^sweep:(?P<metric>\w+)@(?P<threshold>[\d.]+)$")


def claim_values(runs: pd.DataFrame, sweeps: pd.DataFrame | None, family: str, variant: str,
                 protocol: str, metric: str) -> pd.Series:
    """Per-seed values of a claim's metric: a run-table column, or `sweep:<metric>@<threshold>`
    (that metric of the threshold sweep, e.g. sweep:ppl@0.8)."""
    m = _SWEEP_METRIC.match(metric)
    if not m:
        return by_seed(runs, family, variant, protocol, metric)
    if sweeps is None or sweeps.empty:
        return pd.Series(dtype=float)
    sel = sweeps[(sweeps.family == family) & (sweeps.variant == variant) & (sweeps.protocol == protocol)
                 & np.isclose(sweeps.threshold, float(m["threshold"]))]
    return sel.set_index("seed")[m["metric"]].astype(float)


def evaluate_claims(claims: list[dict], runs: pd.DataFrame, sweeps: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """One row per (claim, protocol): published value, measured paired difference, verdict.
    A claim's `measure` names family, variant, metric and a `reference` (another family/variant
    and/or metric, defaulting to the measure's own, or a constant `value`); claims without a
    measure get status "not measured"."""
    rows = []
    for claim in claims:
        pub = claim.get("published") or {}
        base = {"claim": claim["id"], "statement": claim["statement"], "direction": claim.get("direction"),
                "published_value": pub.get("value"), "published_reference": pub.get("reference"),
                "published_change_pct": pub.get("change_pct"), "published_text": pub.get("text")}
        measure = claim.get("measure")
        if not measure:
            rows.append({**base, "protocol": None, "status": "not measured", "verdict": None})
            continue
        ref = measure.get("reference") or {}
        for protocol in claim.get("protocols", []):
            target = claim_values(runs, sweeps, measure["family"], measure["variant"], protocol,
                                  measure["metric"])
            if "value" in ref:
                reference, ref_name = float(ref["value"]), f"constant {ref['value']}"
            else:
                rf, rv = ref.get("family", measure["family"]), ref.get("variant", measure["variant"])
                rm = ref.get("metric", measure["metric"])
                reference = claim_values(runs, sweeps, rf, rv, protocol, rm)
                ref_name = f"{rf}/{rv} {rm}"
            st = paired_stats(target, reference)
            status = "measured" if st["n_pairs"] else "no runs"
            rows.append({**base, "protocol": protocol, "metric": measure["metric"],
                         "target": f"{measure['family']}/{measure['variant']} {measure['metric']}",
                         "reference": ref_name, **st, "status": status,
                         "verdict": verdict(st["ci_low"], st["ci_high"], claim["direction"], st["n_pairs"])
                         if st["n_pairs"] else None})
    return pd.DataFrame(rows)
