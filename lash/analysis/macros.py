"""numbers.tex: every number the prose cites as a LaTeX macro, named by a fixed scheme (lash.analysis.naming).

Macro names (letters only; digits spelled out; `camel`, `method_name`):
- per variant: <protocol><Family><Variant><Metric><Stat>, protocol orig | corr | fallback | wikitextTwo
  (the provenance family's corpora), Stat N | Mean | Sd | CILow | CIHigh, e.g. \\corrAlphaZeroSevenPplMean,
  \\origLTwoOneZeroNAccSd, \\fallbackProvenanceStandardPplMean, \\origAshemHardPplMean;
- paired vs the family reference: same stem + Pairs | Diff | DiffCILow | DiffCIHigh | DiffPct |
  DiffPctCILow | DiffPctCIHigh | PValue, e.g. \\corrLTwoOneZeroPplDiffPct;
- claims and questions, their tallies and generated sentences: lash.analysis.claim_macros;
- the settings the prose names, read from the runs' resolved configs: \\cfg<Method><Key> (Key WOne..WFour
  loss weights, LrOne..LrThree layer LR scales, Threshold, ExitLayer, Layers, MineTokens) when every run
  of the method agrees, e.g. \\cfgAlphaZeroSevenWOne, else per protocol (\\cfgAshemMineTokensCorr);
  budgets <protocol><Family>MaxEpochs | Patience | PhaseOneMaxEpochs | PhaseOnePatience (phase two and
  phase one of a run in phases) and
  the protocol's usual character-level budget <protocol>MaxEpochs | Patience;
- epoch caps: <protocol><Family>CapN | RunsN | CapShare and <protocol>CharCapN | RunsN | CapShare (runs
  that reached their epoch cap without stopping early), <protocol><Family>CappedLateGain (the largest fall
  of validation perplexity over the last \\lateGainEpochs epochs among those runs);
- the verdict scheme: \\ciLevel, \\tostLevel, \\alphaLevel, \\delta<Group> (claims.yaml smallest_effects),
  \\minExactP (the smallest two-sided p an exact sign or signed-rank test can reach with \\nSeeds pairs)
  and \\exactTestsClause (whether that can reject at \\alphaLevel);
- published single runs: \\pub<Preset><Metric> (\\pubAsymmetricPpl), \\pubAshem<Metric>, \\pubAshemVocabSize;
  what the original code prints at the published seed, \\origCode<Preset>Ppl, and how many of our
  fallback provenance runs agree to its digits (\\charSeedFortyTwoMatches of \\charSeedFortyTwoCompared);
  how many published parameter counts our fallback runs have (\\paramCountsMatched of \\paramCountsCompared);
- build: \\BuildGitSHA (the commit most runs were made at; \\<protocol><Family>GitSHA for a family and
  protocol whose runs were all made at another one), \\publishedSeed, \\nRuns, \\nSeeds, \\nWordSeeds,
  \\buildMinutes, \\fallbackVocabSize,
  \\vocabSize<Protocol><Level> (e.g. \\vocabSizeCorrWord), how the runs computed (\\cpuModel,
  \\runsKernels, \\runsAtenCapability, \\runsMklCbwr: every distinct value; \\nCpuModel etc. count them);
- timing (results/timing.csv: lash.analysis.timing), the seed-42 ASHEM run against the original code
  (results/ashem_provenance.csv: lash.analysis.ashem_provenance) and the settings of each benchmark a
  claim is measured on (\\bench<Name><Setting>, e.g. \\benchFastPathSteps: lash.analysis.benches), added
  by workflow/scripts/numbers.py.
Values: PPL 2 decimals; accuracy, exit and compute fractions as % with 1 decimal (no % sign);
differences signed, never rounded to a sign-less zero; p-values 3 decimals or <0.001; NaN (e.g. the
sd of one seed) prints n/a.
"""

from __future__ import annotations

import re

import pandas as pd

from .claim_macros import add_claim_macros
from .formatting import FRACTIONS, GENERATED, fmt, metric_kind
from .naming import METRIC_NAMES, camel, method_name, protocol_prefix
from .runs import LATE_EPOCHS, char_level_ablations
from .verdicts import ALPHA, LEVEL, TOST_LEVEL

