"""numbers.tex macros of the claims (results/claims.csv): every number and word the prose says about a
claim, so that no sentence whose truth depends on a result is typed by hand.

Per claim or question `Id` and protocol `P` (Orig | Corr | Bench, a benchmark's timing rounds):
\\claimLabel<Id><P> (the label, or "no runs"), \\claimTheta<Id><P> with ThetaLow / ThetaHigh (95 % CI)
and YardLow / YardHigh (the yardstick), \\claimPValue / \\claimPHolm, \\claimPairs, \\claimTarget /
\\claimReference (the means), \\claimRefName<Id><P> (what the target was compared with),
\\claimSign<Id><P> (single runs: same or opposite sign) and \\claimSentence<Id><P>, a generated clause:
"+6.1\\,\\% [-1.7, +14.5] (Holm p 0.771), published +39.7\\,\\%: size-excluded". Per claim:
\\claimPublishedTheta<Id>, \\claimPublished<Id> (the published text), \\claimUnit<Id>, \\claimAt<Id>
(the threshold a sweep claim reads); \\nClaimsNotMeasured and \\claimsNotMeasuredClause (how many
published claims have no measurement, as a clause). Tallies per
protocol over the published claims measured with two or more seeds (or timing rounds): \\nLabel<Label><P>,
\\nClaimsMeasured<P>, \\nClaimsSingleRun<P>, \\nClaimsNoRuns<P> and \\tallySentence<P>; the same for
our own questions with the prefix `question` (\\questionTallySentence<P>). \\shortCellsSentence: the
measured cells (published claims and questions, seeds only) that pair fewer seeds than the design gives
their families (lash.analysis.expected.family_seeds), each named with its protocol and count.
"""

from __future__ import annotations

import math

import pandas as pd

from .expected import family_seeds
from .formatting import FRACTIONS, fmt
from .naming import PROTOCOL_SUFFIX, camel
from .verdicts import TALLIED

UNITS = {"log": ("pct", r"\,\%"), "diff": ("pp", r"\,pp")}


def _is_fraction(metric: str) -> bool:
    return metric.split("@")[0].removeprefix("sweep:") in FRACTIONS


def _num(r: dict, key: str, scale: str) -> str:
    kind, _ = UNITS[scale]
    value = r[key]
    return fmt(value * 100 if kind == "pct" and not _nan(value) else value, kind, signed=True)[1]


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def sentence(r: dict) -> str:
    """The generated clause for one measured cell (see the module docstring)."""
    unit = UNITS[r["scale"]][1]
    theta = _num(r, "theta", r["scale"]) + unit
    pub = "" if _nan(r.get("published_theta")) else f", published {_num(r, 'published_theta', r['scale'])}{unit}"
    if r["label"] == "single-run":
        return f"{theta} in a single run ({r['note']}{pub})"
    ci = f"[{_num(r, 'ci_low', r['scale'])}, {_num(r, 'ci_high', r['scale'])}]"
    return f"{theta} {ci} (Holm $p$ {fmt(r['p_holm'], 'p')[1]}){pub}: \\emph{{{r['label']}}}"


def tally_sentence(counts: dict[str, int], n: int, noun: str, replicate: str = "seed") -> str:
    """'25 claims were measured over several seeds: 3 reproduced, 5 smaller and 17 inconclusive'
    (replicate: what the cells pair, claims.csv `replicate`: seed, or a benchmark's timing round)."""
    if n == 0:
        return f"no {noun} was measured over several {replicate}s"
    parts = [f"{counts[lab]} {lab}" for lab in TALLIED if counts.get(lab)]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{n} {noun}{'s were' if n != 1 else ' was'} measured over several {replicate}s: {listed}"


def _cell_macros(m, r: dict) -> None:
    sfx = r["claim"] + PROTOCOL_SUFFIX.get(r["protocol"], camel(r["protocol"]))
    if r["status"] != "measured":
        m.add(f"claimLabel{sfx}", "no runs", "text")
        m.add(f"claimSentence{sfx}", "no runs in this build", "text")
        return
    scale = r["scale"]
    kind = UNITS[scale][0]
    m.add(f"claimLabel{sfx}", r["label"], "text")
    m.add(f"claimPairs{sfx}", r["n_pairs"], "int")
    for col, name in (("theta", "Theta"), ("ci_low", "ThetaLow"), ("ci_high", "ThetaHigh"),
                      ("yardstick_low", "YardLow"), ("yardstick_high", "YardHigh")):
        value = r[col] * 100 if kind == "pct" and not _nan(r[col]) else r[col]
        m.add(f"claim{name}{sfx}", value, kind, signed=True)
    m.add(f"claimPValue{sfx}", r["p_value"], "p")
    m.add(f"claimPHolm{sfx}", r["p_holm"], "p")
    means = "frac" if _is_fraction(r["metric"]) else "ppl"
    m.add(f"claimRefName{sfx}", str(r["reference"]).replace("_", r"\_"), "text")
    m.add(f"claimTarget{sfx}", r["mean_target"], means)
    m.add(f"claimReference{sfx}", r["mean_reference"], means)
    if r["label"] == "single-run":
        m.add(f"claimSign{sfx}", r["note"], "text")
    m.add(f"claimSentence{sfx}", sentence(r), "text")


