"""Headline PPL against the loss weight alpha at exit 1, mean and 95 % CI over seeds, one panel per
protocol.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_alpha.pdf", png="figures/fig_alpha.png". Caption: workflow/report/fig_alpha.rst.
"""

import pandas as pd

from lash.analysis import figstyle as fs
from lash.analysis.script_io import load_yaml, snakemake_io


def fig_alpha(runs: pd.DataFrame, published: dict | None = None):
    data = runs[runs.family == "alpha"].copy()
    protocols = fs.present(data)
    if not protocols:
        return fs.empty_figure("no alpha runs in this build")
    data["alpha"] = data.variant.str[1:].astype(float)
    pub = {float(v[1:]): p for v, p in fs.published_points(published, "alpha").items()}
    fig, axes = fs.panels(protocols)
    for ax, protocol in zip(axes, protocols, strict=True):
        d = data[data.protocol == protocol]
        fs.seed_dots(ax, d, "alpha", "ppl", color="grey")
        fs.mean_ci_line(ax, d, "alpha", "ppl", label="mean, 95% CI")
        if protocol == "original" and pub:
            ax.scatter(list(pub), list(pub.values()), **fs.PUBLISHED)
        ax.set(title=fs.protocol_title(d, protocol), xlabel="α (loss weight at exit 1)", ylabel="headline PPL")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_runs")
    fs.save_outputs(fig_alpha(pd.read_csv(inputs["runs"]), published), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
