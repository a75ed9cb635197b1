"""Seeds -> statistics: tidy run tables, per-variant mean/sd/95 % CI, paired tests, claim verdicts.

Pure functions of result JSON files (no torch, no Snakemake). A run is identified by its path,
`results/<family>/<protocol>-<variant>/seed~<s>.json`; for the provenance family the protocol slot holds
the corpus (fallback | wikitext2).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats as sps

KEYS = ["family", "protocol", "variant", "seed"]
GROUP = ["family", "protocol", "variant"]
#: Metrics summarised per variant (the ones that exist in a run table; others are skipped).
SUMMARY_METRICS = ["ppl", "acc", "shallow_fraction", "compute_fraction_layers", "compute_fraction_flops",
                   "hard_ppl", "phase1_ppl", "phase1_acc", "phase1_hard_ppl", "final_ppl", "exit1_ppl",
                   "best_epoch", "epochs_run", "speedup_ideal", "speedup_measured"]
#: Metrics compared by seed against each family's reference.
PAIRED_METRICS = ["ppl", "acc"]
SWEEP_METRICS = ["ppl", "acc", "shallow_fraction", "compute_fraction_layers", "compute_fraction_flops"]

_PATH = re.compile(r"(?P<family>[^/]+)/(?P<protocol>[^/-]+)-(?P<variant>[^/]+)/seed~(?P<seed>\d+)\.json$")


# --------------------------------------------------------------------------- loading

def parse_result_path(path: str | Path) -> dict:
    """`.../alpha/corrected-a0.7/seed~3.json` -> family, protocol, variant, seed."""
    m = _PATH.search(Path(path).as_posix())
    if not m:
        raise ValueError(f"{path}: not a results path of the form <family>/<protocol>-<variant>/seed~<s>.json")
    return {**m.groupdict(), "seed": int(m["seed"])}


def _num(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _flops(head: dict, rep: dict, cfg: dict) -> float:
    """FLOP compute fraction of the headline: reported directly (word level), else that of the routed
    evaluation behind the headline when the weights were restored (the split report then scores
    the headline model; no routing = the full model, 1.0). The original protocol's headline comes
    from a best epoch whose weights are gone, so it has none (NaN)."""
    if "compute_fraction_flops" in head:
        return _num(head["compute_fraction_flops"])
    if not (cfg.get("train") or {}).get("restore_best"):
        return math.nan
    routed = rep.get("routed")
    return _num(routed.get("compute_fraction_flops")) if routed else (1.0 if rep else math.nan)


def run_row(path: str | Path, payload: dict) -> dict:
    """One tidy row. `final_ppl` / `exit1_ppl` come from the reported split's per-exit evaluation, i.e.
    on the weights the run ended with (restored best for `corrected`; the last epoch's weights for
    `original`, which did not restore, exactly like the original's layer analysis)."""
    m = payload.get("metrics", {})
    head = m.get("headline", {})
    split = head.get("split")
    rep = m.get(split) or {}
    exits = rep.get("exits") or {}
    phase1 = m.get("phase1") or {}
    # phase-1 numbers on the reported split: flat (ppl, acc), or under `report` / the split's name
    p1 = phase1 if "ppl" in phase1 else (phase1.get("report") or phase1.get(split) or {})
    phase2 = m.get("phase2") or {}
    cfg = payload.get("config", {})
    prov = payload.get("provenance", {})
    # ASHEM's skip-mode inference: the speed-up from the work counted, and the one measured side by
    # side on the reported split (kept out of `metrics`, which are deterministic; timings are not).
    timing = (payload.get("timing") or {}).get("inference") or {}
    row = parse_result_path(path)
    row.update(
        split=split,
        **{k: _num(head.get(k)) for k in ("ppl", "acc", "shallow_fraction", "compute_fraction_layers",
                                          "hard_ppl")},
        compute_fraction_flops=_flops(head, rep, cfg),
        phase1_ppl=_num(p1.get("ppl")), phase1_acc=_num(p1.get("acc")),
        phase1_hard_ppl=_num(phase1.get("hard_ppl")),
        final_ppl=_num((rep.get("final") or {}).get("ppl")),
        exit1_ppl=_num((exits.get("1") or {}).get("ppl")),
        best_epoch=_num(m.get("best_epoch", phase2.get("best_epoch"))),
        epochs_run=_num(m.get("epochs_run", phase2.get("epochs_run"))),
        n_params=_num(m.get("n_params")), vocab_size=_num(m.get("vocab_size")),
        corpus=(cfg.get("data") or {}).get("corpus"),
        level=(cfg.get("data") or {}).get("level"),
        routing_threshold=_num(cfg.get("routing_threshold")),
        speedup_ideal=_num(timing.get("speedup_ideal")),
        speedup_measured=_num(timing.get("speedup_measured")),
        wall_seconds=_num(prov.get("wall_seconds")),
        git_sha=prov.get("git_sha"), git_dirty=prov.get("git_dirty"),
        path=Path(path).as_posix(),
    )
    return row


def _read(path) -> dict:
    return json.loads(Path(path).read_text())


def load_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Result JSONs -> one row per run, sorted by family, protocol, variant, seed."""
    rows = [run_row(p, _read(p)) for p in paths]
    if not rows:
        return pd.DataFrame(columns=KEYS + ["split", "ppl", "acc"])
    return pd.DataFrame(rows).sort_values(KEYS, kind="stable").reset_index(drop=True)


def load_sweeps(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Threshold sweeps of the reported split: one row per run and threshold (evaluated on the weights
    the run ended with, see run_row)."""
    rows = []
    for p in paths:
        payload = _read(p)
        m = payload.get("metrics", {})
        rep = m.get((m.get("headline") or {}).get("split")) or {}
        for point in rep.get("sweep") or []:
            rows.append({**parse_result_path(p), "threshold": float(point["threshold"]),
                         **{k: _num(point.get(k)) for k in SWEEP_METRICS}})
    return pd.DataFrame(rows, columns=KEYS + ["threshold"] + SWEEP_METRICS)


def load_reliability(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Reliability bins of the reported split: one row per run, exit layer and bin."""
    rows = []
    for p in paths:
        m = _read(p).get("metrics", {})
        rep = m.get((m.get("headline") or {}).get("split")) or {}
        for layer, bins in (rep.get("reliability") or {}).items():
            for b in bins:
                rows.append({**parse_result_path(p), "layer": int(layer), "bin_low": b["bin_low"],
                             "bin_high": b["bin_high"], "count": b["count"],
                             "confidence": _num(b.get("confidence")), "accuracy": _num(b.get("accuracy"))})
    return pd.DataFrame(rows, columns=KEYS + ["layer", "bin_low", "bin_high", "count", "confidence",
                                              "accuracy"])


# --------------------------------------------------------------------------- statistics

def mean_ci(values, level: float = 0.95) -> dict:
    """n, mean, sd (ddof 1) and the t-distribution CI of the mean. n = 1 gives sd and CI NaN (no
    interval from one seed); NaN inputs are dropped."""
    x = np.asarray(pd.Series(values, dtype=float).dropna())
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """(low, high) of `mean_ci`: usable as seaborn's `errorbar=` callable."""
    r = mean_ci(values, level)
    return r["ci_low"], r["ci_high"]


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
