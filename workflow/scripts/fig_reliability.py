"""Reliability diagram of exit 1 and the final exit, bins pooled over seeds, one panel per protocol.

Snakemake: input reliability="results/reliability.csv"; output pdf="figures/fig_reliability.pdf",
png="figures/fig_reliability.png"; params method (default "alpha/a0.7"). Caption:
workflow/report/fig_reliability.rst.
"""

import pandas as pd

from lash import figures
from lash.report import snakemake_io


def main(inputs, outputs, params):
    figures.setup_style()
    fig = figures.fig_reliability(pd.read_csv(inputs["reliability"]), params.get("method", "alpha/a0.7"))
    figures.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(snakemake))  # noqa: F821
