"""Seed spread: headline PPL of every seed per method, with mean and 95 % CI, one panel per protocol.

Snakemake: input runs="results/runs.csv"; output pdf="figures/fig_seeds.pdf",
png="figures/fig_seeds.png"; params methods (optional list of family/variant). Caption:
workflow/report/fig_seeds.rst.
"""

import pandas as pd

from lash import figures
from lash.report import snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    fig = figures.fig_seeds(pd.read_csv(inputs["runs"]), params.get("methods"))
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