def _tallies(m, cells: pd.DataFrame, names: dict) -> None:
    """The counts and the tally sentence of one group (names: label, count, sentence, noun)."""
    for protocol, g in cells.groupby("protocol", sort=False):
        p = PROTOCOL_SUFFIX.get(protocol, camel(protocol))
        several = g[(g.status == "measured") & (g.label != "single-run")]
        counts = several.label.value_counts().to_dict()
        for lab in TALLIED:
            m.add(f"{names['label']}{camel(lab)}{p}", counts.get(lab, 0), "int")
        m.add(f"{names['count']}Measured{p}", len(several), "int")
        m.add(f"{names['count']}SingleRun{p}", int((g.label == "single-run").sum()), "int")
        m.add(f"{names['count']}NoRuns{p}", int((g.status == "no runs").sum()), "int")
        replicates = set(g.replicate.dropna()) if "replicate" in g else set()
        replicate = replicates.pop() if len(replicates) == 1 else "seed"
        m.add(f"{names['sentence']}{p}", tally_sentence(counts, len(several), names["noun"], replicate), "text")


PUBLISHED_NAMES = {"label": "nLabel", "count": "nClaims", "sentence": "tallySentence", "noun": "claim"}
QUESTION_NAMES = {"label": "nQuestionLabel", "count": "nQuestions", "sentence": "questionTallySentence",
                  "noun": "question"}


def _equivalence(m, cells: pd.DataFrame) -> None:
    """How many claims of no effect were measured over several seeds, and how many came out absent."""
    for protocol, g in cells.groupby("protocol", sort=False):
        p = PROTOCOL_SUFFIX.get(protocol, camel(protocol))
        several = g[(g.status == "measured") & (g.label != "single-run") & (g.direction == "none")]
        m.add(f"nEquivalenceClaims{p}", len(several), "int")
        m.add(f"nEquivalenceAbsent{p}", int((several.label == "absent").sum()), "int")


def short_cells_sentence(cells: pd.DataFrame, claims_config: dict, design: dict) -> str:
    """A sentence naming every measured cell over seeds with fewer pairs than the design gives the
    target's family (design: seeds, word_seeds and published_seed, as in config/config.yaml)."""
    labels = {c["id"]: c.get("label", c["id"]) for where in ("claims", "questions")
              for c in claims_config.get(where) or []}
    short = []
    for r in cells[(cells.status == "measured") & (cells.replicate == "seed")].to_dict("records"):
        wanted, n = len(family_seeds(str(r["target"]).split("/", 1)[0], design)), int(r["n_pairs"])
        if n < wanted:
            short.append(f"{labels.get(r['claim'], r['claim'])} ({r['protocol']}, {n} of {wanted} seeds)")
    if not short:
        return "Every measured cell pairs all the seeds of the design."
    listed = short[0] if len(short) == 1 else "; ".join(short[:-1]) + "; and " + short[-1]
    return f"Fewer paired seeds than the design: {listed}."


def add_claim_macros(m, claims: pd.DataFrame, claims_config: dict, design: dict | None = None) -> None:
    """Every claim macro (see the module docstring) into the Macros collection `m`; `design` (seeds,
    word_seeds, published_seed) adds \\shortCellsSentence."""
    if claims.empty:
        return
    for where in ("claims", "questions"):
        for claim in claims_config.get(where) or []:
            pub = claim.get("published") or {}
            if pub.get("text"):
                m.add(f"claimPublished{claim['id']}", pub["text"], "text")
    published = claims[claims.group == "published"]
    m.add("nClaims", published.claim.nunique(), "int")
    not_measured = int((published.status == "not measured").sum())
    m.add("nClaimsNotMeasured", not_measured, "int")
    m.add("claimsNotMeasuredClause", "each of them is measured" if not not_measured else
          f"{not_measured} of them we cannot measure, and the table says why", "text")
    m.add("nQuestionsAll", claims[claims.group == "question"].claim.nunique(), "int")
    for claim_id, g in claims[claims.status != "not measured"].groupby("claim", sort=False):
        first = g.iloc[0].to_dict()
        scale = first["scale"]
        m.add(f"claimUnit{claim_id}", UNITS[scale][1], "text")
        if "@" in str(first["metric"]):  # a threshold-sweep claim: the threshold it reads
            m.add(f"claimAt{claim_id}", str(first["metric"]).split("@", 1)[1], "text")
        if not _nan(first["published_theta"]):
            value = first["published_theta"] * (100 if scale == "log" else 1)
            m.add(f"claimPublishedTheta{claim_id}", value, UNITS[scale][0], signed=True)
    for r in claims[claims.status != "not measured"].to_dict("records"):
        _cell_macros(m, r)
    cells = claims[claims.status != "not measured"]
    _tallies(m, cells[cells.group == "published"], PUBLISHED_NAMES)
    _tallies(m, cells[cells.group == "question"], QUESTION_NAMES)
    _equivalence(m, cells[cells.group == "published"])
    if design and design.get("seeds") and design.get("word_seeds"):
        m.add("shortCellsSentence", short_cells_sentence(cells, claims_config, design), "text")
