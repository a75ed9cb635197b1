"""ASHEM phases: phase-1 against phase-2 PPL and hard-token PPL per variant and baseline; a placeholder
figure when the build has no ASHEM results.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_ashem.pdf", png="figures/fig_ashem.png". Caption: workflow/report/fig_ashem.rst.
"""

import pandas as pd

from lash import figures
from lash.report import load_yaml, snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_ashem")
    fig = figures.fig_ashem(pd.read_csv(inputs["runs"]), published)
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
