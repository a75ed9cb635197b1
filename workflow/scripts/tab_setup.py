"""The settings table of the paper from the resolved configs of representative runs, with the share of
each column's family that reached its epoch cap without stopping early (results/epoch_caps.csv).

Snakemake: input runs=[one run JSON per column], caps="results/epoch_caps.csv"; output
tex="paper/generated/tab_setup.tex"; params titles (the column titles, in the order of the runs).
"""

import pandas as pd

from lash.analysis.runs import parse_result_path, read_run
from lash.analysis.tables import caps_cell, setup_table
from lash.analysis.writers import write_text


def main(inputs: dict[str, str], output: str, caps_csv: str | None = None) -> None:
    """inputs: {column title: run JSON}."""
    columns = {title: read_run(path)["config"] for title, path in inputs.items()}
    caps = None
    if caps_csv:
        table = pd.read_csv(caps_csv)
        caps = {title: caps_cell(table, *(parse_result_path(path)[k] for k in ("family", "protocol")))
                for title, path in inputs.items()}
    write_text(output, setup_table(columns, caps))


if "snakemake" in globals():
    snakemake = globals()["snakemake"]
    main({snakemake.params.titles[i]: p for i, p in enumerate(snakemake.input.runs)},
         snakemake.output.tex, snakemake.input.get("caps"))
