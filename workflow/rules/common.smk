# Helpers shared by the rules: config checks, the run matrix, lash command lines, source inputs.
import copy
import glob  # noqa: F401 -- paper.smk lists the sections with it
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# lash's own merge, flatten and presets: a workflow variant means exactly what it means to lash.
from lash.config import PRESETS, choices, deep_merge, flatten_overrides

ROOT = Path(workflow.basedir)
sys.path.insert(0, str(ROOT / "workflow" / "lib"))
import preflight  # noqa: E402
from sources import sources  # noqa: E402

SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def _refuse(problem):
    raise WorkflowError(str(problem)) from None


try:  # command-line strings in the declared types first, then unknown keys with a "did you mean"
    preflight.coerce_command_line_values(config, SCHEMA)
    preflight.check_keys(config, SCHEMA)
except preflight.PreflightError as exc:
    _refuse(exc)
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as exc:  # name the key and say how to fix it, not only the schema path
    text = str(exc)
    where = re.search(r"On instance((?:\[[^\]]*\])*)", text)
    key = ".".join(re.findall(r"\['?([^'\]]*)'?\]", where.group(1))) if where else ""
    first = next((ln.strip() for ln in text.splitlines() if "ValidationError" in ln), text)
    raise WorkflowError(
        f"invalid workflow config at `{key or 'top level'}`: {first}. "
        f"Fix: correct `{key or 'the config'}` in your --configfile or --config "
        "(allowed types and ranges: workflow/schemas/config.schema.yaml)"
    ) from None
try:
    preflight.check_names(config, PRESETS, choices("train.kernels"))
except preflight.PreflightError as exc:
    _refuse(exc)

OUT = config.get("output_root", ".")
# The jobs find the corpus through the environment, never through their command lines: how the
# directory is spelled is no reason to rerun anything (the corpus's identity is its digest).
DATA_DIR = preflight.normalised_data_dir(config.get("data_dir"), os.environ.get("LASH_DATA_DIR"))
_exports = "set -euo pipefail; "  # Snakemake's own prefix, which shell.prefix replaces
if DATA_DIR:  # (the prefix is formatted like a shell command: braces doubled)
    _quoted = shlex.quote(DATA_DIR).replace("{", "{{").replace("}", "}}")
    _exports += f"export LASH_DATA_DIR={_quoted}; "
if config.get("offline"):
    _exports += "export LASH_OFFLINE=1; "  # every lash job: no network access at all
shell.prefix(_exports)

PROTOCOLS = list(config["protocols"])
FAMILIES = list(config["families"])
# Library code is an input of the rules that run it (Snakemake does not see imported code by itself):
# the import closure of the modules a rule runs, read from the code (workflow/lib/sources.py), so a
# change to the training code reruns the runs that use it and nothing else. The analysis rules take
# their scripts' closures (aggregate.smk).
TRAIN_SOURCES = sources(ROOT, "lash.run")
ASHEM_SOURCES = sources(ROOT, "lash.run", "lash.ashem")


wildcard_constraints:
    seed=r"\d+",
    protocol="|".join(PROTOCOLS),
    family="|".join(FAMILIES),


def out(path):
    """Every generated file lives under output_root (the smoke build never touches the paper's)."""
    return path if OUT in ("", ".") else f"{OUT}/{path}"


FIGURE_NAMES = [
    "fig_alpha",
    "fig_l2",
    "fig_lr",
    "fig_seeds",
    "fig_sweep",
    "fig_reliability",
    "fig_ashem",
    "fig_forest",
]
FIGURES = [out(f"figures/{name}.pdf") for name in FIGURE_NAMES]


def selected(family, variants):
    """`only:` (smoke config) keeps a subset of a family's variants."""
    keep = config.get("only", {}).get(family)
    return [v for v in variants if keep is None or v in keep]


def family_variants(family):
    return selected(family, list(config["families"][family]))


def char_runs():
    return [
        out(f"results/{family}/{protocol}-{variant}/seed~{seed}.json")
        for family in FAMILIES
        for variant in family_variants(family)
        for protocol in PROTOCOLS
        for seed in config["seeds"]
    ]


