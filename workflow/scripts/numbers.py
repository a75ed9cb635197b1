"""Aggregates -> paper/generated/numbers.tex (\\newcommand per cited number) + numbers.json (same values,
and the analysis environment: package versions and the lock file's digest).

Snakemake: input runs="results/runs.csv", summary="results/summary.csv", paired="results/paired.csv",
claims="results/claims.csv", claims_config="config/claims.yaml", timing="results/timing.csv",
ashem_provenance="results/ashem_provenance.csv"[, bench_<name>="results/bench_<name>.json" of each
benchmark a claim is measured on: its settings as \\bench<Name><Setting>]; output tex, json; params seeds, word_seeds,
published_seed (default: config), strict. Naming scheme: lash/analysis/macros.py and README.
"""

import pandas as pd

from lash.analysis.ashem_provenance import add_ashem_provenance_macros
from lash.analysis.benches import add_bench_macros, bench_names, read_benches
from lash.analysis.macros import build_numbers, numbers_header
from lash.analysis.script_io import load_yaml, snakemake_io
from lash.analysis.timing import add_timing_macros
from lash.analysis.writers import write_json, write_text
from lash.environment import package_record

TABLES = ("runs", "summary", "paired", "claims", "timing", "ashem_provenance")


def main(inputs, outputs, params):
    frames = {k: pd.read_csv(inputs[k]) for k in TABLES if k in inputs}
    claims_config = load_yaml(inputs["claims_config"])
    macros = build_numbers(*(frames[k] for k in ("runs", "summary", "paired", "claims")), claims_config, params)
    add_timing_macros(macros, frames.get("timing"))
    add_ashem_provenance_macros(macros, frames.get("ashem_provenance"))
    add_bench_macros(macros, read_benches(inputs, claims_config))
    benches = [f"bench_{name}" for name in bench_names(claims_config)]
    sources = [str(inputs[k]) for k in (*TABLES, *benches, "claims_config") if k in inputs]
    tex = macros.render(numbers_header(sources, macros.meta["git_sha"], macros.meta["git_shas"]))
    # \val{name} in the paper stops on a missing number, except in the smoke build (other data).
    tex += "\\def\\lashStrictNumbers{%d}\n" % (1 if params.get("strict", True) else 0)
    write_text(outputs["tex"], tex)
    write_json(outputs["json"], {"sources": sources, "git_sha": macros.meta["git_sha"],
                                 "environment": package_record(), "values": macros.values, "tex": macros.tex})


if "snakemake" in globals():
    smk = globals()["snakemake"]
    cfg = smk.config
    main(*snakemake_io(smk, {"seeds": cfg.get("seeds"), "word_seeds": cfg.get("word_seeds"),
                             "published_seed": cfg.get("published_seed"), "strict": not cfg.get("smoke", False)}))
