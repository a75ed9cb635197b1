"""config/claims.yaml -> results/claims.csv: every published claim and every question of our own, under
each protocol, with its effect, intervals, raw and Holm-adjusted p, smallest effect of interest,
yardstick and label (the scheme of lash.analysis.verdicts).

claims.yaml: `smallest_effects` (groups of metrics with their scale, Delta and a one-line
justification), `yardsticks` ({protocol: ci | pi}), `claims` (the published claims) and
`questions` (our own, never counted with the claims). A claim's `measure` names family, variant and
metric (a column of results/runs.csv, or sweep:<metric>@<threshold>) and a `reference`: another
family/variant and/or metric (defaults: the measure's own), a constant `value`, or `best_other: true`
(the family's other variant with the best mean in that protocol; chosen after seeing the data, so
the comparison favours the reference). Claims without a measure carry `not_measured` (why).

A claim measured on a benchmark record instead (lash.analysis.benches) has `measure: {bench: <name>,
contender, metric, reference: {contender}}` and `protocols: [bench]`: the two contenders' times of
results/bench_<name>.json, paired by round. Its rows say `replicate: round` (the others: `seed`), and
Holm's adjustment, which runs within each group and protocol, leaves it a family of its own.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..errors import ConfigError
from . import verdicts as V
from .benches import BENCH_PROTOCOL, round_times
from .stats import by_seed

GROUPS = {"claims": "published", "questions": "question"}
_SWEEP_METRIC = re.compile(r"^sweep:(?P<metric>\w+)@(?P<threshold>[\d.]+)$")
#: `seeds` lists the paired replicates, which `replicate` names: seeds, or a benchmark's timing rounds.
COLUMNS = ["group", "claim", "protocol", "status", "label", "note", "direction", "metric", "scale", "target",
           "reference", "replicate", "n_pairs", "seeds", "mean_target", "mean_reference", "theta", "ci_low", "ci_high",
           "ci90_low", "ci90_high", "pi_low", "pi_high", "sd_d", "p_value", "p_holm", "delta",
           "published_value", "published_reference", "published_theta", "yardstick", "yardstick_low",
           "yardstick_high", "statement", "source"]


def base_metric(metric: str) -> str:
    """'sweep:ppl@0.8' -> 'ppl'; a run-table column is itself."""
    m = _SWEEP_METRIC.match(metric)
    return m["metric"] if m else metric


def metric_groups(config: dict) -> dict[str, dict]:
    """{metric: {group, scale, delta, why}} from claims.yaml's smallest_effects."""
    out = {}
    for name, group in (config.get("smallest_effects") or {}).items():
        for key in ("metrics", "scale", "delta", "why"):
            if group.get(key) in (None, "", []):
                raise ConfigError(f"smallest_effects.{name}.{key}", "is missing",
                                  "give every group metrics, scale (log | diff), delta and a one-line why")
        if group["scale"] not in V.SCALES:
            raise ConfigError(f"smallest_effects.{name}.scale", f"is {group['scale']!r}", "use log or diff")
        for metric in group["metrics"]:
            out[metric] = {"group": name, "scale": group["scale"], "delta": float(group["delta"]),
                           "why": group["why"]}
    return out


def claim_values(runs: pd.DataFrame, sweeps: pd.DataFrame | None, family: str, variant: str,
                 protocol: str, metric: str) -> pd.Series:
    """Per-seed values of a claim's metric: a run-table column, or `sweep:<metric>@<threshold>`."""
    m = _SWEEP_METRIC.match(metric)
    if not m:
        return by_seed(runs, family, variant, protocol, metric)
    if sweeps is None or sweeps.empty:
        return pd.Series(dtype=float)
    sel = sweeps[(sweeps.family == family) & (sweeps.variant == variant) & (sweeps.protocol == protocol)
                 & np.isclose(sweeps.threshold, float(m["threshold"]))]
    return sel.set_index("seed")[m["metric"]].astype(float)


