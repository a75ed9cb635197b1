"""Macro names and formatting, and the workflow scripts end to end (check_runs -> aggregate -> numbers,
tables) on a fake results tree built from a real smoke-run JSON."""

import importlib.util
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fake_results import FAKE_BENCH_RATIOS, SEED_SHIFT, expected_settings, fake_bench, make_fake_results

from lash.analysis import macros
from lash.analysis.formatting import fmt
from lash.analysis.verdicts import LABELS, TALLIED

REPO = Path(__file__).resolve().parents[1]
CLAIMS = str(REPO / "config" / "claims.yaml")
AGGREGATES = {"runs": "runs.csv", "summary": "summary.csv", "summary_json": "summary.json",
              "paired": "paired.csv", "claims": "claims.csv", "claims_json": "claims.json",
              "sweep": "sweep.csv", "reliability": "reliability.csv", "epoch_caps": "epoch_caps.csv"}
TABLES = ("claims", "questions", "deltas", "main", "provenance", "ashem", "timing", "ashem_seed42")
MACRO = re.compile(r"\\newcommand\{\\([^}]*)\}\{(.*)\}$")


def script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "workflow" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(root: Path, ashem=True):
    """The scripts as Snakemake would run them, on a fake results/ tree under `root`."""
    paths = make_fake_results(root, ashem=ashem)
    res, gen = root / "results", root / "paper" / "generated"
    references = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["references"]
    agg = {k: str(res / v) for k, v in AGGREGATES.items()}
    checked = str(res / "checked_runs.json")
    script("check_runs").main({"runs": [str(p) for p in paths]}, {"manifest": checked},
                              {"expected": expected_settings(paths)})
    bench = {"bench_fast_path": str(fake_bench(res / "bench_fast_path.json"))}  # the one claim measured on it
    script("aggregate").main({"checked": checked, "claims": CLAIMS} | bench, agg, {"references": references})
    extra = {"timing": str(res / "timing.csv"), "ashem_provenance": str(res / "ashem_provenance.csv")}
    script("timing").main({}, {"csv": extra["timing"]}, {"jobs": {}, "build_record": None})
    script("ashem_provenance").main({"claims_config": CLAIMS}, {"csv": extra["ashem_provenance"]}, {})
    numbers = {"tex": str(gen / "numbers.tex"), "json": str(gen / "numbers.json")}
    script("numbers").main({k: agg[k] for k in ("runs", "summary", "paired", "claims")} | extra
                           | bench | {"claims_config": CLAIMS}, numbers,
                           {"seeds": [0, 1, 2], "word_seeds": [0, 1, 2], "published_seed": 42})
    tables = {k: str(gen / f"tab_{k}.tex") for k in TABLES}
    script("tables").main({"summary": agg["summary"], "claims": agg["claims"], "claims_config": CLAIMS} | extra,
                          tables, {})
    return paths, agg, numbers, tables


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    return (root, *build(root))


