"""All run JSONs -> results/runs.csv (one row per run), summary.csv/.json (per-variant mean, sd, 95 % CI),
paired.csv (each variant vs its family's reference, by seed), claims.csv/.json (every claim of
config/claims.yaml under each protocol, with its verdict), and optionally sweep.csv and reliability.csv
(the per-run threshold sweeps and reliability bins the figures need).

Snakemake: input runs=[...json], claims="config/claims.yaml"; output runs, summary, summary_json, paired,
claims, claims_json[, sweep, reliability]; params references (default: config["references"]).
"""

import json

from lash import stats
from lash.report import load_yaml, snakemake_io, write_text


def _records(df) -> str:
    # pandas writes NaN as null; indent for readable diffs
    return json.dumps(json.loads(df.to_json(orient="records")), indent=1) + "\n"


def main(inputs, outputs, params):
    paths = sorted([inputs["runs"]] if isinstance(inputs["runs"], str) else inputs["runs"])
    runs = stats.load_runs(paths)
    summary = stats.summarize(runs)
    paired = stats.paired_differences(runs, params.get("references") or {})
    sweeps = stats.load_sweeps(paths)
    claims = stats.evaluate_claims(load_yaml(inputs["claims"]).get("claims", []), runs, sweeps)
    for key, df in (("runs", runs), ("summary", summary), ("paired", paired), ("claims", claims)):
        write_text(outputs[key], df.to_csv(index=False))
    write_text(outputs["summary_json"], _records(summary))
    write_text(outputs["claims_json"], _records(claims))
    if "sweep" in outputs:
        write_text(outputs["sweep"], sweeps.to_csv(index=False))
    if "reliability" in outputs:
        write_text(outputs["reliability"], stats.load_reliability(paths).to_csv(index=False))


if "snakemake" in globals():
    main(*snakemake_io(snakemake, {"references": snakemake.config.get("references", {})}))  # noqa: F821
