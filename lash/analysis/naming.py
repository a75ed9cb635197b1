"""Macro names of numbers.tex: letters only (LaTeX), digits spelled out, one scheme for every number.

<protocol><Family><Variant><Metric><Stat>, e.g. \\corrAlphaZeroSevenPplMean (see lash.analysis.macros).
"""

from __future__ import annotations

import re

_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
PROTOCOL_PREFIX = {"original": "orig", "corrected": "corr", "fallback": "fallback", "wikitext2": "wikitextTwo"}
PROTOCOL_SUFFIX = {"original": "Orig", "corrected": "Corr"}
METRIC_NAMES = {
    "ppl": "Ppl", "acc": "Acc", "shallow_fraction": "Shallow", "compute_fraction_layers": "Compute",
    "compute_fraction_flops": "Flops", "hard_ppl": "HardPpl", "phase1_ppl": "PhaseOnePpl",
    "phase1_acc": "PhaseOneAcc", "phase1_hard_ppl": "PhaseOneHardPpl", "final_ppl": "FinalPpl",
    "exit1_ppl": "ExitOnePpl", "exit2_ppl": "ExitTwoPpl", "exit3_ppl": "ExitThreePpl", "exit1_ece": "ExitOneEce",
    "final_ece": "FinalEce", "phase1_seconds": "PhaseOneSeconds", "best_epoch": "BestEpoch", "epochs_run": "Epochs",
    "speedup_ideal": "SpeedupIdeal", "speedup_measured": "SpeedupMeasured",
}


def camel(text: str) -> str:
    """'standard_1l' -> 'StandardOneL', 'exit2' -> 'ExitTwo': letters only, digits as words."""
    parts = re.findall(r"[A-Za-z]+|\d", str(text))
    return "".join(_WORDS[int(p)] if p.isdigit() else p[0].upper() + p[1:] for p in parts)


def method_name(family: str, variant: str) -> str:
    """Macro stem of a family/variant: 'alpha', 'a0.7' -> 'AlphaZeroSeven'; 'l2', 'w1.0n' ->
    'LTwoOneZeroN' (a one-letter prefix before a number is dropped); 'ashem', 'ashem' -> 'Ashem'."""
    v = variant[1:] if re.match(r"^[A-Za-z]\d", variant) else variant
    fam, var = camel(family), camel(v)
    return fam if var == fam else fam + var


def protocol_prefix(protocol: str) -> str:
    name = PROTOCOL_PREFIX.get(protocol) or camel(protocol)
    return name[0].lower() + name[1:]
