"""What the statistics may read: every run file checked against its path, the workflow config and the
expected seeds before anything is computed from it.

A run `results/<family>/<protocol>-<variant>/seed~<s>.json` is accepted when
- it is strict JSON (no NaN or Infinity literal) holding `config`, `metrics.headline` and `provenance`;
- its resolved `config` holds every setting the workflow gives that family, protocol and variant (the
  rule's `--preset` and `--set` values), so a run of alpha 0.3 copied to the alpha 0.7 path is refused;
- `config.seed` and `provenance.seed` are the path's seed;
- its headline perplexity and accuracy are finite and in range (and every other headline number is
  finite or null);
and the runs of each family/protocol/variant are exactly the expected seeds: a missing seed or a
stray `seed~<s>.json` beside them is an error, never a smaller n. A run the workflow makes at a seed that
is not one of its family's seeds (ASHEM's run at the published seed 42 beside the word-level seeds) is
checked the same way, listed as not counted, and never enters the statistics.

The result is a manifest (path, family, protocol, variant, seed and SHA-256 of each accepted run) that
the aggregate reads: it computes the statistics from exactly these bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import defaultdict
from pathlib import Path

from ..errors import DataError
from .runs import REBUILD, RunFileError, parse_result_path, parse_run, read_bytes

#: Headline numbers: (lowest, highest) allowed; `ppl` and `acc` must be there, the others may be null.
REQUIRED_HEADLINE = {"ppl": (1.0, math.inf), "acc": (0.0, 1.0)}
OPTIONAL_HEADLINE = {"shallow_fraction": (0.0, 1.0), "compute_fraction_layers": (0.0, 1.0),
                     "compute_fraction_flops": (0.0, math.inf), "hard_ppl": (1.0, math.inf)}
MISPLACED = "move the file out of results/, or put it back where its own config and seed say it belongs"


def _norm(path) -> str:
    return Path(os.path.normpath(path)).as_posix()


def _canonical(value):
    """JSON's view of a value: integer mapping keys become strings, as in a results file."""
    return json.loads(json.dumps(value, sort_keys=True))


def _lookup(config: dict, dotted: str):
    node = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(dotted)
        node = node[key]
    return node


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def headline_problems(headline: dict) -> list[str]:
    """What is wrong with a run's headline numbers (empty when nothing is)."""
    problems = []
    for key, (low, high) in {**REQUIRED_HEADLINE, **OPTIONAL_HEADLINE}.items():
        value = headline.get(key)
        if value is None and key in OPTIONAL_HEADLINE:
            continue
        if not _is_number(value) or not math.isfinite(value):
            problems.append(f"headline `{key}` is {json.dumps(value)}, not a finite number")
        elif not low <= value <= high:
            problems.append(f"headline `{key}` is {value}, outside [{low}, {high}]")
    return problems


def payload_problems(payload: dict, seed: int, settings: dict) -> list[str]:
    """What is wrong with a parsed run for its path's seed and the workflow's settings for it."""
    for key in ("config", "metrics", "provenance"):
        if not isinstance(payload.get(key), dict):
            return [f"no `{key}` object: not a lash results file"]
    headline = payload["metrics"].get("headline")
    if not isinstance(headline, dict):
        return ["no `metrics.headline` object: not a lash results file"]
    problems = []
    for where in ("config", "provenance"):
        if payload[where].get("seed") != seed:
            problems.append(f"`{where}.seed` is {json.dumps(payload[where].get('seed'))}, but the path says "
                            f"seed {seed}")
    for key, want in settings.items():
        try:
            have = _lookup(payload["config"], key)
        except KeyError:
            problems.append(f"`config.{key}` is missing, but the workflow sets it to {json.dumps(_canonical(want))}")
            continue
        if _canonical(have) != _canonical(want):
            problems.append(f"`config.{key}` is {json.dumps(_canonical(have))}, but the workflow sets "
                            f"{json.dumps(_canonical(want))} for this path (a run of another setting copied here?)")
    return problems + headline_problems(headline)


def _inspect(path, settings: dict) -> tuple[bytes, list[str], str]:
    """(the run file's bytes, what is wrong with it given the workflow's settings for it, the fix)."""
    try:
        raw = read_bytes(path)
        payload = parse_run(path, raw)
    except RunFileError as exc:
        return b"", [exc.problem], exc.fix
    return raw, payload_problems(payload, parse_result_path(path)["seed"], settings), REBUILD.format(path=path)


