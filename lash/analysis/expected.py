"""What the analysis rules expect of the runs, worked out from the workflow when it is parsed: the
settings each run's rule gives it on the command line, whether its seed is one its family counts, the
benchmark file of every training job behind the runs, and the files of the published ASHEM run.

workflow/rules/aggregate.smk imports this module at parse time, to build the rules' inputs and params;
the claim macros ask it only how many seeds a family's design has (family_seeds).
"""

from __future__ import annotations

import shlex
from itertools import pairwise
from types import SimpleNamespace

from .runs import parse_result_path


def settings_from_args(args: str) -> dict:
    """A run rule's lash arguments -> {dotted key: value} its resolved config must hold: the preset
    and every --set value as lash reads it (the last of a key wins; --smoke's budget comes last)."""
    from lash.config import flatten_overrides, parse_set  # lash's own reading of --set

    words = shlex.split(args)
    settings = {}
    for flag, value in pairwise(words):
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


#: The rules whose benchmark files time a run: its own rule, and for an ASHEM run its two training
#: phases (mining and evaluation write none).
TRAINING_RULES = {"ashem_evaluate": ["ashem_phase1", "ashem_phase2"],
                  "ashem_baseline": ["ashem_phase1", "ashem_baseline"]}


def benchmark_jobs(paths, config: dict, patterns: dict[str, str]) -> dict[str, dict]:
    """{benchmark file: {rule, family, protocol}} of every training job behind the runs at `paths`;
    `patterns` are the rules' benchmark patterns ({rule: pattern with wildcards})."""
    jobs = {}
    for path in paths:
        maker, keys = rule_of(path, config), parse_result_path(path)
        wildcards = vars(rule_wildcards(path))
        for name in TRAINING_RULES.get(maker, [maker]):
            jobs[patterns[name].format(**wildcards)] = {"rule": name, "family": keys["family"],
                                                        "protocol": keys["protocol"]}
    return jobs


def ashem_seed42_files(config: dict, out) -> dict[str, str]:
    """The published ASHEM run (original protocol, ashem.provenance_seed) and its stage files, named for
    the ashem_provenance rule; none when the config has no such run. `out` maps a path under
    output_root."""
    seed = (config.get("ashem") or {}).get("provenance_seed")
    if seed is None:
        return {}
    stages = out(f"results/ashem_stages/original/seed~{seed}")
    return {"final": out(f"results/ashem/original-ashem/seed~{seed}.json"), "phase1": f"{stages}/phase1.json",
            "mine": f"{stages}/mine.json", "phase2": f"{stages}/phase2-ashem.json"}