def read_macros(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        m = MACRO.match(line)
        if m:
            assert m[1] not in out, f"duplicate macro {m[1]}"
            out[m[1]] = m[2]
    return out


# --------------------------------------------------------------------------- names and numbers

@pytest.mark.parametrize("family, variant, name", [
    ("alpha", "a0.7", "AlphaZeroSeven"), ("l2", "w1.0n", "LTwoOneZeroN"), ("baselines", "standard_1l",
     "BaselinesStandardOneL"), ("sweep", "exit2", "SweepExitTwo"), ("ashem", "ashem", "Ashem"),
    ("dynamic_alpha", "linear", "DynamicAlphaLinear"), ("provenance", "deep_supervision_routing",
     "ProvenanceDeepSupervisionRouting")])
def test_method_names_are_letters_only(family, variant, name):
    assert macros.method_name(family, variant) == name


def test_formatting_rounds_in_python():
    assert fmt(22.954, "ppl") == (22.95, "22.95")
    assert fmt(0.4436, "frac") == (44.4, "44.4")
    assert fmt(-4.26, "pct", signed=True) == (-4.3, r"\ensuremath{-}4.3")
    assert fmt(39.75, "pct", signed=True)[1] == "+39.8"
    assert fmt(0.0, "ppl", signed=True) == (0.0, "0.00")  # no "-0.00"
    assert fmt(-0.001, "ppl", signed=True) == (-0.001, r"\ensuremath{-}0.001")  # no sign lost to rounding
    assert fmt(-0.0003, "pp", signed=True) == (-0.03, r"\ensuremath{-}0.03")
    assert fmt(0.00004, "pct", signed=True) == (0.00004, "+0.00004")
    assert fmt(17009, "count") == (17009, "17{,}009")
    assert fmt(0.0004, "p") == (0.001, r"\ensuremath{<}0.001")
    assert fmt(0.19936, "p") == (0.199, "0.199")
    assert fmt(float("nan"), "ppl") == (None, "n/a")


def test_macro_names_are_checked():
    m = macros.Macros()
    m.add("corrAlphaZeroSevenPplMean", 1.0, "ppl")
    for bad in ("alpha0p7", "a_b", "corrAlphaZeroSevenPplMean"):
        with pytest.raises(ValueError):
            m.add(bad, 1.0, "ppl")


def test_a_family_rebuilt_at_another_commit_gets_its_own_commit_macro():
    """BuildGitSHA is the commit most runs were made at; a family and protocol made entirely at another
    commit (rebuilt alone) is named with it; a mixed one is not."""
    runs = pd.DataFrame({"family": ["alpha", "alpha", "sweep", "sweep", "sweep", "l2", "l2"],
                         "protocol": ["corrected", "original", "corrected", "corrected", "original",
                                      "corrected", "corrected"],
                         "git_sha": ["0106382aa"] * 2 + ["7d14654bb"] * 2 + ["0106382aa", "0106382aa", "1234567cc"],
                         "git_dirty": [False] * 7})
    m = macros.Macros()
    macros._build(m, runs, {})
    assert m.tex["BuildGitSHA"] == "0106382" and m.tex["corrSweepGitSHA"] == "7d14654"
    assert not any(name.endswith("GitSHA") and name != "BuildGitSHA" and name != "corrSweepGitSHA"
                   for name in m.tex)  # the mixed l2 cell and the build's own cells: none
    assert m.meta["git_shas"] == ["0106382", "1234567", "7d14654"]
    assert m.tex["buildCommitsSentence"] == (r"Every run was made at commit \texttt{0106382}, except the corrected "
                                             r"runs of family \texttt{sweep}, made at commit \texttt{7d14654} "
                                             r"(further runs at: \texttt{1234567}).")
    one = macros.Macros()
    macros._build(one, runs.assign(git_sha="0106382aa", git_dirty=[True] + [False] * 6), {})
    assert one.tex["buildCommitsSentence"] == r"Every run was made at commit \texttt{0106382}, except the corrected " \
        r"runs of family \texttt{alpha}, made at commit \texttt{0106382-dirty}."


# --------------------------------------------------------------------------- end to end

def test_aggregate_writes_tidy_tables(built):
    root, paths, agg, _, _ = built
    runs = pd.read_csv(agg["runs"])
    assert len(runs) == len(paths)
    assert not runs.duplicated(["family", "protocol", "variant", "seed"]).any()
    summary = json.loads(Path(agg["summary_json"]).read_text())
    assert len(summary["summary"]) == len(pd.read_csv(agg["summary"]))
    env = summary["environment"]  # the analysis environment: versions and the lock's digest
    assert {"numpy", "scipy", "pandas", "matplotlib", "seaborn", "snakemake"} <= set(env["packages"])
    assert env["packages"]["pandas"] == pd.__version__ and "lock_sha256" in env
    prov = [r for r in summary["summary"] if r["family"] == "provenance" and r["metric"] == "ppl"]
    assert prov and all(r["n"] == 1 and r["ci_low"] is None for r in prov)  # n = 1: no CI, shown as null
    claims = pd.read_csv(agg["claims"])
    measured = claims[claims.status == "measured"]
    assert set(measured.label) <= set(LABELS)
    row = measured[(measured.claim == "LTwoHurts") & (measured.protocol == "original")].iloc[0]
    # fakes: w1.0 is 26 + shift against 23 + shift; the published +39.7 % is far outside the narrow PI
    shifts = SEED_SHIFT[:3]
    expected = math.expm1(sum(math.log((26 + s) / (23 + s)) for s in shifts) / 3)
    assert row.theta == pytest.approx(expected) and row.yardstick == "pi" and row.label == "smaller"
    assert row.p_holm >= row.p_value
    fast = claims[claims.claim == "FastPathSpeedup"]  # timing rounds of the benchmark record, not seeds
    assert fast[["protocol", "status", "replicate", "seeds"]].values.tolist() == [["bench", "measured", "round",
                                                                                 "1 2 3"]]
    assert fast.theta.iloc[0] == pytest.approx(math.exp(sum(map(math.log, FAKE_BENCH_RATIOS)) / 3) - 1)
    assert set(claims[claims.protocol != "bench"].replicate.dropna()) == {"seed"}
    assert set(claims.group) == {"published", "question"}
    assert len(pd.read_csv(agg["sweep"])) == 11 * (len(paths))
    caps = pd.read_csv(agg["epoch_caps"])
    assert {"family", "protocol", "n_runs", "n_capped", "share_capped"} <= set(caps.columns)
    assert caps.n_runs.sum() == len(runs)


def test_numbers_tex_names_and_values(built):
    _, _, agg, numbers, _ = built
    text = Path(numbers["tex"]).read_text()
    assert text.startswith("% GENERATED by workflow/scripts/numbers.py") and "runs.csv" in text.splitlines()[1]
    tex = read_macros(numbers["tex"])
    assert tex and all(re.fullmatch(r"[A-Za-z]+", k) for k in tex)
    stored = json.loads(Path(numbers["json"]).read_text())
    assert stored["tex"] == tex  # numbers.json holds the same values
    summary = pd.read_csv(agg["summary"]).set_index(["family", "protocol", "variant", "metric"])
    ppl = summary.loc[("alpha", "corrected", "a0.7", "ppl")]
    assert tex["corrAlphaZeroSevenPplMean"] == f"{ppl['mean']:.2f}"
    assert stored["values"]["corrAlphaZeroSevenPplMean"] == round(ppl["mean"], 2)
    assert tex["corrAlphaZeroSevenPplCILow"] == f"{ppl['ci_low']:.2f}"
    assert tex["origAlphaZeroSevenPplN"] == "3"
    acc = summary.loc[("baselines", "original", "standard", "acc")]
    assert tex["origBaselinesStandardAccMean"] == f"{100 * acc['mean']:.1f}"
    assert tex["fallbackProvenanceStandardPplSd"] == "n/a"  # one run: visible, not invented
    claims = pd.read_csv(agg["claims"]).set_index(["claim", "protocol"])
    assert tex["claimLabelLTwoHurtsOrig"] == claims.loc[("LTwoHurts", "original"), "label"]
    assert tex["claimPublishedThetaLTwoHurts"] == "+39.7"  # 32.07 / 22.95 - 1
    assert tex["claimSentenceLTwoHurtsOrig"].endswith(r"\emph{smaller}")
    assert tex["fallbackVocabSize"] == "30" and tex["nRuns"] == str(len(pd.read_csv(agg["runs"])))
    runs = pd.read_csv(agg["runs"])
    alpha = runs[(runs.family == "alpha") & (runs.protocol == "corrected")].vocab_size.unique()
    assert len(alpha) == 1 and tex["vocabSizeCorrAlpha"] == f"{int(alpha[0]):,}".replace(",", "{,}")
    assert float(tex["buildMinutes"]) == pytest.approx(len(pd.read_csv(agg["runs"])))  # fakes: 60 s each
    assert tex["BuildGitSHA"] and tex["nSeeds"] == "3" and tex["publishedSeed"] == "42"
    assert tex["minExactP"] == "0.2500"  # 2 / 2^3 with three seeds
    assert tex["exactTestsClause"] == "no exact non-parametric test can reject at"  # 0.25 >= 0.05
    # no runs: said so in words, never a number; the fakes have no corrected ASHEM runs
    assert tex["claimLabelAshemValPplCorr"] == "no runs" and "claimThetaAshemValPplCorr" not in tex
    assert tex["claimLabelAshemValPplOrig"] in LABELS
    published = claims.xs("original", level="protocol")
    several = published[(published.group == "published") & (published.status == "measured")
                        & (published.label != "single-run")]
    assert tex["nClaimsMeasuredOrig"] == str(len(several))
    assert sum(int(tex[f"nLabel{macros.camel(lab)}Orig"]) for lab in TALLIED) == len(several)
    assert tex["tallySentenceOrig"].startswith(f"{len(several)} claims were measured over several seeds: ")
    assert stored["environment"]["packages"]["scipy"] and stored["environment"]["lock_sha256"] is not None
    assert tex["ashemSeedFortyTwoCompared"] == "0" and tex["buildWallHours"] == "not recorded"
    assert tex["ashemSeedFortyTwoKernels"] == "not recorded"  # no seed-42 run: said in words
    # the fakes' provenance run is a smoke model: the published 3-layer count is compared and not matched
    assert (tex["paramCountsCompared"], tex["paramCountsMatched"]) == ("1", "0")
    # the fast path: over the benchmark's timing rounds, with its settings; 0.7 of the time is -30.0 %
    assert tex["claimThetaFastPathSpeedupBench"] == r"\ensuremath{-}30.0"
    assert tex["claimPairsFastPathSpeedupBench"] == "3"
    assert tex["tallySentenceBench"] == "1 claim was measured over several rounds: 1 larger"
    assert (tex["benchFastPathRounds"], tex["benchFastPathSteps"], tex["benchFastPathVocab"]) == ("3", "4", "33{,}278")
    assert tex["benchFastPathCpu"] == r"Fake CPU\_9" and tex["claimsNotMeasuredClause"] == "each of them is measured"


def test_tables_are_booktabs_bodies(built):
    _, _, _, _, tables = built
    for path in tables.values():
        text = Path(path).read_text()
        assert text.startswith("% GENERATED by workflow/scripts/tables.py -- do not edit")
        assert r"\begin{tabular}" in text and r"\toprule" in text and text.rstrip().endswith(r"\end{tabular}")
        assert "nan" not in text.lower().replace("n/a", "")
    main = Path(tables["main"]).read_text()
    assert r"Asymmetric $\alpha{=}0.7$ & 23.03 $\pm$ 0.35" in main
    claims = Path(tables["claims"]).read_text()
    assert "smaller {\\scriptsize(n=3)}" in claims and "no runs" in claims
    # the fast path, timed over rounds: one cell across both protocols' columns
    fast = next(line for line in claims.splitlines() if line.startswith("Final-layer-only fast path"))
    assert "& \\multicolumn{6}{l}{Timing rounds on one machine: \\ensuremath{-}30.0\\,\\% [" in fast
    assert fast.endswith("larger {\\scriptsize(3 rounds)}} \\\\")
    assert "Dynamic" not in claims and "Dynamic" in Path(tables["questions"]).read_text()  # questions apart
    assert r"$\pm$1.0\,\%" in Path(tables["deltas"]).read_text()
    assert "Published ASHEM" in Path(tables["ashem"]).read_text()


def test_a_claim_without_a_measure_is_listed_as_not_measured(built):
    from lash.analysis.verdict_tables import table_claims

    _, _, agg, _, _ = built
    config = yaml.safe_load(Path(CLAIMS).read_text())
    config["claims"].append({"id": "Unmeasured", "label": "A claim nobody can measure", "measure": None,
                             "not_measured": "no run records it", "protocols": [], "published": {"text": "1 s"}})
    row = next(line for line in table_claims(pd.read_csv(agg["claims"]), config).splitlines()
               if line.startswith("A claim nobody can measure"))
    # one cell across both protocols' six columns, with the reason
    assert row == ("A claim nobody can measure & 1 s & \\multicolumn{6}{p{9cm}}{not measured: no run records it} \\\\")


def test_cells_with_fewer_seeds_than_the_design_are_named(built):
    from lash.analysis.claim_macros import short_cells_sentence

    _, _, agg, numbers, _ = built
    claims, config = pd.read_csv(agg["claims"]), yaml.safe_load(Path(CLAIMS).read_text())
    # the fake tree pairs 3 seeds everywhere, the design's count
    assert read_macros(numbers["tex"])["shortCellsSentence"] == "Every measured cell pairs all the seeds of the design."
    # four word-level seeds in the design: only the four measured ASHEM cells (original protocol) fall
    # short; the character-level cells and the benchmark's timing rounds are not named
    sentence = short_cells_sentence(claims, config, {"seeds": [0, 1, 2], "word_seeds": [0, 1, 2, 3],
                                                     "published_seed": 42})
    labels = {c["id"]: c["label"] for c in config["claims"]}
    named = [f"{labels[c]} (original, 3 of 4 seeds)" for c in
             ("AshemValPpl", "AshemHardPpl", "AshemAccuracy", "AshemCompute")]
    assert sentence == "Fewer paired seeds than the design: " + "; ".join(named[:3]) + "; and " + named[3] + "."


def test_build_without_ashem_results(tmp_path):
    _, agg, numbers, tables = build(tmp_path, ashem=False)
    assert "No ASHEM results in this build." in Path(tables["ashem"]).read_text()
    assert not any(k.startswith(("origAshem", "corrAshem", "claimThetaAshem")) for k in read_macros(numbers["tex"]))
    out = {"pdf": str(tmp_path / "fig_ashem.pdf"), "png": str(tmp_path / "fig_ashem.png")}
    script("fig_ashem").main({"runs": agg["runs"], "claims_config": CLAIMS}, out, {})
    assert Path(out["pdf"]).stat().st_size > 0
