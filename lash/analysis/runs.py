"""Run JSONs -> tidy tables: one row per run, per threshold of a run's sweep, per reliability bin.

A run is identified by its path, `results/<family>/<protocol>-<variant>/seed~<s>.json`; for the
provenance family the protocol slot holds the corpus (fallback | wikitext2). Every file is read
strictly (UTF-8, standard JSON: a NaN or Infinity literal is refused), and any failure names the file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import DataError

KEYS = ["family", "protocol", "variant", "seed"]
SWEEP_METRICS = ["ppl", "acc", "shallow_fraction", "compute_fraction_layers", "compute_fraction_flops"]
#: The fix offered for a run file that cannot be used.
REBUILD = "rebuild the run (snakemake --cores 1 -f {path}) or restore the committed file (git checkout -- {path})"

_PATH = re.compile(r"(?P<family>[^/]+)/(?P<protocol>[^/-]+)-(?P<variant>[^/]+)/seed~(?P<seed>\d+)\.json$")
_LITERAL = re.compile(r'(?<![\w".])(-?Infinity|NaN)(?![\w"])')


def made_clean_at(provenance: dict, commit: str | None = None) -> bool:
    """Whether a run's provenance says it was made from a clean tree, and at `commit` (a prefix of the
    SHA) when one is given: the rebuild copies and accepts only such runs."""
    sha = provenance.get("git_sha") or ""
    return provenance.get("git_dirty") is False and (commit is None or sha.startswith(commit))


def rebuild_commit(path, commit: str | None, amended: dict[str, str]) -> str | None:
    """The commit a run of the rebuild must have been made at: the one `amended` gives its run directory
    (`<family>/<protocol>-<variant>`, rebuilt alone at a later commit), else `commit`."""
    path = Path(path)
    return amended.get(f"{path.parent.parent.name}/{path.parent.name}", commit)


def parse_amended(specs: Iterable[str]) -> dict[str, str]:
    """{run directory: commit} from `<family>/<protocol>-<variant>=<commit>` items (tools/rebuild.sh's
    AMENDED, tools/check_rebuild.py's --amended)."""
    amended = {}
    for spec in specs:
        directory, sep, commit = spec.partition("=")
        if not sep or not _PATH.match(f"{directory}/seed~0.json") or not commit:
            raise DataError(f"amended run directory {spec!r}: expected <family>/<protocol>-<variant>=<commit>. "
                            "Fix: e.g. sweep/corrected-exit2=7d14654")
        amended[directory] = commit
    return amended


def char_level_ablations(runs: pd.DataFrame) -> pd.DataFrame:
    """The character-level runs of the ablation families (a load_runs table): the provenance family is
    left out, since it keeps the original's budget and settings at the published seed."""
    if "level" not in runs:
        return runs[:0]
    return runs[(runs.level == "char") & (runs.family != "provenance")]


# --------------------------------------------------------------------------- reading

def parse_result_path(path: str | Path) -> dict:
    """`.../alpha/corrected-a0.7/seed~3.json` -> family, protocol, variant, seed."""
    m = _PATH.search(Path(path).as_posix())
    if not m:
        raise ValueError(f"{path}: not a results path of the form <family>/<protocol>-<variant>/seed~<s>.json")
    return {**m.groupdict(), "seed": int(m["seed"])}


class RunFileError(DataError):
    """A run file that cannot be used: `problem` says why, the message adds the file and the fix."""

    def __init__(self, path, problem: str, fix: str | None = None):
        self.path, self.problem = Path(path).as_posix(), problem
        self.fix = fix or REBUILD.format(path=self.path)
        super().__init__(f"{self.path}: {problem}. Fix: {self.fix}")


class _NonStandardLiteral(ValueError):
    pass


def _refuse(literal: str):
    raise _NonStandardLiteral(literal)


def parse_run(path: str | Path, raw: bytes) -> dict:
    """The payload of one run file's bytes, parsed as strict JSON; RunFileError naming the file otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError(path, f"not UTF-8 text (byte {exc.start})") from None
    try:
        payload = json.loads(text, parse_constant=_refuse)
    except _NonStandardLiteral as exc:
        m = _LITERAL.search(text)
        where = f" at line {text.count(chr(10), 0, m.start()) + 1}" if m else ""
        raise RunFileError(path, f"non-standard JSON literal {exc}{where} (a diverged run? results are "
                                 "strict JSON, without NaN or Infinity)") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(path, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; "
                                 "a truncated or partly written file?)") from None
    if not isinstance(payload, dict):
        raise RunFileError(path, f"a run file holds one JSON object, not a {type(payload).__name__}")
    return payload


def read_bytes(path: str | Path) -> bytes:
    """A run file's bytes; a missing or unreadable file is a RunFileError."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise RunFileError(path, f"cannot be read ({exc.strerror})") from None


def read_run(path: str | Path) -> dict:
    """Parse one run file strictly (see parse_run)."""
    return parse_run(path, read_bytes(path))


# --------------------------------------------------------------------------- tidy tables

def _num(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _flag(value) -> float:
    """A JSON boolean as 1.0 / 0.0 (a CSV column that can also hold NaN: not recorded)."""
    return float(value) if isinstance(value, bool) else math.nan


def _flops(head: dict, rep: dict, cfg: dict) -> float:
    """FLOP compute fraction of the headline: reported directly (word level), else that of the routed
    evaluation behind the headline when the weights were restored (the split report then scores
    the headline model; no routing = the full model, 1.0). The original protocol's headline comes
    from a best epoch whose weights are gone, so it has none (NaN)."""
    if "compute_fraction_flops" in head:
        return _num(head["compute_fraction_flops"])
    if not (cfg.get("train") or {}).get("restore_best"):
        return math.nan
    routed = rep.get("routed")
    return _num(routed.get("compute_fraction_flops")) if routed else (1.0 if rep else math.nan)


def _stage_capped(stage: dict, max_epochs) -> float:
    """1.0 when a training stage ran to its epoch cap without stopping early, 0.0 when it stopped
    before (or early at the cap), NaN when the run does not say."""
    epochs, stopped = stage.get("epochs_run"), stage.get("stopped_early")
    if not isinstance(epochs, (int, float)) or not isinstance(max_epochs, (int, float)):
        return math.nan
    return 0.0 if stopped is True else float(epochs >= max_epochs)


#: The window of `late_gain`: how much a run still improved over its last epochs.
LATE_EPOCHS = 10


def late_gain(m: dict) -> float:
    """The relative fall of the validation perplexity (the early-stopping metric) over a character-level
    run's last LATE_EPOCHS epochs, 1 - ppl[last] / ppl[last - LATE_EPOCHS]; NaN for a run in phases or
    one with fewer epochs: how far from converged a run that reached its cap still was."""
    ppl = [_num(((e or {}).get("validation") or {}).get("ppl")) for e in m.get("history") or []]
    if "phase2" in m or len(ppl) <= LATE_EPOCHS:
        return math.nan
    return 1.0 - ppl[-1] / ppl[-1 - LATE_EPOCHS]


def budget(m: dict, cfg: dict) -> dict:
    """Epochs run, cap, early stop and whether the run reached its cap without stopping early: a
    character-level run's training, or ASHEM's / progressive training's phases (capped when any
    phase was; max_epochs is phase two's, phase1_max_epochs and phase1_patience phase one's)."""
    train, ashem = cfg.get("train") or {}, cfg.get("ashem") or {}
    if "phase2" not in m:
        capped = _stage_capped(m, train.get("max_epochs"))
        return {"max_epochs": _num(train.get("max_epochs")), "stopped_early": _flag(m.get("stopped_early")),
                "cap_reached": capped, "late_gain": late_gain(m)}
    phases = [(m.get("phase1") or {}, ashem.get("phase1_max_epochs")),
              (m.get("phase2") or {}, ashem.get("phase2_max_epochs"))]
    capped = [_stage_capped(stage, cap) for stage, cap in phases]
    known = [c for c in capped if not math.isnan(c)]
    return {"max_epochs": _num(ashem.get("phase2_max_epochs")),
            "stopped_early": _flag((m.get("phase2") or {}).get("stopped_early")),
            "cap_reached": max(known) if known else math.nan,
            "phase1_max_epochs": _num(ashem.get("phase1_max_epochs")),
            "phase1_patience": _num(ashem.get("phase1_patience"))}


def _exit(rep: dict, layer: int, key: str) -> float:
    return _num(((rep.get("exits") or {}).get(str(layer)) or {}).get(key))


def design(cfg: dict, phased: bool = False) -> dict:
    """The settings the prose cites by name: loss weight and LR scale per layer, routing threshold,
    exit layer, depth, patience (phase two's for a run in phases: ASHEM's stages and progressive
    training ignore train.patience), ASHEM's mined tokens."""
    weights = cfg.get("layer_weights") or {}
    scales = cfg.get("layer_lr_scales") or {}
    out = {f"w{k}": _num(weights.get(str(k), weights.get(k))) for k in range(1, 5)}
    out.update({f"lr{k}": _num(scales.get(str(k), scales.get(k))) for k in range(1, 4)})
    out.update(exit_layer=_num((cfg.get("eval") or {}).get("exit_layer")),
               n_layers=_num((cfg.get("model") or {}).get("n_layers")),
               patience=_num((cfg.get("ashem") or {}).get("phase2_patience") if phased
                             else (cfg.get("train") or {}).get("patience")),
               mine_tokens=_num((cfg.get("ashem") or {}).get("mine_tokens")))
    return out


def code_paths(cfg: dict, prov: dict) -> dict:
    """How a run computed: the CPU model, lash's training kernels, ATen's CPU capability and MKL's
    conditional numerical reproducibility setting (None where the run did not record them)."""
    cpu = prov.get("cpu") or {}
    return {"cpu_model": cpu.get("model"), "kernels": (cfg.get("train") or {}).get("kernels"),
            "aten_capability": cpu.get("aten_capability"),
            "mkl_cbwr": (cpu.get("code_path_variables") or {}).get("MKL_CBWR")}


def _resumed_from(payload: dict) -> dict:
    """The epoch each training stage was resumed from ({"phase1": ..., "phase2": ...} for a run in phases,
    {"train": ...} otherwise; None where a stage was not resumed)."""
    resumed = (payload.get("provenance") or {}).get("resumed_from_epoch")
    return resumed if isinstance(resumed, dict) else {"train": resumed}


def _phase1_seconds(payload: dict) -> float:
    """Phase one's wall time; NaN when phase one was resumed from a checkpoint (a job cut off by the end of
    a session), since its time then covers only the epochs after the resume."""
    if _resumed_from(payload).get("phase1") is not None:
        return math.nan
    return _num((payload.get("timing") or {}).get("phase1_s"))


def run_row(path: str | Path, payload: dict) -> dict:
    """One tidy row. `final_ppl`, `exit<k>_ppl` and the ECEs come from the reported split's per-exit
    evaluation, i.e. on the weights the run ended with (restored best for `corrected`; the last epoch's weights for
    `original`, which did not restore, exactly like the original's layer analysis)."""
    m = payload.get("metrics", {})
    head = m.get("headline", {})
    split = head.get("split")
    rep = m.get(split) or {}
    phase1 = m.get("phase1") or {}
    # phase-1 numbers on the reported split: flat (ppl, acc), or under `report` / the split's name
    p1 = phase1 if "ppl" in phase1 else (phase1.get("report") or phase1.get(split) or {})
    phase2 = m.get("phase2") or {}
    cfg = payload.get("config", {})
    prov = payload.get("provenance", {})
    # ASHEM's skip-mode inference: the speed-up from the work counted, and the one measured side by
    # side on the reported split (kept out of `metrics`, which are deterministic; timings are not).
    timing = (payload.get("timing") or {}).get("inference") or {}
    row = parse_result_path(path)
    row.update(
        split=split,
        **{k: _num(head.get(k)) for k in ("ppl", "acc", "shallow_fraction", "compute_fraction_layers",
                                          "hard_ppl")},
        compute_fraction_flops=_flops(head, rep, cfg),
        phase1_ppl=_num(p1.get("ppl")), phase1_acc=_num(p1.get("acc")),
        phase1_hard_ppl=_num(phase1.get("hard_ppl")),
        final_ppl=_num((rep.get("final") or {}).get("ppl")),
        exit1_ppl=_exit(rep, 1, "ppl"), exit2_ppl=_exit(rep, 2, "ppl"), exit3_ppl=_exit(rep, 3, "ppl"),
        exit1_ece=_exit(rep, 1, "ece"), final_ece=_num((rep.get("final") or {}).get("ece")),
        best_epoch=_num(m.get("best_epoch", phase2.get("best_epoch"))),
        epochs_run=_num(m.get("epochs_run", phase2.get("epochs_run"))),
        n_params=_num(m.get("n_params")), vocab_size=_num(m.get("vocab_size")),
        corpus=(cfg.get("data") or {}).get("corpus"),
        level=(cfg.get("data") or {}).get("level"),
        routing_threshold=_num(cfg.get("routing_threshold")),
        **budget(m, cfg), **design(cfg, phased="phase2" in m),
        phase1_seconds=_phase1_seconds(payload),
        resumed=float(any(epoch is not None for epoch in _resumed_from(payload).values())),
        **code_paths(cfg, prov),
        speedup_ideal=_num(timing.get("speedup_ideal")),
        speedup_measured=_num(timing.get("speedup_measured")),
        wall_seconds=_num(prov.get("wall_seconds")),
        git_sha=prov.get("git_sha"), git_dirty=prov.get("git_dirty"),
        path=Path(path).as_posix(),
    )
    return row


def _payloads(runs: Iterable[str | Path] | dict) -> dict:
    """{path: payload}: a mapping is used as it is, paths are read strictly."""
    return dict(runs) if isinstance(runs, dict) else {p: read_run(p) for p in runs}


def load_runs(runs: Iterable[str | Path] | dict) -> pd.DataFrame:
    """Result JSONs (paths, or {path: payload}) -> one row per run, sorted by family, protocol,
    variant, seed."""
    rows = [run_row(p, payload) for p, payload in _payloads(runs).items()]
    if not rows:
        return pd.DataFrame(columns=KEYS + ["split", "ppl", "acc"])
    return pd.DataFrame(rows).sort_values(KEYS, kind="stable").reset_index(drop=True)


def _reported(payload: dict) -> dict:
    m = payload.get("metrics", {})
    return m.get((m.get("headline") or {}).get("split")) or {}


#: What the sweep and reliability rows carry of their run's setting (figure titles come from the data).
SETTING = ["corpus", "n_layers", "exit_layer", "restore_best"]


def _setting(payload: dict) -> dict:
    cfg = payload.get("config") or {}
    return {"corpus": (cfg.get("data") or {}).get("corpus"), "n_layers": (cfg.get("model") or {}).get("n_layers"),
            "exit_layer": (cfg.get("eval") or {}).get("exit_layer"),
            "restore_best": (cfg.get("train") or {}).get("restore_best")}


def load_sweeps(runs: Iterable[str | Path] | dict) -> pd.DataFrame:
    """Threshold sweeps of the reported split: one row per run and threshold (evaluated on the weights
    the run ended with, see run_row: `restore_best` says which), with the run's setting."""
    rows = []
    for p, payload in _payloads(runs).items():
        setting = _setting(payload)
        for point in _reported(payload).get("sweep") or []:
            rows.append({**parse_result_path(p), "threshold": float(point["threshold"]),
                         **{k: _num(point.get(k)) for k in SWEEP_METRICS}, **setting})
    return pd.DataFrame(rows, columns=KEYS + ["threshold"] + SWEEP_METRICS + SETTING)


def load_reliability(runs: Iterable[str | Path] | dict) -> pd.DataFrame:
    """Reliability bins of the reported split: one row per run, exit layer and bin, with the run's setting."""
    rows = []
    for p, payload in _payloads(runs).items():
        setting = _setting(payload)
        for layer, bins in (_reported(payload).get("reliability") or {}).items():
            for b in bins:
                rows.append({**parse_result_path(p), "layer": int(layer), "bin_low": b["bin_low"],
                             "bin_high": b["bin_high"], "count": b["count"],
                             "confidence": _num(b.get("confidence")), "accuracy": _num(b.get("accuracy")),
                             **setting})
    return pd.DataFrame(rows, columns=KEYS + ["layer", "bin_low", "bin_high", "count", "confidence",
                                              "accuracy"] + SETTING)
