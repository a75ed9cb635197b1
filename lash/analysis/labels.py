"""Method labels: LaTeX for the tables, plain text for the figures (one list for both)."""

from __future__ import annotations

METHOD_LABELS = {
    "baselines/standard": "Standard 3L", "baselines/deep_supervision": "Deep supervision 3L",
    "baselines/standard_1l": "Standard 1L", "alpha/a0.3": r"Deep focus $\alpha{=}0.3$",
    "alpha/a0.5": r"Aux.\ loss $\alpha{=}0.5$", "alpha/a0.7": r"Asymmetric $\alpha{=}0.7$",
    "alpha/a0.9": r"Asymmetric $\alpha{=}0.9$", "l2/w1.0": r"$\alpha{=}0.7$ + L2 (1.0)",
    "l2/w1.0n": r"$\alpha{=}0.7$ + L2 (1.0), normalised", "lr/decreasing": "Disc-FT decreasing",
    "lr/increasing": "Disc-FT increasing", "dynamic_alpha/linear": r"Dynamic $\alpha$ linear",
    "dynamic_alpha/cosine": r"Dynamic $\alpha$ cosine", "ds_exit/t0.7": r"Deep sup.\ + exit at 0.7",
    "sweep/exit2": "4L, exit at 2 (thr.\\ 0.8)",
    "ashem/ashem": "ASHEM", "ashem/frozen_head": "ASHEM, frozen head",
    "ashem/full_context": "ASHEM, full-context phase 2", "ashem/soft_freeze": "ASHEM, soft freezing",
    "ashem/baseline_deep": "Baseline: 4L from scratch",
    "ashem/baseline_shallow_deep": "Baseline: 2L + 2L on all tokens",
    "progressive/standard": "Progressive, standard", "progressive/deep_supervision": "Progressive, deep sup.",
}
#: The rows of the main table and of the seed-spread figure, in this order.
MAIN_METHODS = ["baselines/standard", "baselines/deep_supervision", "baselines/standard_1l", "alpha/a0.3",
                "alpha/a0.5", "alpha/a0.7", "alpha/a0.9", "l2/w1.0", "l2/w1.0n", "lr/decreasing",
                "lr/increasing", "dynamic_alpha/linear", "dynamic_alpha/cosine", "sweep/exit2"]
PROTOCOL_TITLES = {"original": "Original protocol", "corrected": "Corrected protocol",
                   "bench": "Timing rounds on one machine"}
# LaTeX of METHOD_LABELS rendered as plain text for matplotlib
_PLAIN = {"$\\alpha{=}": "α=", "$\\alpha$": "α", "$\\to$": "→", "\\,\\%": "%", "\\%": "%", "\\,": "",
          "\\ ": " ", "$": "", "\\": ""}


def label(method: str) -> str:
    """LaTeX label of a "family/variant" (the method itself, escaped, when it has none)."""
    return METHOD_LABELS.get(method, method.replace("_", r"\_"))


def plain(text: str) -> str:
    """A LaTeX label as matplotlib text: 'Asymmetric $\\alpha{=}0.7$' -> 'Asymmetric α=0.7'."""
    for a, b in _PLAIN.items():
        text = text.replace(a, b)
    return text.replace("}", "")


def plain_label(method: str) -> str:
    """Plain-text label of a "family/variant" for the figures."""
    return plain(METHOD_LABELS.get(method, method))
