"""Check every run JSON before the statistics read it (lash.analysis.checks): strict JSON, the run's
own config and seed against its path and the workflow config, the expected seeds, finite headline
numbers; and config/claims.yaml (lash.analysis.claims.check_config). Writes the manifest of the
accepted runs; any refusal names the file and the problem and exits 2, before the aggregate rule (which
Snakemake would let delete its outputs) starts.

Snakemake: input runs=[...json], claims="config/claims.yaml"; output manifest="results/checked_runs.json";
params expected ({path: the settings the workflow gives that run} of the runs the statistics count),
not_counted (the same for runs at a seed outside their family's seeds), strays (only a rerun trigger).
"""

from lash.analysis.checks import check_runs
from lash.analysis.claims import check_config
from lash.analysis.script_io import fail, load_yaml, snakemake_io
from lash.analysis.writers import write_json
from lash.errors import LashError


def main(inputs, outputs, params):
    if inputs.get("claims"):
        check_config(load_yaml(inputs["claims"]))
    runs = [inputs["runs"]] if isinstance(inputs["runs"], str) else inputs["runs"]
    manifest = check_runs(runs, params["expected"], params.get("not_counted"))
    write_json(outputs["manifest"], manifest)


if "snakemake" in globals():
    try:
        main(*snakemake_io(globals()["snakemake"]))
    except LashError as exc:
        fail(exc)
