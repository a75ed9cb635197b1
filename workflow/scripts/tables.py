"""Aggregates -> booktabs table bodies (complete tabular environments) in paper/generated/.

Snakemake: input summary="results/summary.csv", claims="results/claims.csv",
claims_config="config/claims.yaml"; output claims="paper/generated/tab_claims.tex",
main="paper/generated/tab_main.tex", provenance="paper/generated/tab_provenance.tex",
ashem="paper/generated/tab_ashem.tex"; params main_methods (optional list of family/variant rows).
"""

import pandas as pd

from lash.analysis import tables
from lash.analysis.script_io import load_yaml, snakemake_io
from lash.analysis.writers import write_text


def main(inputs, outputs, params):
    summary, claims = pd.read_csv(inputs["summary"]), pd.read_csv(inputs["claims"])
    cfg = load_yaml(inputs["claims_config"])
    makers = {
        "claims": lambda: tables.table_claims(claims, cfg),
        "main": lambda: tables.table_main(summary, params.get("main_methods")),
        "provenance": lambda: tables.table_provenance(summary, cfg),
        "ashem": lambda: tables.table_ashem(summary, cfg),
    }
    for key, make in makers.items():
        if key in outputs:
            write_text(outputs[key], make())


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