def _best_other(runs, sweeps, family, variant, protocol, metric, direction) -> tuple[str, pd.Series]:
    """The family's other variant with the best mean (lowest for a claimed decrease)."""
    others = sorted(set(runs.loc[(runs.family == family) & (runs.protocol == protocol), "variant"]) - {variant})
    means = {v: claim_values(runs, sweeps, family, v, protocol, metric).mean() for v in others}
    means = {v: x for v, x in means.items() if not math.isnan(x)}
    if not means:
        return "", pd.Series(dtype=float)
    best = (max if direction == "increase" else min)(means, key=means.get)
    return best, claim_values(runs, sweeps, family, best, protocol, metric)


def _reference(claim, runs, sweeps, protocol, direction):
    measure = claim["measure"]
    ref = measure.get("reference") or {}
    if "value" in ref:
        return f"constant {ref['value']}", float(ref["value"])
    family, metric = ref.get("family", measure["family"]), ref.get("metric", measure["metric"])
    if ref.get("best_other"):
        best, values = _best_other(runs, sweeps, family, measure["variant"], protocol, metric, direction)
        return f"{family}/{best or '?'} {metric} (best other)", values
    variant = ref.get("variant", measure["variant"])
    return f"{family}/{variant} {metric}", claim_values(runs, sweeps, family, variant, protocol, metric)


def _check(claim: dict, where: str, groups: dict) -> dict | None:
    """The metric group of a claim's measure (None without a measure); ConfigError when malformed."""
    cid = claim.get("id", "?")
    for key in ("id", "statement", "source", "direction"):
        if not claim.get(key):
            raise ConfigError(f"{where}.{cid}.{key}", "is missing",
                              "every claim has id, statement, source and direction")
    if claim["direction"] not in V.DIRECTIONS:
        raise ConfigError(f"{where}.{cid}.direction", f"is {claim['direction']!r}", f"use one of {V.DIRECTIONS}")
    measure = claim.get("measure")
    if not measure:
        if not claim.get("not_measured"):
            raise ConfigError(f"{where}.{cid}.not_measured", "is missing for a claim without a measure",
                              "say why it is not measured")
        return None
    protocols = list(claim.get("protocols") or [])
    if "bench" in measure:
        for key in ("bench", "contender", "metric"):
            if not isinstance(measure.get(key), str) or not re.fullmatch(r"\w+", measure[key]):
                raise ConfigError(f"{where}.{cid}.measure.{key}", f"is {measure.get(key)!r}, not a name (letters, "
                                  "digits, underscores)", "give measure: {bench, contender, metric, reference: "
                                  "{contender}} for a claim measured on a benchmark")
        if not isinstance((measure.get("reference") or {}).get("contender"), str):
            raise ConfigError(f"{where}.{cid}.measure.reference.contender", "is missing",
                              "name the benchmark's contender the target is compared with")
        if protocols != [BENCH_PROTOCOL]:
            raise ConfigError(f"{where}.{cid}.protocols", f"is {protocols}, but the claim is measured on a benchmark",
                              f"use protocols: [{BENCH_PROTOCOL}] (timing rounds on one machine, not seeds)")
    elif BENCH_PROTOCOL in protocols:
        raise ConfigError(f"{where}.{cid}.protocols", f"holds {BENCH_PROTOCOL}, but the measure names runs",
                          "give measure.bench, or evaluate the runs under original and corrected")
    metric = base_metric(measure["metric"])
    ref_metric = base_metric((measure.get("reference") or {}).get("metric", measure["metric"]))
    if metric not in groups or groups[metric]["group"] != groups.get(ref_metric, {}).get("group"):
        raise ConfigError(f"{where}.{cid}.measure.metric", f"{metric!r} (reference {ref_metric!r}) has no common "
                          "smallest_effects group", "add the metrics to one group of smallest_effects")
    pub = claim.get("published") or {}
    if claim["direction"] == "none" and pub.get("value") is None:
        raise ConfigError(f"{where}.{cid}.published", "a claim of no effect needs the published values",
                          "give published.value and published.reference")
    return groups[metric]


def _bench_values(measure: dict, benches: dict) -> tuple[str, pd.Series, str, pd.Series]:
    """(target name, its times by round, reference name, its times by round) of a benchmark measure;
    no record of the benchmark: empty series (the cell has no runs)."""
    name, metric = measure["bench"], measure["metric"]
    contenders = (measure["contender"], measure["reference"]["contender"])
    names = [f"bench {name}/{c} {metric}" for c in contenders]
    if name not in benches:
        return names[0], pd.Series(dtype=float), names[1], pd.Series(dtype=float)
    target, reference = (round_times(benches[name], name, c) for c in contenders)
    return names[0], target, names[1], reference


