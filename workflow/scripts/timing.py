"""Snakemake's benchmark files of the training jobs -> results/timing.csv (per family and rule: jobs,
missing files, total, median and longest wall seconds, peak resident memory; lash.analysis.timing).

Snakemake: input runs=[every run JSON] (the benchmark files are written with them); output
csv="results/timing.csv"; params jobs ({benchmark path: {rule, family, protocol}}), build_record
(the optional record of the whole build's wall time).
"""

from lash.analysis.script_io import fail, snakemake_io
from lash.analysis.timing import read_build_record, timing_table
from lash.analysis.writers import write_text
from lash.errors import LashError


def main(inputs, outputs, params):
    table = timing_table(params["jobs"], read_build_record(params["build_record"]) if params.get("build_record")
                         else None)
    write_text(outputs["csv"], table.to_csv(index=False))


if "snakemake" in globals():
    try:
        main(*snakemake_io(globals()["snakemake"]))
    except LashError as exc:
        fail(exc)
