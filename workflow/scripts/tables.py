"""Aggregates -> booktabs table bodies (complete tabular environments) in paper/generated/.

Snakemake: input summary="results/summary.csv", claims="results/claims.csv",
claims_config="config/claims.yaml", timing="results/timing.csv",
ashem_provenance="results/ashem_provenance.csv"; output claims, questions, deltas, main, provenance,
ashem, timing, ashem_seed42 (paper/generated/tab_<name>.tex); params main_methods (optional list of
family/variant rows).
"""

import pandas as pd

from lash.analysis import tables, verdict_tables
from lash.analysis.script_io import load_yaml, snakemake_io
from lash.analysis.writers import write_text


def main(inputs, outputs, params):
    summary, claims = pd.read_csv(inputs["summary"]), pd.read_csv(inputs["claims"])
    cfg = load_yaml(inputs["claims_config"])
    makers = {
        "claims": lambda: verdict_tables.table_claims(claims, cfg),
        "questions": lambda: verdict_tables.table_questions(claims, cfg),
        "deltas": lambda: verdict_tables.table_deltas(cfg),
        "main": lambda: tables.table_main(summary, params.get("main_methods")),
        "provenance": lambda: tables.table_provenance(summary, cfg),
        "ashem": lambda: tables.table_ashem(summary, cfg),
        "timing": lambda: tables.table_timing(pd.read_csv(inputs["timing"])),
        "ashem_seed42": lambda: tables.table_ashem_seed42(pd.read_csv(inputs["ashem_provenance"])),
    }
    for key, make in makers.items():
        if key in outputs:
            write_text(outputs[key], make())


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
