"""Layer learning-rate schedules on alpha = 0.7: per-seed PPL, mean and 95 % CI, published values.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_lr.pdf", png="figures/fig_lr.png". Caption: workflow/report/fig_lr.rst.
"""

import pandas as pd

from lash import figures
from lash.report import load_yaml, snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_runs")
    fig = figures.fig_lr(pd.read_csv(inputs["runs"]), published)
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
