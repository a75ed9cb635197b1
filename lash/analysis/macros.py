"""numbers.tex: every number the prose cites as a LaTeX macro, named by a fixed scheme.

Macro names (letters only; digits spelled out; `camel`, `method_name`):
- per variant: <protocol><Family><Variant><Metric><Stat>, protocol orig | corr | fallback | wikitextTwo
  (the provenance family's corpora), Stat N | Mean | Sd | CILow | CIHigh, e.g. \\corrAlphaZeroSevenPplMean,
  \\origLTwoOneZeroNAccSd, \\fallbackProvenanceStandardPplMean, \\origAshemHardPplMean;
- paired vs the family reference: same stem + Pairs | Diff | DiffCILow | DiffCIHigh | DiffPct |
  DiffPctCILow | DiffPctCIHigh | PValue, e.g. \\corrLTwoOneZeroPplDiffPct;
- claims: \\claim<Quantity><ClaimId><Orig|Corr> with Quantity Verdict | Pairs | Target | Reference | Diff |
  DiffCILow | DiffCIHigh | Change | ChangeCILow | ChangeCIHigh | PValue, plus \\claimPublished<ClaimId>
  (text) and \\claimPublishedChange<ClaimId>; counts \\nClaims, \\nClaimsSupportedCorr, ...;
- published single runs: \\pub<Preset><Metric> (\\pubAsymmetricPpl), \\pubAshem<Metric>;
- build: \\BuildGitSHA, \\nRuns, \\nSeeds, \\nWordSeeds, \\buildMinutes, \\fallbackVocabSize,
  \\vocabSize<Corpus><Level>.
Values: PPL 2 decimals; accuracy, exit and compute fractions as % with 1 decimal (no % sign);
differences signed; p-values 3 decimals or <0.001; NaN (e.g. the sd of one seed) prints n/a.
"""

from __future__ import annotations

import re

import pandas as pd

from .formatting import FRACTIONS, GENERATED, fmt, metric_kind

# --------------------------------------------------------------------------- macro names