def provenance_runs():
    p = config["provenance"]
    return [
        out(f"results/provenance/{corpus}-{preset}/seed~{config['published_seed']}.json")
        for corpus in p["corpora"]
        for preset in p["variants"]
    ]


def set_value(value):
    """A `--set` value that lash's YAML reading gives back unchanged: integer keys stay integers
    (exits), floats keep a decimal point (YAML reads `1e-05` as a string)."""
    if isinstance(value, dict):
        items = (f"{set_value(k)}: {set_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(set_value(v) for v in value) + "]"
    if isinstance(value, float):
        text = repr(value)
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    return json.dumps(value)


def lash_args(overrides):
    """A lash config mapping -> `--preset X --set k=v ...`, plus this build's machine and smoke switches."""
    overrides = dict(overrides)
    args = []
    preset = overrides.pop("preset", None)
    if preset:
        args += ["--preset", preset]
    if config["gpus_per_run"] > 0:  # the job gets GPUs (e.g. SLURM `gpu` resource): train on them
        overrides = deep_merge(overrides, {"train": {"device": "cuda"}})
    if config["kernels"] != "fast":  # only a non-default value changes the rules' command lines
        overrides = deep_merge(overrides, {"train": {"kernels": config["kernels"]}})
    for key, value in flatten_overrides(overrides):
        args += ["--set", f"{key}={set_value(value)}"]
    if config.get("smoke"):
        # last, so that no protocol or variant setting lifts the smoke budget
        args += ["--smoke", "--set", f"train.max_epochs={config['smoke_max_epochs']}"]
    return " ".join(shlex.quote(a) for a in args)


def run_overrides(family, protocol, variant):
    spec = copy.deepcopy(config["families"][family][variant])
    per_protocol = {p: spec.pop(p, {}) for p in PROTOCOLS}
    merged = deep_merge(config["protocols"][protocol], spec)
    return deep_merge(merged, per_protocol[protocol])


def train_args(wildcards):
    return lash_args(run_overrides(wildcards.family, wildcards.protocol, wildcards.variant))


def provenance_args(wildcards):
    # The published runs' quirks (original protocol) on either the fallback or the real text.
    overrides = {"preset": wildcards.preset, "protocol": "original"}
    if not config.get("smoke"):  # the smoke build keeps its synthetic corpus for every run
        overrides["data"] = {"corpus": wildcards.corpus}
    return lash_args(overrides)


def ashem_runs():
    """Final ASHEM/progressive JSONs (word level): config `ashem` and `progressive` sections."""
    if "ashem" not in config:
        return []
    a = config["ashem"]
    runs = [
        out(f"results/ashem/{protocol}-{variant}/seed~{seed}.json")
        for protocol, variants in a["run"].items()
        for variant in variants
        for seed in config["word_seeds"]
    ]
    runs += [
        out(f"results/ashem/{protocol}-{variant}/seed~{seed}.json")
        for protocol in a["baseline_protocols"]
        for variant in a.get("baseline_variants", list(a["baselines"]))
        for seed in config["word_seeds"]
    ]
    if a.get("provenance_seed") is not None:
        # The published method at the published seed (PAPER_SPEC 5.3), through the same rules; the
        # statistics over word_seeds leave it out (its seed is ashem.provenance_seed).
        runs.append(out(f"results/ashem/original-ashem/seed~{a['provenance_seed']}.json"))
    p = config.get("progressive")
    if p:
        runs += [
            out(f"results/progressive/{protocol}-{variant}/seed~{seed}.json")
            for protocol in p["protocols"]
            for variant in p["variants"]
            for seed in config["word_seeds"]
        ]
    return list(dict.fromkeys(runs))


def all_runs():
    return char_runs() + provenance_runs() + ashem_runs()


# Columns of the settings table: one representative run (first seed) per setting.
SETUP_COLUMNS = {
    "Original": ("alpha", "original", "a0.7"),
    "Corrected": ("alpha", "corrected", "a0.7"),
    "Sweep (orig.)": ("sweep", "original", "exit2"),
    "Sweep (corr.)": ("sweep", "corrected", "exit2"),
}
SETUP_TITLES = list(SETUP_COLUMNS)


def setup_runs():
    seed = config["seeds"][0]
    return [
        out(f"results/{family}/{protocol}-{variant}/seed~{seed}.json")
        for family, protocol, variant in SETUP_COLUMNS.values()
    ]


