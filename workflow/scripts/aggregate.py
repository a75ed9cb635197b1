"""The checked runs -> results/runs.csv (one row per run), summary.csv/.json (per-variant mean, sd,
95 % CI; the JSON also records the analysis environment's package versions and lock digest),
paired.csv (each variant vs its family's reference, by seed), claims.csv/.json (every claim and
question of config/claims.yaml under each protocol: effect, intervals, raw and Holm p, Delta,
yardstick, label; lash.analysis.claims), epoch_caps.csv (per family and protocol, the runs that
reached their epoch cap without stopping early), and optionally sweep.csv and reliability.csv (the
per-run threshold sweeps and reliability bins the figures need).

Reads exactly the runs of the manifest that check_runs.py wrote (each file's bytes must still be the
checked ones); computes every table before writing any, and writes each atomically, so a refusal or a
failure leaves the previous statistics in place.

The claims measured on a benchmark record read it from the input bench_<name> (results/bench_<name>.json,
lash.analysis.benches), given only when claims.yaml measures a claim on that benchmark.

Snakemake: input checked="results/checked_runs.json", claims="config/claims.yaml"[, bench_<name>]; output runs, summary,
summary_json, paired, claims, claims_json, epoch_caps[, sweep, reliability]; params references (default:
config["references"]).
"""

import json

from lash.analysis import claims as claim_tables
from lash.analysis import runs as run_tables
from lash.analysis import stats
from lash.analysis.benches import read_benches
from lash.analysis.checks import read_checked
from lash.analysis.script_io import fail, load_yaml, snakemake_io
from lash.analysis.writers import write_text
from lash.environment import package_record
from lash.errors import LashError


def _records(df) -> list:
    return json.loads(df.to_json(orient="records"))  # pandas writes NaN as null


def _json(obj) -> str:
    return json.dumps(obj, indent=1, allow_nan=False) + "\n"  # indented for readable diffs


def main(inputs, outputs, params):
    with open(inputs["checked"], encoding="utf-8") as fh:
        payloads = read_checked(json.load(fh))
    payloads = dict(sorted(payloads.items()))
    runs = run_tables.load_runs(payloads)
    summary = stats.summarize(runs)
    paired = stats.paired_differences(runs, params.get("references") or {})
    sweeps = run_tables.load_sweeps(payloads)
    claims_config = load_yaml(inputs["claims"])
    claims = claim_tables.evaluate(claims_config, runs, sweeps, read_benches(inputs, claims_config))
    texts = {"runs": runs.to_csv(index=False), "summary": summary.to_csv(index=False),
             "paired": paired.to_csv(index=False), "claims": claims.to_csv(index=False),
             "summary_json": _json({"environment": package_record(), "summary": _records(summary)}),
             "claims_json": _json(_records(claims)),
             "epoch_caps": stats.epoch_caps(runs).to_csv(index=False)}
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
