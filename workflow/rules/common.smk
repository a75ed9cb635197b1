# Helpers shared by the rules: config validation, the run matrix, and lash command lines.
import copy
import glob
import json
import re
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

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

OUT = config.get("output_root", ".")
if config.get("offline"):
    shell.prefix("export LASH_OFFLINE=1; ")  # every lash job: no network access at all
PROTOCOLS = list(config["protocols"])
FAMILIES = list(config["families"])
# Library code is an input of the rules that import it (Snakemake does not see imported code by
# itself): a change to the training code reruns the runs that use it, a change to plotting code
# reruns the figures, and neither touches the other.
TRAIN_MODULES = (
    "__init__",
    "config",
    "data",
    "model",
    "fused",
    "train",
    "evaluate",
    "run",
    "provenance",
    "seeding",
    "checkpoint",
    "distributed",
)
LASH_SOURCES = [f"lash/{name}.py" for name in TRAIN_MODULES]
ASHEM_SOURCES = LASH_SOURCES + ["lash/ashem.py", "lash/early_exit.py", "lash/ashem_cli.py"]
ANALYSIS_MODULES = ("stats.py", "report.py", "figures.py")
ANALYSIS_SOURCES = [f"lash/{name}" for name in ANALYSIS_MODULES]
CONDA_ENV = "../envs/lash.yaml"


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


def _deep_merge(base, override):
    out = copy.deepcopy(base)
    for key, value in override.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and key
            not in (
                "layer_weights",
                "layer_lr_scales",
            )
        ):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flatten(mapping, prefix=""):
    """{"train": {"lr": 1}} -> [("train.lr", 1)]; the core options stay whole mappings."""
    items = []
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("layer_weights", "layer_lr_scales"):
            items += _flatten(value, f"{path}.")
        else:
            items.append((path, value))
    return items


def lash_args(overrides):
    """A lash config mapping -> `--preset X --set k=v ...`, plus the data dir and smoke switch."""
    overrides = dict(overrides)
    args = []
    preset = overrides.pop("preset", None)
    if preset:
        args += ["--preset", preset]
    if config.get("data_dir"):
        overrides = _deep_merge(overrides, {"data": {"data_dir": config["data_dir"]}})
    if config["gpus_per_run"] > 0:  # the job gets GPUs (e.g. SLURM `gpu` resource): train on them
        overrides = _deep_merge(overrides, {"train": {"device": "cuda"}})
    if config["kernels"] != "fast":  # only a non-default value changes the rules' command lines
        overrides = _deep_merge(overrides, {"train": {"kernels": config["kernels"]}})
    for key, value in _flatten(overrides):
        args += ["--set", f"{key}={json.dumps(value)}"]
    if config.get("smoke"):
        # last, so that no protocol or variant setting lifts the smoke budget
        args += ["--smoke", "--set", f"train.max_epochs={config['smoke_max_epochs']}"]
    return " ".join(shlex.quote(a) for a in args)


def run_overrides(family, protocol, variant):
    spec = copy.deepcopy(config["families"][family][variant])
    per_protocol = {p: spec.pop(p, {}) for p in PROTOCOLS}
    merged = _deep_merge(config["protocols"][protocol], spec)
    return _deep_merge(merged, per_protocol[protocol])


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
        for variant in selected("ashem", variants)
        for seed in config["word_seeds"]
    ]
    runs += [
        out(f"results/ashem/{protocol}-{variant}/seed~{seed}.json")
        for protocol in a["baseline_protocols"]
        for variant in selected("ashem", a.get("baseline_variants", list(a["baselines"])))
        for seed in config["word_seeds"]
    ]
    p = config.get("progressive")
    if p:
        runs += [
            out(f"results/progressive/{protocol}-{variant}/seed~{seed}.json")
            for protocol in p["protocols"]
            for variant in selected("progressive", list(p["variants"]))
            for seed in config["word_seeds"]
        ]
    return runs


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


def _ashem_base(protocol, preset=None):
    """The protocol's preset (or `preset`) with the protocol's ASHEM overrides."""
    base = {"preset": preset or config["ashem"]["presets"][protocol]}
    return _deep_merge(base, config["ashem"].get("overrides", {}).get(protocol, {}))


def ashem_args(wildcards):
    return lash_args(_ashem_base(wildcards.protocol))


def ashem_variant_args(wildcards):
    overrides = _ashem_base(wildcards.protocol)
    return lash_args(_deep_merge(overrides, config["ashem"]["variants"][wildcards.variant]))


def ashem_baseline_args(wildcards):
    # The protocol's overrides too: a routed baseline mines its threshold on ASHEM's mining tokens.
    preset = config["ashem"]["baselines"][wildcards.baseline]
    return lash_args(_ashem_base(wildcards.protocol, f"{preset}_{wildcards.protocol}"))


def progressive_args(wildcards):
    return lash_args({"preset": config["progressive"]["variants"][wildcards.variant]})
