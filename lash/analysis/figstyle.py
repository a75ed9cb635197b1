"""The figures' shared style, panels, markers and save helpers; each figure's plotting code lives in
the script its rule runs (workflow/scripts/fig_*.py), so editing one figure reruns only that figure.

Error bars are 95 % t-intervals over seeds (lash.analysis.intervals), the same numbers as summary.csv.
Figures are deterministic: every random element (the jitter of the per-seed dots, seaborn's bootstrap
where a line has several points at one x) draws from RANDOM_SEED, and the files carry no creation
date, so the same data give the same PDF and PNG bytes.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless and deterministic; before pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .intervals import t_interval  # noqa: E402
from .labels import plain_label  # noqa: E402

PROTOCOLS = ["original", "corrected"]
PUBLISHED = dict(marker="X", s=60, color="black", zorder=5, label="published (seed 42)")
#: The seed of every random element of a figure: strip-plot jitter, seaborn's bootstrap (`seed=`).
RANDOM_SEED = 0
method_label = plain_label  # a "family/variant" as the figures print it


def setup_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.0,
                  rc={"pdf.fonttype": 42, "figure.dpi": 100, "savefig.dpi": 200, "axes.titlesize": 9})


def save(fig, paths) -> None:
    """Write every .pdf/.png path; PDF without CreationDate so equal figures are equal bytes."""
    for path in paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"CreationDate": None} if path.suffix == ".pdf" else {}
        fig.savefig(path, metadata=meta, bbox_inches="tight")
    plt.close(fig)


def save_outputs(fig, outputs: dict) -> None:
    """Save to every output of a script (named pdf/png, or a positional list)."""
    paths = [p for v in outputs.values() for p in ([v] if isinstance(v, str) else v)]
    save(fig, [p for p in paths if str(p).endswith((".pdf", ".png"))])


@contextmanager
def seeded_jitter(seed: int = RANDOM_SEED):
    """seaborn jitters strip plots with numpy's global generator: seed it for the plot (so a rebuild
    gives the same bytes) and give the caller's state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def strip(ax, data, x, y, order, **kw) -> None:
    """One grey dot per seed, jittered along the category axis with a fixed seed."""
    with seeded_jitter():
        sns.stripplot(data=data, x=x, y=y, order=order, color="grey", size=3, ax=ax, **kw)


def protocol_title(plotted: pd.DataFrame, protocol: str) -> str:
    """'original protocol (fallback)': the corpora of the rows the panel really plots (pass those, not
    every run: the word-level runs of a protocol are on another corpus), so a smoke build says so."""
    sel = plotted.loc[plotted.protocol == protocol] if "protocol" in plotted else plotted
    corpora = sorted(sel["corpus"].dropna().unique()) if "corpus" in sel else []
    return f"{protocol} protocol" + (f" ({', '.join(corpora)})" if corpora else "")


def panels(protocols, width=3.2, height=2.6, sharey=False):
    """One panel per protocol, side by side."""
    n = max(len(protocols), 1)
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), sharey=sharey, squeeze=False)
    return fig, list(axes[0])


def present(runs: pd.DataFrame, family: str | None = None) -> list[str]:
    """The protocols (in paper order) that have runs, of `family` if given."""
    sel = runs if family is None else runs[runs.family == family]
    return [p for p in PROTOCOLS if p in set(sel.protocol)]


def empty_figure(message: str):
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def published_points(published: dict, family: str) -> dict[str, float]:
    """variant -> published PPL for the runs of one family (claims.yaml published_runs)."""
    out = {}
    for pub in (published or {}).values():
        run = pub.get("run") or ""
        if run.startswith(family + "/") and pub.get("ppl") is not None:
            out[run.split("/", 1)[1]] = pub["ppl"]
    return out


def mean_ci_line(ax, data, x, y, **kw):
    """Mean over seeds with 95 % t-interval error bars, as a line with markers."""
    sns.lineplot(data=data, x=x, y=y, errorbar=t_interval, err_style="bars", marker="o", ax=ax,
                 err_kws={"capsize": 2}, **kw)


def seed_dots(ax, data, x, y, **kw):
    """One translucent dot per seed on a numeric axis (no jitter)."""
    sns.scatterplot(data=data, x=x, y=y, alpha=0.5, s=14, legend=False, ax=ax, **kw)