def file_problems(path, settings: dict) -> list[str]:
    """What check_runs would refuse in the existing run file at `path`, given the workflow's settings for
    it (the workflow asks this before any job starts, of the run files it will not rebuild)."""
    return _inspect(path, settings)[1]


def _seed_dirs(expected) -> dict[str, set[int]]:
    """{run directory: its expected seeds}."""
    seeds = defaultdict(set)
    for path in expected:
        seeds[Path(path).parent.as_posix()].add(parse_result_path(path)["seed"])
    return seeds


def strays(expected) -> list[str]:
    """The `seed~<s>.json` files in the expected runs' directories that are not expected runs."""
    expected = {_norm(p) for p in expected}
    return [path for directory in sorted(_seed_dirs(expected))
            for path in sorted(_norm(f) for f in Path(directory).glob("seed~*.json")) if path not in expected]


def check_runs(paths, expected: dict[str, dict], not_counted: dict[str, dict] | None = None) -> dict:
    """Check the run files `paths` against `expected` ({path: settings} of the runs the statistics
    count, the settings as dotted keys, e.g. {"preset": "asymmetric", "layer_weights": {1: 0.7, 3:
    0.3}}) and `not_counted` (the same for runs of the workflow at a seed that is not one of their
    family's seeds, e.g. ASHEM's run at the published seed: checked, listed, never counted). Return
    the manifest, or raise DataError naming every refused file, its problem and the fix."""
    given = {_norm(p) for p in paths}
    counted = {_norm(p): settings for p, settings in expected.items()}
    others = {_norm(p): settings for p, settings in (not_counted or {}).items()}
    expected = {**others, **counted}
    seeds = _seed_dirs(counted)
    missing = {p for p in expected if p not in given or not Path(p).exists()}
    refused: list[tuple[str, str, str]] = []  # (path, problem, fix)
    for path in strays(expected):
        directory = Path(path).parent.as_posix()
        listed = " ".join(str(s) for s in sorted(seeds.get(directory, ())))
        refused.append((path, f"extra seed {parse_result_path(path)['seed']}: "
                              f"{'/'.join(Path(directory).parts[-2:])} expects the seeds {listed} of the "
                              "workflow config", MISPLACED + ", or add the seed to the config's seeds"))
    for path in sorted(missing):
        keys = parse_result_path(path)
        listed = " ".join(str(s) for s in sorted(seeds.get(Path(path).parent.as_posix(), ())))
        refused.append((path, f"missing seed {keys['seed']}: {keys['family']}/{keys['protocol']}-"
                              f"{keys['variant']} expects the seeds {listed}",
                        f"build it (snakemake --cores 1 {path})"))
    for path in sorted(given - set(expected)):
        refused.append((path, "not a run of the workflow config (no family, protocol, variant and seed of it "
                              "makes this path)", MISPLACED))
    accepted = {}
    for path in sorted((given & set(expected)) - missing):
        raw, problems, fix = _inspect(path, expected[path])
        if problems:
            refused.append((path, "; ".join(problems), fix))
            continue
        accepted[path] = {"path": path, **parse_result_path(path), "sha256": hashlib.sha256(raw).hexdigest()}
    if refused:
        raise DataError(refused_message(refused))
    return {"about": "the run files the statistics read, checked by lash.analysis.checks",
            "runs": [accepted[p] for p in sorted(counted)],
            "not_counted": [{**accepted[p], "reason": "not one of the seeds of its family (a provenance run)"}
                            for p in sorted(others)]}


def refused_message(refused: list[tuple[str, str, str]]) -> str:
    lines = [f"{path}: {problem}. Fix: {fix}" for path, problem, fix in refused]
    if len(lines) == 1:
        return lines[0]
    head = f"{len(lines)} run files refused; the statistics were not computed and the previous ones stay:"
    return "\n".join([head, *(f"  {line}" for line in lines)])


def read_checked(manifest: dict) -> dict[str, dict]:
    """{path: payload} of the manifest's runs, each file's bytes still those that were checked."""
    payloads = {}
    for run in manifest["runs"]:
        raw = read_bytes(run["path"])
        if hashlib.sha256(raw).hexdigest() != run["sha256"]:
            raise RunFileError(run["path"], "changed since it was checked",
                               "check the runs again (snakemake --cores 1 -f check_runs)")
        payloads[run["path"]] = parse_run(run["path"], raw)
    return payloads
