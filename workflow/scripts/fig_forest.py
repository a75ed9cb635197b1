"""The paper's central figure: a forest plot of every published claim's effect theta with its 95 % CI, one
panel per protocol, the published effect marked and the band of the smallest effect of interest
(+-Delta) shaded; the original protocol also shows the 95 % prediction interval of one seed (its
yardstick). Single runs are hollow points without an interval; the label colours each point. Claims
measured over the timing rounds of a benchmark (protocol bench) are not drawn: their rounds are not
seeds (Table tab:claims and the text give them).

Snakemake: input claims="results/claims.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_forest.pdf", png="figures/fig_forest.png". Caption: workflow/report/fig_forest.rst.
"""

import math

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lash.analysis import figstyle as fs
from lash.analysis.labels import plain
from lash.analysis.script_io import load_yaml, snakemake_io

LABEL_COLOURS = {"reproduced": "#0072B2", "smaller": "#56B4E9", "larger": "#009E73", "absent": "#E69F00",
                 "size-excluded": "#CC79A7", "reversed": "#D55E00", "inconclusive": "#999999",
                 "single-run": "#000000"}
#: Effects within +-LINEAR percent (points) are drawn on a linear scale, larger ones logarithmically.
LINEAR = 1.0
TICKS = [1, 10, 100, 1000, 10000]


def _pct(x):
    """A fraction (or a column of them) in percent or points."""
    if isinstance(x, pd.Series):
        return 100.0 * x.astype(float)
    return math.nan if x is None or pd.isna(x) else 100.0 * float(x)


def fig_forest(claims: pd.DataFrame, claims_config: dict):
    order = [c["id"] for c in claims_config.get("claims") or []]
    labels = {c["id"]: plain(c.get("label", c["id"])) for c in claims_config.get("claims") or []}
    data = claims[(claims.group == "published") & (claims.status == "measured")
                  & claims.protocol.isin(fs.PROTOCOLS)] if len(claims) else claims
    protocols = fs.present(data) if len(data) else []
    if not protocols:
        return fs.empty_figure("no measured claims in this build")
    rows = [c for c in order if c in set(data.claim)]
    values = pd.concat([_pct(data[c]) for c in ("theta", "ci_low", "ci_high", "pi_low", "pi_high",
                                                 "published_theta")]).dropna()
    floor = max(100 * data.delta.max(), LINEAR)  # the +-Delta band always shows
    left, right = 1.4 * max(-values.min(), floor), 1.4 * max(values.max(), floor)
    ticks = [-t for t in reversed(TICKS) if t < left] + [0] + [t for t in TICKS if t < right]
    if len(ticks) > 7:  # a wide axis: every other decade, zero and +-1 kept
        ticks = [t for t in ticks if abs(t) in (0, 1) or abs(t) in TICKS[::2]]
    fig, axes = fs.panels(protocols, width=3.6, height=0.24 * len(rows) + 1.2, sharey=True)
    for ax, protocol in zip(axes, protocols, strict=True):
        d = data[data.protocol == protocol].set_index("claim")
        for y, claim in enumerate(rows):
            if claim not in d.index:
                continue
            r = d.loc[claim]
            delta = 100.0 * float(r.delta)
            ax.add_patch(plt.Rectangle((-delta, y - 0.4), 2 * delta, 0.8, color="0.88", lw=0, zorder=0))
            colour = LABEL_COLOURS.get(r.label, "grey")
            if protocol == "original" and not pd.isna(r.pi_low):
                ax.plot([_pct(r.pi_low), _pct(r.pi_high)], [y, y], color=colour, lw=0.6, zorder=2)
            if not pd.isna(r.ci_low):
                ax.plot([_pct(r.ci_low), _pct(r.ci_high)], [y, y], color=colour, lw=2.2, zorder=3)
            single = r.label == "single-run"
            ax.scatter([_pct(r.theta)], [y], s=22, zorder=4, color="white" if single else colour,
                       edgecolors=colour, linewidths=1.0)
            if not pd.isna(r.published_theta):
                ax.scatter([_pct(r.published_theta)], [y], marker="x", s=22, color="black", lw=1.0, zorder=5)
        ax.axvline(0, color="black", lw=0.6, zorder=1)
        ax.set_xscale("symlog", linthresh=LINEAR)
        ax.set_xlim(-left, right)
        ax.set_xticks(ticks, [f"{t:+g}" if t else "0" for t in ticks], fontsize=6)
        ax.set(title=fs.protocol_title(d.reset_index(), protocol), ylim=(len(rows) - 0.5, -0.5))
    axes[0].set_yticks(range(len(rows)), [labels[c] for c in rows], fontsize=6)
    present = [lab for lab in LABEL_COLOURS if lab in set(data.label)]
    handles = [Line2D([], [], marker="o", ls="-", color=LABEL_COLOURS[lab], label=lab, markersize=4,
                      markerfacecolor="white" if lab == "single-run" else LABEL_COLOURS[lab]) for lab in present]
    handles += [Line2D([], [], marker="x", ls="none", color="black", label="published (seed 42)"),
                Patch(color="0.88", label="±Δ (smallest effect of interest)")]
    fig.supxlabel("effect θ: % of the perplexity or time; percentage points for fractions", fontsize=7, y=0.07)
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=6, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    fig = fig_forest(pd.read_csv(inputs["claims"]), load_yaml(inputs["claims_config"]))
    fs.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
