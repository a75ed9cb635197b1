"""Checks the workflow makes before it plans or runs anything, so that no job starts (and Snakemake
deletes no committed output) for a mistake that can be seen up front.

At parse time: command-line values in the types the schema declares (Snakemake passes the items of
`--config seeds=[0,1]` as strings), unknown keys and names with a "did you mean", and the data
directory in one spelling. When the run starts (Snakemake's `onstart`, after the DAG is known and
before any job): the corpus reachable and digest-checked if a job will read WikiText-2, TeX
present if the paper will be built, and, if the statistics will be computed, every run file Snakemake
counts as up to date made with the settings the config gives it (else check_runs would refuse it only
after every other job, hours later).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import socket
from urllib.parse import urlparse


class PreflightError(Exception):
    """A problem found before any job ran; the message names it and ends with a Fix."""


def did_you_mean(name, choices) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


# --------------------------------------------------------------------------- config, at parse time

_INT = re.compile(r"^[+-]?\d+$")
_BOOL = {"true": True, "false": False}


def _coerce(value, declared):
    """A string from the command line -> the integer or boolean the schema declares there."""
    types = declared if isinstance(declared, list) else [declared]
    if isinstance(value, str):
        if "integer" in types and _INT.match(value.strip()):
            return int(value)
        if "boolean" in types and value.strip().lower() in _BOOL:
            return _BOOL[value.strip().lower()]
    return value


def coerce_command_line_values(config: dict, schema: dict) -> None:
    """In place: top-level integers, booleans and integer lists given as strings by `--config`."""
    for key, spec in schema.get("properties", {}).items():
        if key not in config:
            continue
        if spec.get("type") == "array" and isinstance(config[key], list):
            item_type = spec.get("items", {}).get("type")
            config[key] = [_coerce(v, item_type) for v in config[key]]
        elif "type" in spec:
            config[key] = _coerce(config[key], spec["type"])


def check_keys(config: dict, schema: dict, where: str = "") -> None:
    """Unknown keys where the schema lists the allowed ones, with the closest allowed key."""
    if not isinstance(config, dict):
        return
    props = schema.get("properties", {})
    for key, value in config.items():
        path = f"{where}.{key}" if where else str(key)
        if key in props:
            check_keys(value, props[key], path)
        elif schema.get("additionalProperties") is False:
            raise PreflightError(
                f"unknown workflow config key `{path}`.{did_you_mean(key, props)} Fix: correct or remove "
                f"it in your --configfile or --config (allowed: {', '.join(sorted(props))}; see "
                "workflow/schemas/config.schema.yaml)")
        elif isinstance(schema.get("additionalProperties"), dict):
            check_keys(value, schema["additionalProperties"], path)


def _check_name(name, choices, what: str, where: str, fix: str) -> None:
    if name not in choices:
        raise PreflightError(f"unknown {what} `{name}` at `{where}`.{did_you_mean(name, choices)} "
                             f"Fix: {fix}")


def check_names(config: dict, presets, kernels) -> None:
    """Every preset a run uses exists in lash, and the kernels setting is one of lash's; every family and
    variant named elsewhere exists."""
    preset_fix = "use one of lash's presets (`lash presets` lists them) in your --configfile or --config"
    _check_name(config["kernels"], kernels, "kernels", "kernels", f"use one of: {', '.join(kernels)}")
    families = config["families"]
    for family, variants in families.items():
        for variant, spec in variants.items():
            for protocol in (None, *config["protocols"]):
                part = spec if protocol is None else spec.get(protocol, {})
                where = f"families.{family}.{variant}" + (f".{protocol}" if protocol else "")
                if "preset" in part:
                    _check_name(part["preset"], presets, "preset", f"{where}.preset", preset_fix)
    for i, preset in enumerate(config["provenance"]["variants"]):
        _check_name(preset, presets, "preset", f"provenance.variants[{i}]", preset_fix)
    family_fix = "name a family of `families:` (and one of its variants) in your --configfile or --config"
    for family, ref in config["references"].items():
        _check_name(family, families, "family", f"references.{family}", family_fix)
        ref_family, _, ref_variant = ref.partition("/")
        _check_name(ref_family, families, "family", f"references.{family}", family_fix)
        _check_name(ref_variant, families[ref_family], "variant", f"references.{family}", family_fix)
    for family, keep in config.get("only", {}).items():
        _check_name(family, families, "family", f"only.{family}", family_fix)
        for variant in keep:
            _check_name(variant, families[family], "variant", f"only.{family}", family_fix)
    _check_word_level(config, presets, preset_fix)


def _check_word_level(config: dict, presets, preset_fix: str) -> None:
    a = config.get("ashem")
    if a:
        for protocol, preset in a["presets"].items():
            _check_name(preset, presets, "preset", f"ashem.presets.{protocol}", preset_fix)
        for protocol, variants in a["run"].items():
            for variant in variants:
                _check_name(variant, a["variants"], "ASHEM variant", f"ashem.run.{protocol}",
                            "name a variant of `ashem.variants:`")
        for name in a.get("baseline_variants", []):
            _check_name(name, a["baselines"], "ASHEM baseline", "ashem.baseline_variants",
                        "name a baseline of `ashem.baselines:`")
        seed = a.get("provenance_seed")
        if seed is not None and seed in config["word_seeds"]:
            raise PreflightError(
                f"ashem.provenance_seed {seed} is also one of word_seeds: the published run would be "
                "counted among the seed statistics. Fix: take it out of word_seeds (or set "
                "ashem.provenance_seed: null)")
        for name, prefix in a["baselines"].items():
            for protocol in a["baseline_protocols"]:
                _check_name(f"{prefix}_{protocol}", presets, "preset", f"ashem.baselines.{name}",
                            f"{preset_fix} (the protocol is appended: {prefix}_<protocol>)")
    p = config.get("progressive")
    if p:
        for name, preset in p["variants"].items():
            _check_name(preset, presets, "preset", f"progressive.variants.{name}", preset_fix)


def normalised_data_dir(configured, environment) -> str | None:
    """One spelling of the data directory (absolute, no trailing slash, symlinks resolved): the
    `--config data_dir` value, else LASH_DATA_DIR, else None (the hub). Its identity is the
    corpus digest, so the spelling must never make Snakemake rerun a job."""
    value = configured or environment
    if not value:
        return None
    return os.path.realpath(os.path.expanduser(str(value)))


# --------------------------------------------------------------------------- when the run starts

def lash_run_config(args: str):
    """The resolved lash config of a job's `--preset/--set/--smoke` arguments, as the job will see it.
    `train.device` is left out: it is the job's machine's business, not this one's."""
    from lash.config import resolve_config  # lash is the workflow's own library

    words = shlex.split(args)
    preset, sets, smoke = None, [], "--smoke" in words
    for flag, value in zip(words, words[1:], strict=False):  # pairs of neighbours
        if flag == "--preset":
            preset = value
        elif flag == "--set" and not value.startswith("train.device="):
            sets.append(value)
    return resolve_config(preset=preset, sets=sets, smoke=smoke)