ASHEM_VARIANTS = "|".join(config.get("ashem", {}).get("variants", {"none": {}}))
ASHEM_BASELINES = "|".join(config.get("ashem", {}).get("baselines", {"none": {}}))

# Word-level order when cores are scarce (issue 12): ASHEM's shared stages, the published method, its
# frozen-head variant and the matched-compute baselines first, then progressive training, then soft
# freezing and any other phase-2 variant; the character-level runs (priority 0) after all of them.
PRIORITY_FIRST, PRIORITY_PROGRESSIVE, PRIORITY_LAST = 30, 20, 10
FIRST_PHASE2_VARIANTS = ("ashem", "frozen_head")


def phase2_priority(wildcards):
    return PRIORITY_FIRST if wildcards.variant in FIRST_PHASE2_VARIANTS else PRIORITY_LAST


def is_ashem_provenance(protocol, seed):
    """The published ASHEM run: the original protocol at ashem.provenance_seed."""
    published = config["ashem"].get("provenance_seed")
    return protocol == "original" and published is not None and int(seed) == published


def ashem_threads(wildcards):
    """ashem.threads; the published run on one thread, as the original printed its numbers."""
    if is_ashem_provenance(wildcards.protocol, wildcards.seed):
        return 1
    return config["ashem"]["threads"]


def ashem_environment(wildcards):
    """`VAR=value ... ` before the lash command of the published run's stages (ashem.provenance_environment:
    the numeric code paths the original printed its numbers with); empty for every other run, and in
    the smoke build (synthetic data: nothing to compare digits with, and any CPU must run it)."""
    if config.get("smoke") or not is_ashem_provenance(wildcards.protocol, wildcards.seed):
        return ""
    env = config["ashem"].get("provenance_environment", {})
    return "".join(f"{name}={shlex.quote(str(value))} " for name, value in env.items())


def _ashem_base(wildcards, preset=None):
    """The protocol's preset (or `preset`) with the protocol's ASHEM overrides, and for the published
    run ashem.provenance_overrides (every stage of its chain: the stage files must agree)."""
    a = config["ashem"]
    base = {"preset": preset or a["presets"][wildcards.protocol]}
    base = deep_merge(base, a.get("overrides", {}).get(wildcards.protocol, {}))
    if is_ashem_provenance(wildcards.protocol, wildcards.seed):
        base = deep_merge(base, a.get("provenance_overrides", {}))
    return base


def ashem_args(wildcards):
    return lash_args(_ashem_base(wildcards))


def ashem_variant_args(wildcards):
    overrides = _ashem_base(wildcards)
    return lash_args(deep_merge(overrides, config["ashem"]["variants"][wildcards.variant]))


def ashem_baseline_args(wildcards):
    # The protocol's overrides too: a routed baseline mines its threshold on ASHEM's mining tokens.
    preset = config["ashem"]["baselines"][wildcards.baseline]
    return lash_args(_ashem_base(wildcards, f"{preset}_{wildcards.protocol}"))


def progressive_args(wildcards):
    return lash_args({"preset": config["progressive"]["variants"][wildcards.variant]})


def check_before_jobs():
    """Snakemake's onstart (a real run, after the DAG is known, before any job starts or any output is
    removed): the corpus if a job will read WikiText-2, TeX if the paper will be built, and the run
    files no job rebuilds if check_runs will read them (RUN_SETTINGS: workflow/rules/aggregate.smk).
    """
    if workflow.touch:  # --touch runs no job
        return
    needrun = list(workflow.dag.needrun_jobs())
    jobs = [(job.rule.name, getattr(job.params, "args", None)) for job in needrun]
    kept = {}
    if any(job.rule.name == "check_runs" for job in needrun):  # run files no job rebuilds
        rebuilt = {str(path) for job in needrun for path in job.output}
        kept = {
            path: settings
            for path, settings in RUN_SETTINGS.items()
            if path not in rebuilt and Path(path).exists()
        }
    try:
        preflight.check_before_jobs(jobs, DATA_DIR, bool(config.get("offline")), kept_runs=kept)
    except preflight.PreflightError as exc:
        raise WorkflowError(f"no job was started: {exc}") from None
