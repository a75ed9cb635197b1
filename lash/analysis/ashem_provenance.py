"""The published ASHEM run at seed 42 against the numbers the original code prints for it (issue 12
item 5): results/ashem/original-ashem/seed~42.json and its stage files
results/ashem_stages/original/seed~42/{phase1,mine,phase2-ashem}.json -> results/ashem_provenance.csv
(one row per printed number: ours, ours at the printed decimals, whether they agree), and its macros.

The printed numbers (config/claims.yaml `original_code_ashem_seed42`) are what the original code prints
at seed 42 on our corpus (wikitext-2-v1, one thread, CPU), so the comparison checks the
re-implementation of the original protocol end to end, digit for digit.
"""

from __future__ import annotations

import math

import pandas as pd

from ..errors import DataError
from .naming import camel

COLUMNS = ["key", "label", "printed", "decimals", "ours", "ours_rounded", "match"]


def _epoch(stage: dict, epoch: int) -> dict:
    history = (stage.get("metrics") or {}).get("history") or []
    found = [h for h in history if h.get("epoch") == epoch]
    return found[0] if found else {}


def our_values(phase1: dict, mine: dict, phase2: dict) -> dict[str, float]:
    """Our numbers under the keys of `original_code_ashem_seed42` (accuracies in %)."""
    p1, mined = phase1.get("metrics") or {}, mine.get("metrics") or {}
    best = p1.get("best_epoch")
    out = {"phase1_best_epoch": best,
           "phase1_best_ppl": ((_epoch(phase1, best).get("validation") or {}).get("ppl") if best else None),
           "threshold": mined.get("threshold"), "phase1_hard_ppl": mined.get("phase1_hard_ppl")}
    for epoch in (1, 2):
        entry = _epoch(phase2, epoch)
        val = entry.get("validation") or {}
        out[f"phase2_epoch{epoch}_ppl"] = val.get("ppl")
        out[f"phase2_epoch{epoch}_acc"] = None if val.get("acc") is None else 100 * val["acc"]
        out[f"phase2_epoch{epoch}_hard_ppl"] = entry.get("hard_ppl")
    return {k: (math.nan if v is None else float(v)) for k, v in out.items()}


def comparison(printed: dict, ours: dict) -> pd.DataFrame:
    """One row per printed number (COLUMNS); `match` is whether ours, rounded to the printed decimals,
    is the printed number."""
    rows = []
    for key, spec in printed.items():
        if key not in ours:
            raise DataError(f"original_code_ashem_seed42.{key}: no such number in the seed-42 run. Fix: use one "
                            f"of {', '.join(sorted(ours))} in config/claims.yaml")
        value, decimals = ours[key], int(spec["decimals"])
        rounded = math.nan if math.isnan(value) else round(value, decimals)
        rows.append({"key": key, "label": spec["label"], "printed": float(spec["printed"]), "decimals": decimals,
                     "ours": value, "ours_rounded": rounded,
                     "match": (not math.isnan(rounded)) and rounded == round(float(spec["printed"]), decimals)})
    return pd.DataFrame(rows, columns=COLUMNS)


def run_settings(final: dict) -> dict:
    """How the seed-42 run computed: its training kernels and ATen's CPU capability."""
    cpu = (final.get("provenance") or {}).get("cpu") or {}
    return {"kernels": ((final.get("config") or {}).get("train") or {}).get("kernels"),
            "aten_capability": cpu.get("aten_capability"),
            "cpu_model": cpu.get("model")}


def add_ashem_provenance_macros(m, table: pd.DataFrame) -> None:
    """\\ashemSeedFortyTwo<Key>Ours | Printed per number, \\ashemSeedFortyTwoMatches (how many agree to
    the printed digits), \\ashemSeedFortyTwoCompared (how many were compared) and the run's settings
    \\ashemSeedFortyTwoKernels / AtenCapability / CpuModel (rows with key `setting:<name>`; "not
    recorded" without them)."""
    table = table if table is not None else pd.DataFrame(columns=COLUMNS)
    settings = {r.key.split(":", 1)[1]: str(r.label) for r in table.itertuples(index=False)
                if str(r.key).startswith("setting:")}
    for name in ("kernels", "aten_capability", "cpu_model"):  # said in words when the run is missing
        m.add(f"ashemSeedFortyTwo{camel(name)}", settings.get(name, "not recorded").replace("_", r"\_"), "text")
    numbers = table[~table.key.astype(str).str.startswith("setting:")]
    for r in numbers.itertuples(index=False):
        stem = f"ashemSeedFortyTwo{camel(r.key)}"
        kind = "int" if int(r.decimals) == 0 else ("num4" if int(r.decimals) == 4 else "ppl")
        m.add(f"{stem}Ours", r.ours, kind)
        m.add(f"{stem}Printed", r.printed, kind)
    m.add("ashemSeedFortyTwoCompared", len(numbers), "int")
    m.add("ashemSeedFortyTwoMatches", int(numbers.match.astype(str).str.lower().eq("true").sum()), "int")
