"""What the check_runs rule expects of each run, worked out from the workflow when it is parsed: the
settings the run's rule gives it on the command line, and whether its seed is one its family counts.

Only workflow/rules/aggregate.smk imports this module (at parse time, to build check_runs' params);
no rule script runs it.
"""

from __future__ import annotations

import shlex
from types import SimpleNamespace

from .runs import parse_result_path


def settings_from_args(args: str) -> dict:
    """A run rule's lash arguments -> {dotted key: value} its resolved config must hold: the preset
    and every --set value as lash reads it (the last of a key wins; --smoke's budget comes last)."""
    from lash.config import flatten_overrides, parse_set  # lash's own reading of --set

    words = shlex.split(args)
    settings = {}
    for flag, value in zip(words, words[1:]):
        if flag == "--preset":
            settings["preset"] = value
        elif flag == "--set":
            settings.update(flatten_overrides(parse_set(value)))
    return settings


def rule_of(path: str, config: dict) -> str:
    """The rule that makes the run at `path` (train, train_provenance, ashem_evaluate, ashem_baseline
    or progressive)."""
    family, variant = (parse_result_path(path)[k] for k in ("family", "variant"))
    if family == "ashem":
        return "ashem_baseline" if variant in config["ashem"]["baselines"] else "ashem_evaluate"
    return {"provenance": "train_provenance", "progressive": "progressive"}.get(family, "train")


def rule_wildcards(path: str) -> SimpleNamespace:
    """The wildcards of the run rule that makes `path`, under every name those rules use."""
    run = parse_result_path(path)
    return SimpleNamespace(**run, corpus=run["protocol"], preset=run["variant"], baseline=run["variant"])


def family_seeds(family: str, config: dict) -> list[int]:
    """The seeds a family's statistics count: the published seed for the provenance family, the
    word-level seeds for ASHEM and progressive training, the seeds for the others."""
    if family == "provenance":
        return [config["published_seed"]]
    return config["word_seeds"] if family in ("ashem", "progressive") else config["seeds"]


def counted(path: str, config: dict) -> bool:
    """Whether the run at `path` is one of its family's seeds (ASHEM's run at the published seed is not)."""
    run = parse_result_path(path)
    return run["seed"] in family_seeds(run["family"], config)