def reads_wikitext2(args: str) -> bool:
    return lash_run_config(args).data.corpus == "wikitext2"


def _hub_host() -> str:
    return urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"


def hub_reachable(timeout: float = 5.0) -> bool:
    try:
        socket.create_connection((_hub_host(), 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def check_data(data_dir: str | None, offline: bool) -> None:
    """Load WikiText-2 once as the jobs will (lash.data verifies its digests), or say why not."""
    fix = ("Fix: pass a local copy with --config data_dir=PATH (or LASH_DATA_DIR=PATH), a directory "
           "with train.txt, validation.txt and test.txt")
    if data_dir is None:
        hub_cache_only = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE")
        if offline:
            raise PreflightError("jobs that read WikiText-2 would run with offline=True, but no data_dir "
                                 f"is set, so they could not load it. {fix}.")
        if not hub_cache_only and not hub_reachable():
            raise PreflightError(f"jobs that read WikiText-2 would run, no data_dir is set, and the Hugging "
                                 f"Face hub ({_hub_host()}) cannot be reached from this machine. {fix}.")
    from lash.data import load_wikitext2
    from lash.errors import LashError

    try:
        load_wikitext2("auto", data_dir)
    except LashError as exc:
        where = f"data_dir={data_dir}" if data_dir else "the Hugging Face hub (no data_dir set)"
        raise PreflightError(f"jobs that read WikiText-2 would run, but {where} does not give the "
                             f"verified corpus: {exc} In the workflow: --config data_dir=PATH or "
                             "LASH_DATA_DIR=PATH.") from None


TEX_PROGRAMS = ("latexmk", "pdflatex")


def check_tex() -> None:
    missing = [prog for prog in TEX_PROGRAMS if shutil.which(prog) is None]
    if missing:
        raise PreflightError(
            f"the paper rule would run, but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            "not on PATH. Fix: install TeX (apt-get install latexmk texlive-latex-extra "
            "texlive-fonts-recommended lmodern), or build everything but the PDF: "
            "snakemake --cores N figures tables_and_numbers")


def check_kept_runs(kept: dict[str, dict]) -> None:
    """kept: {path: the workflow's settings} of the existing run files no job will rebuild."""
    from lash.analysis.checks import file_problems

    stale = [f"{path}: {problems[0]}" for path, settings in sorted(kept.items())
             if (problems := file_problems(path, settings))]
    if stale:
        listed = "; ".join(stale[:3]) + (f"; and {len(stale) - 3} more" if len(stale) > 3 else "")
        raise PreflightError(
            f"{len(stale)} run file(s) that Snakemake counts as up to date do not match the workflow config, "
            f"so check_runs would refuse them after every other job: {listed}. Fix: retrain them (add "
            "`--forcerun` with those files, or `--forceall` for every run), or remove them")


def check_before_jobs(jobs, data_dir: str | None, offline: bool, paper_rule: str = "paper",
                      kept_runs: dict[str, dict] | None = None) -> None:
    """jobs: (rule name, lash arguments or None) of every job that will run; kept_runs: see
    check_kept_runs (checked first: it needs neither the corpus nor TeX)."""
    jobs = list(jobs)
    if kept_runs:
        check_kept_runs(kept_runs)
    if any(rule == paper_rule for rule, _ in jobs):
        check_tex()
    from lash.errors import LashError

    needs_data = False
    for args in sorted({args for _, args in jobs if args is not None}):  # seeds share their arguments
        try:
            needs_data = needs_data or reads_wikitext2(args)
        except LashError as exc:
            raise PreflightError(f"a job's lash settings are invalid ({args}): {exc}") from None
    if needs_data:
        check_data(data_dir, offline)
