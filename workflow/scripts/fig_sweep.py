"""Threshold sweep Pareto fronts: PPL against compute fraction (layers; FLOPs with heads) per method.

Snakemake: input sweep="results/sweep.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_sweep.pdf", png="figures/fig_sweep.png"; params methods (optional list of
family/variant). Caption: workflow/report/fig_sweep.rst.
"""

import pandas as pd

from lash import figures
from lash.report import load_yaml, snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_sweep")
    fig = figures.fig_sweep(pd.read_csv(inputs["sweep"]), params.get("methods"), published)
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
