"""The 95 % t-interval of a mean over seeds: one definition for summary.csv and every error bar."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps


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