_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
PROTOCOL_PREFIX = {"original": "orig", "corrected": "corr", "fallback": "fallback", "wikitext2": "wikitextTwo"}
PROTOCOL_SUFFIX = {"original": "Orig", "corrected": "Corr"}
METRIC_NAMES = {
    "ppl": "Ppl", "acc": "Acc", "shallow_fraction": "Shallow", "compute_fraction_layers": "Compute",
    "compute_fraction_flops": "Flops", "hard_ppl": "HardPpl", "phase1_ppl": "PhaseOnePpl",
    "phase1_acc": "PhaseOneAcc", "phase1_hard_ppl": "PhaseOneHardPpl", "final_ppl": "FinalPpl",
    "exit1_ppl": "ExitOnePpl", "best_epoch": "BestEpoch", "epochs_run": "Epochs",
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


# --------------------------------------------------------------------------- numbers.tex

class Macros:
    """Ordered, validated \\newcommand collection: names letters only and unique."""

    def __init__(self):
        self.tex: dict[str, str] = {}
        self.values: dict[str, object] = {}
        self.meta: dict[str, object] = {}

    def add(self, name: str, value, kind: str, signed: bool = False) -> None:
        if not re.fullmatch(r"[A-Za-z]+", name):
            raise ValueError(f"macro name {name!r} must be letters only")
        if name in self.tex:
            raise ValueError(f"macro {name!r} defined twice")
        self.values[name], self.tex[name] = fmt(value, kind, signed)

    def render(self, header: str) -> str:
        lines = [header] + [f"\\newcommand{{\\{k}}}{{{v}}}" for k, v in self.tex.items()]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- numbers.tex

def _stem(protocol: str, family: str, variant: str, metric: str) -> str:
    return protocol_prefix(protocol) + method_name(family, variant) + METRIC_NAMES.get(metric, camel(metric))


def _git_sha(runs: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The commit most runs were produced with (short), and every distinct one (dirty marked)."""
    if runs.empty or "git_sha" not in runs or runs.git_sha.dropna().empty:
        return None, []
    dirty = runs.get("git_dirty", pd.Series(False, index=runs.index)).astype(str).str.lower().eq("true")
    tags = runs.git_sha.fillna("unknown").astype(str).str[:7] + dirty.map({True: "-dirty", False: ""})
    return tags.value_counts().index[0], sorted(tags.unique())


def build_numbers(runs: pd.DataFrame, summary: pd.DataFrame, paired: pd.DataFrame, claims: pd.DataFrame,
                  claims_config: dict, params: dict) -> Macros:
    """Every number the prose cites, named by the scheme in the README (see method_name)."""
    m = Macros()
    sha, shas = _git_sha(runs)
    if sha:
        m.add("BuildGitSHA", sha, "text")
    m.add("nRuns", len(runs), "int")
    for key, name in (("seeds", "nSeeds"), ("word_seeds", "nWordSeeds")):
        if params.get(key):
            m.add(name, len(params[key]), "int")
    if "wall_seconds" in runs and runs.wall_seconds.notna().any():
        m.add("buildMinutes", runs.wall_seconds.sum() / 60, "num1")
    # vocabulary sizes per corpus and level; only when every run of that kind agrees
    if {"corpus", "level", "vocab_size"} <= set(runs.columns):
        for (corpus, level), g in runs.dropna(subset=["vocab_size"]).groupby(["corpus", "level"]):
            sizes = g.vocab_size.unique()
            if len(sizes) == 1:
                m.add(f"vocabSize{camel(corpus)}{camel(level)}", sizes[0], "int")
                if (corpus, level) == ("fallback", "char"):
                    m.add("fallbackVocabSize", sizes[0], "int")

    for r in summary.itertuples(index=False):
        stem = _stem(r.protocol, r.family, r.variant, r.metric)
        kind = metric_kind(r.metric)
        m.add(stem + "N", r.n, "int")
        for stat, label in (("mean", "Mean"), ("sd", "Sd"), ("ci_low", "CILow"), ("ci_high", "CIHigh")):
            m.add(stem + label, getattr(r, stat), kind)

    for r in paired.itertuples(index=False):
        stem = _stem(r.protocol, r.family, r.variant, r.metric)
        kind = "pp" if r.metric in FRACTIONS else "ppl"
        m.add(stem + "Pairs", r.n_pairs, "int")
        for col, label, k in (("mean_diff", "Diff", kind), ("ci_low", "DiffCILow", kind),
                              ("ci_high", "DiffCIHigh", kind), ("rel_diff_pct", "DiffPct", "pct"),
                              ("rel_ci_low", "DiffPctCILow", "pct"), ("rel_ci_high", "DiffPctCIHigh", "pct")):
            m.add(stem + label, getattr(r, col), k, signed=True)
        m.add(stem + "PValue", r.p_value, "p")

    _claim_macros(m, claims, claims_config)
    for preset, pub in (claims_config.get("published_runs") or {}).items():
        for metric in ("ppl", "acc", "shallow_fraction", "compute_fraction_layers"):
            if pub.get(metric) is not None:
                m.add(f"pub{camel(preset)}{METRIC_NAMES[metric]}", pub[metric], metric_kind(metric))
    for metric, value in (claims_config.get("published_ashem") or {}).items():
        m.add(f"pubAshem{METRIC_NAMES[metric]}", value, metric_kind(metric))
    m.meta.update(git_sha=sha, git_shas=shas)
    return m


def _claim_macros(m: Macros, claims: pd.DataFrame, claims_config: dict) -> None:
    if claims.empty:
        return
    m.add("nClaims", claims.claim.nunique(), "int")
    for claim in claims_config.get("claims", []):
        pub = claim.get("published") or {}
        if pub.get("text"):
            m.add(f"claimPublished{claim['id']}", pub["text"], "text")
        if pub.get("change_pct") is not None:
            m.add(f"claimPublishedChange{claim['id']}", pub["change_pct"], "pct", signed=True)
    measured = claims[claims.status == "measured"] if "status" in claims else claims.iloc[0:0]
    for r in measured.to_dict("records"):
        sfx = r["claim"] + PROTOCOL_SUFFIX.get(r["protocol"], camel(r["protocol"]))
        metric = r["metric"].split("@")[0].removeprefix("sweep:")
        kind = "pp" if metric in FRACTIONS else "ppl"
        m.add(f"claimVerdict{sfx}", r["verdict"], "text")
        m.add(f"claimPairs{sfx}", r["n_pairs"], "int")
        m.add(f"claimTarget{sfx}", r["mean_target"], "frac" if metric in FRACTIONS else "ppl")
        m.add(f"claimReference{sfx}", r["mean_reference"], "frac" if metric in FRACTIONS else "ppl")
        for col, label, k in (("mean_diff", "Diff", kind), ("ci_low", "DiffCILow", kind),
                              ("ci_high", "DiffCIHigh", kind), ("rel_diff_pct", "Change", "pct"),
                              ("rel_ci_low", "ChangeCILow", "pct"), ("rel_ci_high", "ChangeCIHigh", "pct")):
            m.add(f"claim{label}{sfx}", r[col], k, signed=True)
        m.add(f"claimPValue{sfx}", r["p_value"], "p")
    for protocol, g in measured.groupby("protocol"):
        for v in ("supported", "contradicted", "inconclusive"):
            m.add(f"nClaims{v.capitalize()}{PROTOCOL_SUFFIX.get(protocol, camel(protocol))}",
                  int((g.verdict == v).sum()), "int")


def numbers_header(sources: list[str], sha: str | None, shas: list[str]) -> str:
    lines = [GENERATED.format(script="workflow/scripts/numbers.py").rstrip("\n"),
             "% Sources: " + ", ".join(sources),
             f"% Runs produced at commit {sha or 'unknown'}"
             + (f" (all: {', '.join(shas)})" if len(shas) > 1 else ""),
             "% Naming: <protocol><Family><Variant><Metric><Stat>, claim<Quantity><ClaimId><Protocol>;"
             " see lash/analysis/macros.py."]
    return "\n".join(lines)
