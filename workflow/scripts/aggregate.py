"""The checked runs -> results/runs.csv (one row per run), summary.csv/.json (per-variant mean, sd,
95 % CI), paired.csv (each variant vs its family's reference, by seed), claims.csv/.json (every claim
of config/claims.yaml under each protocol, with its verdict), and optionally sweep.csv and
reliability.csv (the per-run threshold sweeps and reliability bins the figures need).

Reads exactly the runs of the manifest that check_runs.py wrote (each file's bytes must still be the
checked ones); computes every table before writing any, and writes each atomically, so a refusal or a
failure leaves the previous statistics in place.

Snakemake: input checked="results/checked_runs.json", claims="config/claims.yaml"; output runs, summary,
summary_json, paired, claims, claims_json[, sweep, reliability]; params references (default:
config["references"]).
"""

import json

from lash.analysis import runs as run_tables
from lash.analysis import stats
from lash.analysis.checks import read_checked
from lash.analysis.script_io import fail, load_yaml, snakemake_io
from lash.analysis.writers import write_text
from lash.errors import LashError


def _records(df) -> str:
    # pandas writes NaN as null; indent for readable diffs
    return json.dumps(json.loads(df.to_json(orient="records")), indent=1) + "\n"


def main(inputs, outputs, params):
    with open(inputs["checked"], encoding="utf-8") as fh:
        payloads = read_checked(json.load(fh))
    payloads = dict(sorted(payloads.items()))
    runs = run_tables.load_runs(payloads)
    summary = stats.summarize(runs)
    paired = stats.paired_differences(runs, params.get("references") or {})
    sweeps = run_tables.load_sweeps(payloads)
    claims = stats.evaluate_claims(load_yaml(inputs["claims"]).get("claims", []), runs, sweeps)
    texts = {"runs": runs.to_csv(index=False), "summary": summary.to_csv(index=False),
             "paired": paired.to_csv(index=False), "claims": claims.to_csv(index=False),
             "summary_json": _records(summary), "claims_json": _records(claims)}
    if "sweep" in outputs:
        texts["sweep"] = sweeps.to_csv(index=False)
    if "reliability" in outputs:
        texts["reliability"] = run_tables.load_reliability(payloads).to_csv(index=False)
    for key, text in texts.items():
        write_text(outputs[key], text)


if "snakemake" in globals():
    try:
        smk = globals()["snakemake"]
        main(*snakemake_io(smk, {"references": smk.config.get("references", {})}))
    except LashError as exc:
        fail(exc)
