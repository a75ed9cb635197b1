"""The paper's prose states no number by hand: every digit in paper/sections/*.tex is inside a generated
macro (\\val{...}), a label, reference or citation, a file input, graphics options, or one of a short list
of names that contain digits (ALLOWED); and no vocabulary size is typed anywhere. Any sentence whose truth
depends on a result is a generated macro (\\claimcite, the tallies), so the text stays true after a rebuild."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = sorted((REPO / "paper" / "sections").glob("*.tex"))

#: Names and formula constants with digits, each with the reason it is not a number of the study.
ALLOWED = {
    "wikitext-2-raw-v1": "the name of the raw corpus variant",
    "wikitext-2-v1": "the name of the tokenized corpus variant",
    "WikiText-2": "the corpus's name",
    "+L2": "the original's name of its loss-at-layer-2 variant",
    "w_k > 0": "the loss sums over the layers with a weight",
    "e^{\\bar d} - 1": "the definition of the effect theta",
    "\\sqrt{1 + 1/n}": "the prediction interval's formula",
}
#: What is removed before the scan: comments, generated numbers, cross-references, citations, inputs.
STRIP = [
    r"(?<!\\)%.*",  # comments
    r"\\val\{[A-Za-z]+\}",  # generated numbers
    r"\\claimcite\{[A-Za-z]+\}\{[A-Za-z]+\}",  # generated claim clauses
    r"\\(label|ref|eqref|cite[tp]?|input|includegraphics|begin|end)(\[[^\]]*\])*\{[^}]*\}",
    r"\\(begin|end)\{[^}]*\}(\[[^\]]*\])?",
]


def hand_typed_digits(text: str) -> list[str]:
    """The fragments of `text` that hold a digit after the generated and structural parts are removed."""
    for pattern in STRIP:
        text = re.sub(pattern, " ", text)
    for allowed in sorted(ALLOWED, key=len, reverse=True):
        text = text.replace(allowed, " ")
    return [m.group(0) for m in re.finditer(r"\S*\d\S*", text)]


def test_the_scan_finds_typed_numbers_and_skips_generated_ones():
    assert hand_typed_digits(r"a 33k-word vocabulary and 17,009 words") == ["33k-word", "17,009"]
    assert hand_typed_digits(r"PPL \val{corrAshemPplMean} at $\alpha = 0.7$ % 12 in a comment") == ["0.7$"]
    assert hand_typed_digits(r"\label{tab:x2} \ref{fig:a1} \citep{lee2015deeply} \input{generated/tab_2}") == []
    assert hand_typed_digits(r"\includegraphics[width=0.8\linewidth]{fig_l2} on wikitext-2-v1") == []
    assert hand_typed_digits(r"\claimcite{LTwoHurts}{Corr} and \begin{table}[t]") == []


@pytest.mark.parametrize("path", SECTIONS, ids=[p.name for p in SECTIONS])
def test_no_number_is_typed_into_the_prose(path):
    found = hand_typed_digits(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: hand-typed numbers {found}; generate them (lash/analysis/macros.py, \\val{{...}})"


def test_no_vocabulary_size_is_typed_anywhere_in_the_sections():
    text = " ".join(p.read_text(encoding="utf-8") for p in SECTIONS)
    assert not re.search(r"\d[\d,{}]*\s*(-|\s)?(word|way|symbol|token)s?\b", text), "a hand-typed vocabulary size"
    assert not re.search(r"\b\d+\s*k\b|\d+k-", text)


def test_every_figure_comes_before_the_references():
    main = (REPO / "paper" / "main.tex").read_text(encoding="utf-8")
    assert r"\usepackage[section]{placeins}" in main
    assert main.index(r"\FloatBarrier") < main.index(r"\bibliography{")
