"""The settings table of the paper from the resolved configs of representative runs.

Snakemake: input runs=dict {column title: run JSON}; output tex="paper/generated/tab_setup.tex".
"""

import json
from pathlib import Path

from lash.report import setup_table


def main(inputs: dict[str, str], output: str) -> None:
    columns = {title: json.loads(Path(path).read_text())["config"] for title, path in inputs.items()}
    Path(output).write_text(setup_table(columns))


if "snakemake" in globals():
    snakemake = globals()["snakemake"]
    main({snakemake.params.titles[i]: p for i, p in enumerate(snakemake.input.runs)},
         snakemake.output.tex)
