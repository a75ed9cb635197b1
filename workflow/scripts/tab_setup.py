"""The settings table of the paper from the resolved configs of representative runs.

Snakemake: input runs=[one run JSON per column]; output tex="paper/generated/tab_setup.tex";
params titles (the column titles, in the order of the runs).
"""

from lash.analysis.runs import read_run
from lash.analysis.tables import setup_table
from lash.analysis.writers import write_text


def main(inputs: dict[str, str], output: str) -> None:
    """inputs: {column title: run JSON}."""
    columns = {title: read_run(path)["config"] for title, path in inputs.items()}
    write_text(output, setup_table(columns))


if "snakemake" in globals():
    snakemake = globals()["snakemake"]
    main({snakemake.params.titles[i]: p for i, p in enumerate(snakemake.input.runs)},
         snakemake.output.tex)
