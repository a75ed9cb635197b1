"""The published ASHEM run at seed 42 against the original code's printed numbers ->
results/ashem_provenance.csv (lash.analysis.ashem_provenance): one row per printed number, and rows
`setting:kernels`, `setting:aten_capability`, `setting:cpu_model` with how the run computed.

Snakemake: input final, phase1, mine, phase2 (the seed-42 run and its stage files; none when the build
has no seed-42 run), claims_config="config/claims.yaml"; output csv="results/ashem_provenance.csv".
"""

import pandas as pd

from lash.analysis import ashem_provenance as ap
from lash.analysis.runs import read_run
from lash.analysis.script_io import fail, load_yaml, snakemake_io
from lash.analysis.writers import write_text
from lash.errors import LashError

STAGES = ("final", "phase1", "mine", "phase2")


def main(inputs, outputs, params):
    if not all(inputs.get(k) for k in STAGES):  # the build has no run at the published seed
        write_text(outputs["csv"], pd.DataFrame(columns=ap.COLUMNS).to_csv(index=False))
        return
    runs = {k: read_run(inputs[k]) for k in STAGES}
    printed = load_yaml(inputs["claims_config"]).get("original_code_ashem_seed42") or {}
    table = ap.comparison(printed, ap.our_values(runs["phase1"], runs["mine"], runs["phase2"]))
    settings = pd.DataFrame([{"key": f"setting:{k}", "label": v} for k, v in ap.run_settings(runs["final"]).items()
                             if v is not None], columns=ap.COLUMNS)
    write_text(outputs["csv"], pd.concat([table, settings], ignore_index=True).to_csv(index=False))


if "snakemake" in globals():
    try:
        main(*snakemake_io(globals()["snakemake"]))
    except LashError as exc:
        fail(exc)
