"""Benchmark records as claim data: `results/bench_<name>.json` (written by `lash bench <name>`, e.g.
`lash bench fast-path`) holds, per contender, the seconds of one step in each timing round. A claim of
claims.yaml measured on one (`measure: {bench: <name>, contender, metric, reference: {contender}}`,
protocol `bench`) pairs the contenders' times by round: its replicates are repeated timings on one
machine, not seeds, and its intervals say how steady the ratio is there, not how it varies between
machines. Also the settings the paper states about such a benchmark, as numbers.tex macros.
"""

from __future__ import annotations

import math

import pandas as pd

from ..errors import DataError
from .naming import camel
from .runs import RunFileError, read_run

#: The protocol of claims measured on a benchmark record (claims.yaml `protocols: [bench]`).
BENCH_PROTOCOL = "bench"
#: The settings of a benchmark record stated in the paper: macro key -> path in `settings`.
SETTING_MACROS = {"Rounds": ("rounds",), "Steps": ("steps_per_round",), "Threads": ("threads",),
                  "Vocab": ("workload", "V"), "Layers": ("workload", "layers"), "Dim": ("workload", "dim"),
                  "Heads": ("workload", "heads"), "Seq": ("workload", "seq"), "Batch": ("workload", "batch")}


def bench_path(name: str) -> str:
    """The record of benchmark `name`, relative to the output root: results/bench_<name>.json."""
    return f"results/bench_{name}.json"


def bench_names(claims_config: dict) -> list[str]:
    """The benchmarks that claims.yaml's claims and questions are measured on (sorted, each once)."""
    return sorted({(c.get("measure") or {}).get("bench") for where in ("claims", "questions")
                   for c in claims_config.get(where) or []} - {None})


def read_bench(path, name: str) -> dict:
    """The record of benchmark `name` at `path`, read strictly and checked: `benchmark` is `name`, and
    every contender's `step_s` is a list of positive finite seconds, one per round, as many as
    `settings.rounds`, and it carries its provenance. DataError naming the file and the field otherwise."""
    payload = read_run(path)

    def refuse(problem: str):
        raise RunFileError(path, problem)

    if payload.get("benchmark") != name:
        refuse(f"`benchmark` is {payload.get('benchmark')!r}, not {name!r}")
    if not isinstance(payload.get("provenance"), dict) or "git_sha" not in payload["provenance"]:
        refuse("no `provenance` object with `git_sha`: not a record of `lash bench` (rerun it)")
    settings, contenders = payload.get("settings"), payload.get("contenders")
    if not isinstance(settings, dict) or not isinstance(contenders, dict) or not contenders:
        refuse("no `settings` and `contenders` objects: not a lash benchmark record")
    rounds = settings.get("rounds")
    for key, entry in contenders.items():
        times = entry.get("step_s") if isinstance(entry, dict) else None
        if not isinstance(times, list) or len(times) != rounds:
            refuse(f"`contenders.{key}.step_s` is not a list of `settings.rounds` = {rounds} times")
        bad = [t for t in times if isinstance(t, bool) or not isinstance(t, (int, float))
               or not math.isfinite(t) or t <= 0]
        if bad:
            refuse(f"`contenders.{key}.step_s` holds {bad[0]!r}, not a positive number of seconds")
    return payload


def read_benches(inputs: dict, claims_config: dict) -> dict[str, dict]:
    """{name: record} of every benchmark claims.yaml measures a claim on, from the script inputs
    `bench_<name>`; DataError when the rule does not give one."""
    benches = {}
    for name in bench_names(claims_config):
        if f"bench_{name}" not in inputs:
            raise DataError(f"claims.yaml measures a claim on benchmark {name!r}, but the rule gives no input "
                            f"`bench_{name}`. Fix: add {bench_path(name)} as input bench_{name} of the rule "
                            "(workflow/rules/aggregate.smk: BENCH_INPUTS)")
        benches[name] = read_bench(inputs[f"bench_{name}"], name)
    return benches


def round_times(bench: dict, name: str, contender: str) -> pd.Series:
    """Seconds per step of `contender` of benchmark `name` in each round, indexed by round (1, 2, ...)."""
    contenders = bench["contenders"]
    if contender not in contenders:
        raise RunFileError(bench_path(name), f"no contender {contender!r} (it has {', '.join(sorted(contenders))})",
                           "name one of its contenders in claims.yaml's measure, or rebuild the record")
    times = contenders[contender]["step_s"]
    return pd.Series(times, index=range(1, len(times) + 1), dtype=float)


def _setting(settings: dict, keys: tuple[str, ...]):
    node = settings
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def add_bench_macros(m, benches: dict[str, dict]) -> None:
    """\\bench<Name><Setting> (SETTING_MACROS: rounds, steps per round, threads, the model's size and
    batch) and \\bench<Name>Cpu of each benchmark record, into the Macros collection `m`."""
    for name, bench in sorted(benches.items()):
        stem = "bench" + camel(name)
        for key, path in SETTING_MACROS.items():
            value = _setting(bench["settings"], path)
            if value is not None:
                m.add(stem + key, value, "count")
        m.add(stem + "Cpu", str(bench.get("machine", {}).get("cpu", "not recorded")).replace("_", r"\_"), "text")
