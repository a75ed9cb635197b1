"""The verdict scheme of the paper: an effect size per claim, its intervals and tests, and one label.

Effect. For a claim comparing a target with a reference over paired seeds s (same protocol, same
seed: same initialisation and data order), d_s = log(t_s / r_s) for perplexity-like metrics (scale
"log") or d_s = t_s - r_s for fractions and accuracies (scale "diff"). The effect is
theta = exp(mean d) - 1 (a relative change: 0.05 = +5 %) or theta = mean d (a difference of
fractions: 0.05 = +5 percentage points); every interval is computed on d and mapped the same way:
- the 95 % t-interval of the mean (LEVEL),
- the 90 % t-interval for the equivalence test (TOST at 5 %: both one-sided tests reject exactly when
  the 90 % interval lies inside [-Delta, +Delta]),
- the 95 % prediction interval for the effect of one more seed, mean +- t * sd * sqrt(1 + 1/n).
p is the two-sided one-sample t-test of mean d = 0; Holm's step-down adjustment runs over the
claims of one group (the published claims, or our own questions) within one protocol.

Yardstick for a published value. The published numbers are single runs at seed 42: in the original
protocol, which re-runs their setting, the published effect is one draw and is compared with the 95 %
prediction interval of one seed; in the corrected protocol with the 95 % CI of the mean.

Labels (LABELS), decided in this order:
- `single-run`  fewer than two paired seeds: no interval; only a note, same or opposite sign;
- `absent`      the 90 % CI lies inside +-Delta (equivalence by TOST): no effect of interest;
- `reversed`    the opposite sign with Holm p < 0.05;
- `reproduced`  the claimed sign with Holm p < 0.05 and the published value inside the yardstick (a
                claim without a published size: the claimed sign with Holm p < 0.05);
- `smaller`     the claimed sign, Holm p < 0.05, the published value outside the yardstick and larger
                in size than ours;
- `larger`      the same, the published value smaller in size than ours;
- `size-excluded` none of the above, but the yardstick excludes the published value;
- `inconclusive` none of these.
The claimed sign is the claim's direction. A claim of no effect (direction "none") is an
equivalence claim: `absent` supports it; it is refuted when the 95 % CI lies wholly outside +-Delta,
labelled `larger` (the effect has the sign of the published small change) or `reversed`. A compute
saving is a claim about its size: it is `reproduced` only when the published saving lies inside the
yardstick, and a saving that merely differs from zero is `smaller` or `larger`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL, TOST_LEVEL, ALPHA = 0.95, 0.90, 0.05
SCALES = ("log", "diff")
DIRECTIONS = ("increase", "decrease", "none")
YARDSTICKS = {"ci": "95 % CI of the mean", "pi": "95 % prediction interval of one seed"}
LABELS = ("reproduced", "smaller", "larger", "absent", "size-excluded", "reversed", "inconclusive", "single-run")
#: The labels a tally counts (single runs are never counted).
TALLIED = LABELS[:-1]


def _to_theta(x: float, scale: str) -> float:
    return math.expm1(x) if scale == "log" else float(x)


def paired(target: pd.Series, reference: pd.Series | float) -> tuple[list, np.ndarray, np.ndarray]:
    """(seeds, target values, reference values) of the seeds both have (a constant reference pairs
    with every seed of the target)."""
    target = target.dropna()
    if isinstance(reference, pd.Series):
        reference = reference.dropna()
        seeds = sorted(set(target.index) & set(reference.index))
        return seeds, target.loc[seeds].to_numpy(float), reference.loc[seeds].to_numpy(float)
    seeds = sorted(target.index)
    values = target.loc[seeds].to_numpy(float)
    return seeds, values, np.full_like(values, float(reference))


def differences(t: np.ndarray, r: np.ndarray, scale: str) -> np.ndarray:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    if scale == "diff":
        return t - r
    if (t <= 0).any() or (r <= 0).any():
        raise ValueError("a log-ratio effect needs positive values")
    return np.log(t) - np.log(r)


def _p_value(d: np.ndarray) -> float:
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:  # identical differences: no spread, the test is degenerate but its answer is not
        return 1.0 if mean == 0.0 else 0.0
    return float(2 * sps.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))


def effect(target: pd.Series, reference: pd.Series | float, scale: str) -> dict:
    """theta, its 95 % CI, 90 % CI and 95 % prediction interval, and the raw p (see the module)."""
    seeds, t, r = paired(target, reference)
    n = len(seeds)
    out = {"n_pairs": n, "seeds": " ".join(str(s) for s in seeds), "scale": scale,
           "mean_target": float(t.mean()) if n else math.nan,
           "mean_reference": float(r.mean()) if n else math.nan}
    keys = ("theta", "ci_low", "ci_high", "ci90_low", "ci90_high", "pi_low", "pi_high", "sd_d", "p_value")
    out.update(dict.fromkeys(keys, math.nan))
    if n == 0:
        return out
    d = differences(t, r, scale)
    mean = float(d.mean())
    out["theta"] = _to_theta(mean, scale)
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q95, q90 = sps.t.ppf(0.5 + LEVEL / 2, n - 1), sps.t.ppf(0.5 + TOST_LEVEL / 2, n - 1)
    for name, half in (("ci", q95 * se), ("ci90", q90 * se), ("pi", q95 * sd * math.sqrt(1 + 1 / n))):
        out[f"{name}_low"], out[f"{name}_high"] = _to_theta(mean - half, scale), _to_theta(mean + half, scale)
    out.update(sd_d=sd, p_value=_p_value(d))
    return out


def published_theta(value, reference, scale: str) -> float:
    """The published effect on the same scale: value / reference - 1, or value - reference."""
    if value is None or reference is None:
        return math.nan
    return float(value) / float(reference) - 1 if scale == "log" else float(value) - float(reference)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries are not tests (kept NaN, not counted in m)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def yardstick(cell: dict, kind: str) -> tuple[float, float]:
    """(low, high) of the yardstick `kind` ("ci" or "pi") of an effect."""
    if kind not in YARDSTICKS:
        raise ValueError(f"yardstick must be one of {sorted(YARDSTICKS)}, not {kind!r}")
    return cell[f"{kind}_low"], cell[f"{kind}_high"]


def _sign(x: float) -> int:
    return 0 if x == 0 or math.isnan(x) else (1 if x > 0 else -1)


def claimed_sign(direction: str, published: float) -> int:
    """+1 / -1: the sign the claim expects (a no-effect claim: the sign of its published change)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    return {"increase": 1, "decrease": -1}.get(direction) or _sign(published)