__all__ = ["Macros", "build_numbers", "camel", "method_name", "numbers_header"]

#: runs.csv column -> key of the \cfg<Method><Key> macros.
DESIGN = {"w1": "WOne", "w2": "WTwo", "w3": "WThree", "w4": "WFour", "lr1": "LrOne", "lr2": "LrTwo",
          "lr3": "LrThree", "routing_threshold": "Threshold", "exit_layer": "ExitLayer", "n_layers": "Layers",
          "mine_tokens": "MineTokens"}


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


def _stem(protocol: str, family: str, variant: str, metric: str) -> str:
    return protocol_prefix(protocol) + method_name(family, variant) + METRIC_NAMES.get(metric, camel(metric))


def _commit_tags(runs: pd.DataFrame) -> pd.Series:
    """Each run's commit, short, "-dirty" appended when made from a dirty tree."""
    dirty = runs.get("git_dirty", pd.Series(False, index=runs.index)).astype(str).str.lower().eq("true")
    return runs.git_sha.fillna("unknown").astype(str).str[:7] + dirty.map({True: "-dirty", False: ""})


def _git_sha(runs: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The commit most runs were produced with (short), and every distinct one (dirty marked)."""
    if runs.empty or "git_sha" not in runs or runs.git_sha.dropna().empty:
        return None, []
    tags = _commit_tags(runs)
    return tags.value_counts().index[0], sorted(tags.unique())


def _unique(values: pd.Series):
    """The one value a column holds (NaN dropped), else None."""
    values = values.dropna().unique() if len(values) else []
    return values[0] if len(values) == 1 else None


def _setting(value) -> tuple[object, str]:
    """(value, kind) of a setting: counts grouped in thousands, other numbers as written (0.7, 1)."""
    if float(value).is_integer() and abs(value) >= 1000:
        return value, "count"
    return f"{float(value):g}", "text"


def _commits(m: Macros, runs: pd.DataFrame, sha: str, shas: list[str]) -> None:
    """\\<protocol><Family>GitSHA for a family and protocol whose runs were all made at another commit than
    most (rebuilt alone, e.g. after raising its epoch cap), and \\buildCommitsSentence saying it all."""
    tags, apart, accounted = _commit_tags(runs), [], {sha}
    for (protocol, family), g in tags.groupby([runs.protocol, runs.family], sort=True):
        if g.nunique() == 1 and g.iloc[0] != sha:
            m.add(f"{protocol_prefix(protocol)}{camel(family)}GitSHA", g.iloc[0], "text")
            escaped = family.replace("_", r"\_")
            apart.append(f"the {protocol} runs of family \\texttt{{{escaped}}}, made at commit "
                         f"\\texttt{{{g.iloc[0]}}}")
            accounted.add(g.iloc[0])
    scattered = [f"\\texttt{{{t}}}" for t in shas if t not in accounted]
    m.add("buildCommitsSentence", f"Every run was made at commit \\texttt{{{sha}}}"
          + (", except " + "; ".join(apart) if apart else "")
          + (f" (further runs at: {', '.join(scattered)})" if scattered else "") + ".", "text")


def _build(m: Macros, runs: pd.DataFrame, params: dict) -> None:
    sha, shas = _git_sha(runs)
    if sha:
        m.add("BuildGitSHA", sha, "text")
        _commits(m, runs, sha, shas)
    m.meta.update(git_sha=sha, git_shas=shas)
    m.add("nRuns", len(runs), "int")
    for key, name in (("seeds", "nSeeds"), ("word_seeds", "nWordSeeds")):
        if params.get(key):
            m.add(name, len(params[key]), "int")
    if params.get("published_seed") is not None:
        m.add("publishedSeed", params["published_seed"], "int")
    if params.get("seeds"):  # both exact tests reach at best p = 2 / 2^n with n pairs
        min_exact_p = 2 / 2 ** len(params["seeds"])
        m.add("minExactP", min_exact_p, "num4")
        m.add("exactTestsClause", "no exact non-parametric test can reject at" if min_exact_p >= ALPHA
              else "exact non-parametric tests could reject at", "text")
    if "resumed" in runs:  # jobs a session's end cut off: their benchmark files time the rest only
        m.add("nRunsResumed", int(runs.resumed.sum()), "int")
    if "wall_seconds" in runs and runs.wall_seconds.notna().any():
        m.add("buildMinutes", runs.wall_seconds.sum() / 60, "num1")
    for column, name in (("cpu_model", "cpuModel"), ("kernels", "runsKernels"),
                         ("aten_capability", "runsAtenCapability"), ("mkl_cbwr", "runsMklCbwr")):
        values = sorted(str(v) for v in runs[column].dropna().unique()) if column in runs else []
        text = "; ".join(values) if values else "not recorded"
        m.add(name, text.replace("_", r"\_"), "text")
        m.add(f"n{name[0].upper()}{name[1:]}", len(values), "int")


def _vocab(m: Macros, runs: pd.DataFrame) -> None:
    """Vocabulary sizes per protocol (or provenance corpus) and level, and per protocol and family, where
    every run agrees (vocabSizeCorrWord; vocabSizeCorrAlpha, vocabSizeCorrSweep)."""
    if not {"protocol", "level", "vocab_size"} <= set(runs.columns):
        return
    known = runs.dropna(subset=["vocab_size"])
    for keys in (["protocol", "level"], ["protocol", "family"]):
        for (protocol, name), g in known.groupby(keys):
            size = _unique(g.vocab_size)
            if size is not None:
                m.add(f"vocabSize{camel(protocol_prefix(protocol))}{camel(name)}", size, "count")
    fallback = runs[(runs.corpus == "fallback") & (runs.level == "char")] if "corpus" in runs else runs[:0]
    size = _unique(fallback.vocab_size) if len(fallback) else None
    if size is not None:
        m.add("fallbackVocabSize", size, "int")


def _design(m: Macros, runs: pd.DataFrame) -> None:
    """The settings of each method and the budgets of each family (see the module docstring)."""
    for (family, variant), g in runs.groupby(["family", "variant"], sort=True):
        for column, key in DESIGN.items():
            if column not in g or g[column].isna().all():
                continue
            value = _unique(g[column]) if g[column].notna().all() else None
            if value is not None:
                m.add(f"cfg{method_name(family, variant)}{key}", *_setting(value))
                continue
            for protocol, h in g.groupby("protocol", sort=True):  # differs by protocol: one per protocol
                value = _unique(h[column])
                if value is not None:
                    m.add(f"cfg{method_name(family, variant)}{key}{camel(protocol_prefix(protocol))}",
                          *_setting(value))
    char = char_level_ablations(runs)
    for column, key in (("max_epochs", "MaxEpochs"), ("patience", "Patience"),
                        ("phase1_max_epochs", "PhaseOneMaxEpochs"), ("phase1_patience", "PhaseOnePatience")):
        if column not in runs:
            continue
        for (protocol, family), g in runs.groupby(["protocol", "family"], sort=True):
            value = _unique(g[column])
            if value is not None:
                m.add(f"{protocol_prefix(protocol)}{camel(family)}{key}", value, "int")
        for protocol, g in char.groupby("protocol", sort=True):
            if g[column].notna().any():
                m.add(f"{protocol_prefix(protocol)}{key}", g[column].mode().iloc[0], "int")


def _caps(m: Macros, runs: pd.DataFrame) -> None:
    """Runs that reached their epoch cap without stopping early, per family and for character level."""
    if "cap_reached" not in runs:
        return
    char = char_level_ablations(runs)
    m.add("lateGainEpochs", LATE_EPOCHS, "int")
    groups = [((p, camel(f)), g) for (p, f), g in runs.groupby(["protocol", "family"], sort=True)]
    groups += [((p, "Char"), g) for p, g in char.groupby("protocol", sort=True)]
    for (protocol, name), g in groups:
        known = g.cap_reached.dropna()
        stem = f"{protocol_prefix(protocol)}{name}"
        m.add(f"{stem}CapN", int(known.sum()), "int")
        m.add(f"{stem}RunsN", len(g), "int")
        m.add(f"{stem}CapShare", known.mean() if len(known) else float("nan"), "frac")
        if "late_gain" in g:  # how far from converged the capped runs still were (NaN: none capped)
            m.add(f"{stem}CappedLateGain", g.late_gain[g.cap_reached.eq(1)].max(), "frac")


def _scheme(m: Macros, claims_config: dict) -> None:
    m.add("ciLevel", LEVEL * 100, "int")
    m.add("tostLevel", TOST_LEVEL * 100, "int")
    m.add("alphaLevel", f"{ALPHA:g}", "text")
    for name, group in (claims_config.get("smallest_effects") or {}).items():
        if group.get("delta") is not None:
            m.add(f"delta{camel(name)}", group["delta"], "pp")  # x100: % (log) or points (diff)


def _summary(m: Macros, summary: pd.DataFrame, paired: pd.DataFrame) -> None:
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


def _published(m: Macros, claims_config: dict) -> None:
    for preset, pub in (claims_config.get("published_runs") or {}).items():
        for metric in ("ppl", "acc", "shallow_fraction", "compute_fraction_layers"):
            if pub.get(metric) is not None:
                m.add(f"pub{camel(preset)}{METRIC_NAMES[metric]}", pub[metric], metric_kind(metric))
    for metric, value in (claims_config.get("published_ashem") or {}).items():
        m.add(f"pubAshem{METRIC_NAMES[metric]}", value, metric_kind(metric))
    corpus = claims_config.get("published_ashem_corpus") or {}
    if corpus.get("vocab_size"):
        m.add("pubAshemVocabSize", corpus["vocab_size"], "count")


def _original_code(m: Macros, runs: pd.DataFrame, claims_config: dict) -> None:
    """\\origCode<Preset>Ppl: what the original code prints at the published seed on the fallback text;
    \\charSeedFortyTwoMatches of \\charSeedFortyTwoCompared: how many of our fallback provenance runs
    give the same perplexity to the printed (two) decimals."""
    printed = claims_config.get("original_code_char_seed42") or {}
    ours = runs[(runs.family == "provenance") & (runs.protocol == "fallback")].set_index("variant").ppl
    matches = 0
    for preset, value in printed.items():
        m.add(f"origCode{camel(preset)}Ppl", value, "ppl")
        matches += bool(preset in ours.index and round(float(ours[preset]), 2) == round(float(value), 2))
    m.add("charSeedFortyTwoCompared", sum(preset in ours.index for preset in printed), "int")
    m.add("charSeedFortyTwoMatches", matches, "int")
    counts = claims_config.get("published_param_counts") or {}
    params = runs[(runs.family == "provenance") & (runs.protocol == "fallback")].set_index("variant").n_params
    m.add("paramCountsCompared", sum(preset in params.index for preset in counts), "int")
    m.add("paramCountsMatched", sum(preset in params.index and params[preset] == n for preset, n in counts.items()),
          "int")


def build_numbers(runs: pd.DataFrame, summary: pd.DataFrame, paired: pd.DataFrame, claims: pd.DataFrame,
                  claims_config: dict, params: dict) -> Macros:
    """Every number the prose cites, named by the scheme of the module docstring."""
    m = Macros()
    _build(m, runs, params)
    _vocab(m, runs)
    _design(m, runs)
    _caps(m, runs)
    _scheme(m, claims_config)
    _summary(m, summary, paired)
    add_claim_macros(m, claims, claims_config, params)
    _published(m, claims_config)
    _original_code(m, runs, claims_config)
    return m


def numbers_header(sources: list[str], sha: str | None, shas: list[str]) -> str:
    lines = [GENERATED.format(script="workflow/scripts/numbers.py").rstrip("\n"),
             "% Sources: " + ", ".join(sources),
             f"% Runs produced at commit {sha or 'unknown'}"
             + (f" (all: {', '.join(shas)})" if len(shas) > 1 else ""),
             "% Naming: <protocol><Family><Variant><Metric><Stat>, claim<Quantity><ClaimId><Protocol>;"
             " see lash/analysis/macros.py."]
    return "\n".join(lines)
