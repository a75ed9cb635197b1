"""Headline PPL against the loss weight alpha at exit 1, mean and 95 % CI over seeds, one panel per
protocol.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_alpha.pdf", png="figures/fig_alpha.png". Caption: workflow/report/fig_alpha.rst.
"""

import pandas as pd

from lash import figures
from lash.report import load_yaml, snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_runs")
    fig = figures.fig_alpha(pd.read_csv(inputs["runs"]), published)
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