def _cell(claim, group_name, protocol, runs, sweeps, metric_group, benches) -> dict:
    measure, pub = claim["measure"], claim.get("published") or {}
    scale = metric_group["scale"]
    if "bench" in measure:
        target_name, target, ref_name, reference = _bench_values(measure, benches)
        replicate = "round"
    else:
        ref_name, reference = _reference(claim, runs, sweeps, protocol, claim["direction"])
        target = claim_values(runs, sweeps, measure["family"], measure["variant"], protocol, measure["metric"])
        target_name, replicate = f"{measure['family']}/{measure['variant']} {measure['metric']}", "seed"
    cell = V.effect(target, reference, scale)
    return {**cell, "group": group_name, "claim": claim["id"], "protocol": protocol,
            "status": "measured" if cell["n_pairs"] else "no runs", "direction": claim["direction"],
            "metric": measure["metric"], "target": target_name, "replicate": replicate,
            "reference": ref_name, "delta": metric_group["delta"],
            "published_value": pub.get("value"), "published_reference": pub.get("reference"),
            "published_theta": V.published_theta(pub.get("value"), pub.get("reference"), scale),
            "statement": claim["statement"], "source": claim["source"]}


def check_config(config: dict) -> dict[str, dict | None]:
    """{claim id: its metric group (None without a measure)} of a well-formed claims.yaml; ConfigError
    naming the field and the fix otherwise (run by check_runs, before the aggregate replaces anything)."""
    groups = metric_groups(config)
    yardsticks = config.get("yardsticks") or {}
    checked = {}
    for where in GROUPS:
        for claim in config.get(where) or []:
            group = _check(claim, where, groups)
            if claim["id"] in checked:
                raise ConfigError(f"{where}.{claim['id']}.id", "is used twice",
                                  "give every claim and question its own id")
            for protocol in claim.get("protocols") or []:
                if yardsticks.get(protocol) not in V.YARDSTICKS:
                    raise ConfigError(f"yardsticks.{protocol}", f"is {yardsticks.get(protocol)!r}",
                                      f"give every protocol one of {sorted(V.YARDSTICKS)}")
            checked[claim["id"]] = group
    return checked


def evaluate(config: dict, runs: pd.DataFrame, sweeps: pd.DataFrame | None = None,
             benches: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per claim (or question) and protocol, in the order of claims.yaml (COLUMNS). benches:
    {name: record} of the benchmarks claims are measured on (lash.analysis.benches.read_benches)."""
    checked = check_config(config)
    yardsticks = config.get("yardsticks") or {}
    rows = []
    for where, group_name in GROUPS.items():
        for claim in config.get(where) or []:
            metric_group = checked[claim["id"]]
            if metric_group is None:
                rows.append({"group": group_name, "claim": claim["id"], "protocol": None,
                             "status": "not measured", "label": None, "note": claim["not_measured"],
                             "direction": claim["direction"], "statement": claim["statement"],
                             "source": claim["source"], "published_value": (claim.get("published") or {}).get("value"),
                             "published_reference": (claim.get("published") or {}).get("reference")})
                continue
            for protocol in claim.get("protocols") or []:
                rows.append(_cell(claim, group_name, protocol, runs, sweeps, metric_group, benches or {}))
    _adjust_and_label(rows, yardsticks)
    return pd.DataFrame(rows, columns=COLUMNS)


def _adjust_and_label(rows: list[dict], yardsticks: dict) -> None:
    """Holm within each group and protocol, then each measured cell's yardstick and label (in place)."""
    families: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["status"] == "measured":
            families.setdefault((row["group"], row["protocol"]), []).append(row)
    for cells in families.values():
        for row, p in zip(cells, V.holm([c["p_value"] for c in cells]), strict=True):
            row["p_holm"] = float(p)
    for cells in families.values():
        for row in cells:
            kind = yardsticks[row["protocol"]]
            low, high = V.yardstick(row, kind)
            row["label"], row["note"] = V.label(row, row["direction"], row["delta"], row["p_holm"],
                                                row["published_theta"], (low, high))
            row.update(yardstick=kind, yardstick_low=low, yardstick_high=high)