def label(cell: dict, direction: str, delta: float, p_holm: float, published: float,
          yard: tuple[float, float]) -> tuple[str, str]:
    """(label, note) of one claim cell (see the module docstring for the rule and its order)."""
    sign = claimed_sign(direction, published)
    theta = cell["theta"]
    if cell["n_pairs"] < 2 or math.isnan(cell["ci_low"]):
        if math.isnan(theta):
            return "single-run", "no value"
        same = _sign(theta) == sign
        return "single-run", ("same sign as claimed" if same else "opposite sign to the claim"
                              if _sign(theta) else "no change")
    if -delta <= cell["ci90_low"] and cell["ci90_high"] <= delta:
        return "absent", "90 % CI inside the smallest effect of interest"
    low, high = yard
    has_pub = not math.isnan(published)
    inside = has_pub and low <= published <= high
    if direction == "none" and (cell["ci_low"] > delta or cell["ci_high"] < -delta):
        # an equivalence claim, refuted by a 95 % CI wholly outside +-Delta
        return ("larger" if _sign(theta) == sign else "reversed"), "95 % CI outside the smallest effect of interest"
    significant = p_holm < ALPHA
    if significant and sign and _sign(theta) == -sign:
        return "reversed", ""
    if significant and _sign(theta) == sign:
        if not has_pub or inside:
            return "reproduced", "" if has_pub else "no published size: sign only"
        return ("smaller" if abs(published) > abs(theta) else "larger"), ""
    if has_pub and not inside:
        return "size-excluded", ""
    return "inconclusive", ""
