"""Aggregates -> paper/generated/numbers.tex (\\newcommand per cited number) + numbers.json (same values).

Snakemake: input runs="results/runs.csv", summary="results/summary.csv", paired="results/paired.csv",
claims="results/claims.csv", claims_config="config/claims.yaml"; output tex, json;
params seeds, word_seeds (default: config). Naming scheme: lash/analysis/macros.py and README.
"""

import pandas as pd

from lash.analysis.macros import build_numbers, numbers_header
from lash.analysis.script_io import load_yaml, snakemake_io
from lash.analysis.writers import write_json, write_text


def main(inputs, outputs, params):
    runs, summary, paired, claims = (pd.read_csv(inputs[k]) for k in ("runs", "summary", "paired", "claims"))
    macros = build_numbers(runs, summary, paired, claims, load_yaml(inputs["claims_config"]), params)
    sources = [str(inputs[k]) for k in ("runs", "summary", "paired", "claims", "claims_config")]
    tex = macros.render(numbers_header(sources, macros.meta["git_sha"], macros.meta["git_shas"]))
    # \val{name} in the paper stops on a missing number, except in the smoke build (other data).
    tex += "\\def\\lashStrictNumbers{%d}\n" % (1 if params.get("strict", True) else 0)
    write_text(outputs["tex"], tex)
    write_json(outputs["json"], {"sources": sources, "git_sha": macros.meta["git_sha"],
                                 "values": macros.values, "tex": macros.tex})


if "snakemake" in globals():
    smk = globals()["snakemake"]
    cfg = smk.config
    main(*snakemake_io(smk, {"seeds": cfg.get("seeds"), "word_seeds": cfg.get("word_seeds"),
                             "strict": not cfg.get("smoke", False)}))
