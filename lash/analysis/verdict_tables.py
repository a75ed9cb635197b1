"""The generated tables of the verdicts: the published claims, our own questions, and the smallest
effects of interest (each a complete booktabs `tabular`, see lash.analysis.tables)."""

from __future__ import annotations

import math

import pandas as pd

from .claim_macros import UNITS
from .formatting import fmt
from .labels import PROTOCOL_TITLES
from .tables import tabular

SCRIPT = "workflow/scripts/tables.py"


def _signed(value, scale: str) -> str:
    kind = UNITS[scale][0]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt(value * 100 if kind == "pct" else value, kind, signed=True)[1]


def effect_cell(r: dict) -> str:
    """'+6.1\\,\\% [\\ensuremath{-}1.7, +14.5]' (a single run: '... {\\scriptsize(n=1)}')."""
    unit = UNITS[r["scale"]][1]
    text = _signed(r["theta"], r["scale"]) + unit
    if r["label"] == "single-run":
        return text + r" {\scriptsize(n=1)}"
    return text + f" [{_signed(r['ci_low'], r['scale'])}, {_signed(r['ci_high'], r['scale'])}]"


def _cells(r: dict | None) -> list[str]:
    """(effect, Holm p, label) of one measured claim under one protocol."""
    if r is None or r.get("status") != "measured":
        return ["--", "--", "no runs"]
    label = r["label"] if r["label"] != "single-run" else f"single run: {r['note']}"
    pholm = fmt(r["p_holm"], "p")[1] if r["label"] != "single-run" else "--"
    n = int(r["n_pairs"])
    count = f"{n} rounds" if r.get("replicate") == "round" else f"n={n}"
    return [effect_cell(r), pholm, f"{label} {{\\scriptsize({count})}}"]


def _spanning(records: list[dict], entry: dict, span: int) -> str:
    """The cells of a claim evaluated under none of the table's protocols (a benchmark's timing
    rounds): one cell across the protocol columns, `<title>: effect, Holm p, label`."""
    parts = []
    for p in entry.get("protocols") or []:
        r = next((x for x in records if x["claim"] == entry["id"] and x.get("protocol") == p), None)
        effect, pholm, label = _cells(r)
        held = f"{effect}, Holm $p$ {pholm}, {label}" if pholm != "--" else f"{effect}, {label}"
        parts.append(f"{PROTOCOL_TITLES.get(p, p)}: {held}")
    return f"\\multicolumn{{{span}}}{{l}}{{{'; '.join(parts)}}}"


def _verdict_table(claims: pd.DataFrame, entries: list[dict], protocols, published: bool) -> str:
    records = claims.to_dict("records") if not claims.empty else []
    present = [p for p in protocols if any(e.get("protocols") and p in e["protocols"] for e in entries)]
    first = 3 if published else 2
    titles = [f"\\multicolumn{{3}}{{c}}{{{PROTOCOL_TITLES.get(p, p)}}}" for p in present]
    head = [" & " * (first - 1) + " & ".join(titles) + r" \\",
            " ".join(f"\\cmidrule(lr){{{first + 3 * i}-{first + 2 + 3 * i}}}" for i in range(len(present))),
            ("Claim & Published & " if published else "Question & ")
            + " & ".join(r"$\theta$ [95\,\% CI] & Holm $p$ & Label" for _ in present) + r" \\"]
    rows = []
    for entry in entries:
        cells = []
        elsewhere = entry.get("measure") and not set(entry.get("protocols") or []) & set(protocols)
        if elsewhere and present:
            cells = [_spanning(records, entry, 3 * len(present))]
        if not entry.get("measure") and present:  # one cell across the protocols: why it is not measured
            cells = [f"\\multicolumn{{{3 * len(present)}}}{{p{{9cm}}}}{{not measured: {entry['not_measured']}}}"]
        for p in present if entry.get("measure") and not elsewhere else []:
            r = next((x for x in records if x["claim"] == entry["id"] and x.get("protocol") == p), None)
            cells += _cells(r) if p in (entry.get("protocols") or []) else ["", "", ""]
        pub = [(entry.get("published") or {}).get("text", "--")] if published else []
        rows.append(" & ".join([entry.get("label", entry["id"]), *pub, *cells]) + r" \\")
    colspec = ("p{4.6cm}l" if published else "p{4.6cm}") + "rrl" * len(present)
    return tabular(SCRIPT, colspec, first - 1 + 3 * len(present), head, rows,
                   "theta: exp(mean log ratio) - 1 for perplexities (%), mean difference for fractions "
                   "(pp); rule: lash.analysis.verdicts")


def table_claims(claims: pd.DataFrame, claims_config: dict, protocols=("original", "corrected")) -> str:
    """Every published claim of claims.yaml, in its order: published text, then per protocol the effect
    with its 95 % CI, the Holm-adjusted p and the label."""
    return _verdict_table(claims[claims.group == "published"] if len(claims) else claims,
                          claims_config.get("claims") or [], protocols, True)


def table_questions(claims: pd.DataFrame, claims_config: dict, protocols=("original", "corrected")) -> str:
    """Our own questions, apart from the claims (Holm-adjusted among themselves)."""
    return _verdict_table(claims[claims.group == "question"] if len(claims) else claims,
                          claims_config.get("questions") or [], protocols, False)


def table_deltas(claims_config: dict) -> str:
    """The smallest effect of interest of each metric group, with its scale and justification."""
    rows = []
    for name, group in (claims_config.get("smallest_effects") or {}).items():
        unit = UNITS[group["scale"]][1]
        metrics = ", ".join(m.replace("_", r"\_\allowbreak{}") for m in group["metrics"])  # long names may wrap
        scale = "log ratio" if group["scale"] == "log" else "difference"
        rows.append(f"{name} & {metrics} & {scale} & $\\pm${fmt(group['delta'], 'pp')[1]}{unit} & "
                    f"{group['why'].replace('%', chr(92) + '%')} \\\\")
    return tabular(SCRIPT, "lp{3.6cm}llp{5.4cm}", 5, [r"Group & Metrics & Scale & $\Delta$ & Why \\"], rows,
                   "config/claims.yaml smallest_effects")
