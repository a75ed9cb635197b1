"""Seed spread: headline PPL of every seed per method, with mean and 95 % CI, one panel per protocol.

Snakemake: input runs="results/runs.csv"; output pdf="figures/fig_seeds.pdf",
png="figures/fig_seeds.png"; params methods (optional list of family/variant). Caption:
workflow/report/fig_seeds.rst.
"""

import pandas as pd
import seaborn as sns

from lash.analysis import figstyle as fs
from lash.analysis.intervals import t_interval
from lash.analysis.labels import MAIN_METHODS
from lash.analysis.script_io import snakemake_io


def fig_seeds(runs: pd.DataFrame, methods: list[str] | None = None):
    data = runs.assign(method=runs.family + "/" + runs.variant)
    methods = [m for m in (methods or MAIN_METHODS) if m in set(data.method)]
    data = data[data.method.isin(methods)].copy()
    protocols = fs.present(data)
    if not protocols:
        return fs.empty_figure("no runs in this build")
    data["label"] = data.method.map(fs.method_label)
    order = [fs.method_label(m) for m in methods]
    fig, axes = fs.panels(protocols, width=3.4, height=0.28 * len(order) + 1.0)
    for ax, protocol in zip(axes, protocols, strict=True):
        d = data[data.protocol == protocol]
        fs.strip(ax, d, "ppl", "label", order, alpha=0.5)
        sns.pointplot(data=d, y="label", x="ppl", order=order, errorbar=t_interval, linestyle="none",
                      capsize=0.2, markersize=3, err_kws={"linewidth": 1.0}, ax=ax)
        ax.set(title=fs.protocol_title(d, protocol), xlabel="headline PPL (one dot per seed)", ylabel=None)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    fs.save_outputs(fig_seeds(pd.read_csv(inputs["runs"]), params.get("methods")), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
