"""Effect of the layer-2 loss weight on alpha = 0.7: raw (unnormalised) against normalised weights.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_l2.pdf", png="figures/fig_l2.png". Caption: workflow/report/fig_l2.rst.
"""

import pandas as pd

from lash import figures
from lash.report import load_yaml, snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_runs")
    fig = figures.fig_l2(pd.read_csv(inputs["runs"]), published)
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
