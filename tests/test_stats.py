"""lash.analysis (stats, intervals, runs) against hand-computed values: mean/sd/t-interval, the paired
t-test, the epoch caps, the tidy run tables, claims.yaml's coverage (the verdicts: test_verdicts.py)."""

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lash.analysis import intervals, macros, stats
from lash.analysis import runs as run_tables
from lash.analysis.macros import Macros

REPO = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).parent / "data" / "smoke_run.json"
T975_DF2, T975_DF3 = 4.302652729749462, 3.182446305283708  # Student t quantiles (tables: 4.303, 3.182)


def test_mean_ci_by_hand():
    r = intervals.mean_ci([1, 2, 3, 4])
    sd = math.sqrt(5 / 3)  # sum of squared deviations 5, n - 1 = 3
    half = T975_DF3 * sd / 2  # sd / sqrt(4)
    assert r["n"] == 4 and r["mean"] == 2.5
    assert r["sd"] == pytest.approx(sd)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2.5 - half, 2.5 + half))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.445740, 4.554260), abs=1e-6)


def test_one_seed_has_no_interval_and_says_so():
    r = intervals.mean_ci([7.0])
    assert r["n"] == 1 and r["mean"] == 7.0
    assert math.isnan(r["sd"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
    assert intervals.mean_ci([3.0, float("nan")])["n"] == 1  # NaN is dropped, not counted


def test_summarize_small_frame():
    runs = pd.DataFrame({"family": ["f"] * 5, "protocol": ["corrected"] * 5,
                         "variant": ["a", "a", "a", "a", "b"], "seed": [0, 1, 2, 3, 0],
                         "ppl": [1.0, 2.0, 3.0, 4.0, 9.0], "acc": [0.5] * 4 + [float("nan")]})
    s = stats.summarize(runs, metrics=["ppl", "acc"])
    a = s[(s.variant == "a") & (s.metric == "ppl")].iloc[0]
    assert a.n == 4 and a["mean"] == 2.5 and a.seeds == "0 1 2 3"
    assert a.ci_high == pytest.approx(2.5 + T975_DF3 * math.sqrt(5 / 3) / 2)
    b = s[(s.variant == "b") & (s.metric == "ppl")].iloc[0]
    assert b.n == 1 and math.isnan(b.ci_low)  # visible as NaN in summary.csv
    assert s[(s.variant == "b") & (s.metric == "acc")].empty  # no values -> no row


def test_paired_t_test_by_hand_on_matching_seeds():
    target = pd.Series([10.0, 12.0, 11.0, 14.0], index=[0, 1, 2, 3])
    reference = pd.Series([10.0, 11.0, 11.0, 9.0], index=[1, 2, 3, 4])
    r = stats.paired_stats(target, reference)
    # pairs: seeds 1, 2, 3 -> differences 2, 0, 3
    assert r["n_pairs"] == 3 and r["seeds"] == "1 2 3"
    mean, sd = 5 / 3, math.sqrt(7 / 3)
    t = mean / (sd / math.sqrt(3))  # = 5 / sqrt(7)
    p = 1 - t / math.sqrt(2 + t * t)  # two-sided p of Student t with 2 df, closed form
    assert t == pytest.approx(5 / math.sqrt(7))
    assert r["mean_diff"] == pytest.approx(mean) and r["sd_diff"] == pytest.approx(sd)
    assert r["p_value"] == pytest.approx(p) and r["p_value"] == pytest.approx(0.199359, abs=1e-6)
    half = T975_DF2 * sd / math.sqrt(3)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((mean - half, mean + half))
    assert r["mean_reference"] == pytest.approx(32 / 3)
    assert r["rel_diff_pct"] == pytest.approx(15.625)  # (5/3) / (32/3) * 100
    assert r["rel_ci_low"] == pytest.approx((mean - half) / (32 / 3) * 100)


def test_paired_against_a_constant_and_degenerate_cases():
    r = stats.paired_stats(pd.Series([0.6, 0.7, 0.8], index=[0, 1, 2]), 1.0)
    assert r["mean_diff"] == pytest.approx(-0.3) and r["rel_diff_pct"] == pytest.approx(-30.0)
    assert r["p_value"] == pytest.approx(float(__import__("scipy").stats.ttest_1samp([0.6, 0.7, 0.8], 1.0).pvalue))
    one = stats.paired_stats(pd.Series([1.0], index=[0]), pd.Series([2.0], index=[0]))
    assert one["n_pairs"] == 1 and math.isnan(one["p_value"]) and math.isnan(one["ci_low"])
    none = stats.paired_stats(pd.Series([1.0], index=[0]), pd.Series([2.0], index=[5]))
    assert none["n_pairs"] == 0 and math.isnan(none["mean_diff"])


def _frame(rows):
    return pd.DataFrame(rows, columns=["family", "protocol", "variant", "seed", "ppl", "phase1_ppl"])


def test_paired_differences_use_the_family_reference_and_same_protocol():
    runs = _frame([("alpha", "corrected", "a0.5", s, 20.0 + s, None) for s in range(3)]
                  + [("alpha", "corrected", "a0.7", s, 19.0 + s + 0.1 * s * s, None) for s in range(3)]
                  + [("alpha", "original", "a0.7", s, 30.0, None) for s in range(3)]
                  + [("l2", "corrected", "w1.0", s, 25.0 + s, None) for s in range(2)])
    p = stats.paired_differences(runs, {"alpha": "alpha/a0.5", "l2": "alpha/a0.7"}, metrics=["ppl"])
    assert set(zip(p.family, p.protocol, p.variant, strict=True)) == {("alpha", "corrected", "a0.7"),
                                                                       ("l2", "corrected", "w1.0")}
    a = p[p.variant == "a0.7"].iloc[0]
    assert a.n_pairs == 3 and a.mean_diff == pytest.approx(-1 + 0.5 / 3)
    l2 = p[p.variant == "w1.0"].iloc[0]  # seeds 0, 1 against a0.7: 25 - 19, 26 - 20.1
    assert l2.n_pairs == 2 and l2.mean_diff == pytest.approx((6 + 5.9) / 2)


def test_load_runs_reads_a_real_result(tmp_path):
    path = tmp_path / "results" / "alpha" / "corrected-a0.7" / "seed~0.json"
    path.parent.mkdir(parents=True)
    shutil.copy(SMOKE, path)
    payload = json.loads(SMOKE.read_text())
    r = run_tables.load_runs([path]).iloc[0]
    assert (r.family, r.protocol, r.variant, r.seed) == ("alpha", "corrected", "a0.7", 0)
    head = payload["metrics"]["headline"]
    assert r.split == head["split"] and r.ppl == head["ppl"] and r.acc == head["acc"]
    assert r.final_ppl == payload["metrics"][head["split"]]["final"]["ppl"]
    assert r.exit1_ppl == payload["metrics"][head["split"]]["exits"]["1"]["ppl"]
    assert r.vocab_size == payload["metrics"]["vocab_size"] and r.level == payload["config"]["data"]["level"]
    assert math.isnan(r.phase1_ppl)  # no ASHEM keys: NaN, never an error
    assert r.compute_fraction_flops == payload["metrics"][head["split"]]["routed"]["compute_fraction_flops"]
    payload["config"]["train"]["restore_best"] = False  # original protocol: best-epoch weights are gone
    assert math.isnan(run_tables.run_row(path, payload)["compute_fraction_flops"])
    assert math.isnan(r.speedup_measured)  # no skip-mode timing in a plain training run
    payload["timing"] = {"inference": {"full_s": 2.0, "skip_s": 1.6, "speedup_measured": 1.25,
                                       "speedup_ideal": 1.4}}  # what `lash ashem evaluate` writes
    row = run_tables.run_row(path, payload)
    assert (row["speedup_measured"], row["speedup_ideal"]) == (1.25, 1.4)
    sweeps = run_tables.load_sweeps([path])
    assert len(sweeps) == 11 and sweeps.threshold.tolist()[-1] == 1.0
    rel = run_tables.load_reliability([path])
    assert set(rel.layer) == {1, 3} and rel["count"].sum() == 2 * payload["metrics"][head["split"]]["n_tokens"]


def test_result_paths_are_parsed_or_refused():
    assert run_tables.parse_result_path("x/results/l2/original-w1.0n/seed~4.json") == {
        "family": "l2", "protocol": "original", "variant": "w1.0n", "seed": 4}
    path = "results/provenance/wikitext2-standard_1l/seed~42.json"
    assert run_tables.parse_result_path(path)["protocol"] == "wikitext2"
    with pytest.raises(ValueError, match="seed~"):
        run_tables.parse_result_path("results/alpha/a0.7.json")


def test_claims_config_is_well_formed():
    """Every published claim of PAPER_SPEC sections 1-5 and the seed documents is a row (at least 29),
    ids are letters only and unique over claims and questions, and every measure names a family and
    variant the paper config runs (or a benchmark record a workflow rule writes, evaluated over its
    timing rounds), and a metric with a smallest effect of interest."""
    cfg_claims = yaml.safe_load((REPO / "config" / "claims.yaml").read_text())
    claims, questions = cfg_claims["claims"], cfg_claims["questions"]
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    families = set(cfg["families"]) | {"ashem", "progressive", "provenance"}
    ids = [c["id"] for c in claims + questions]
    assert len(claims) >= 29 and len(ids) == len(set(ids)) and all(i.isalpha() and i.isascii() for i in ids)
    metrics = {m for g in cfg_claims["smallest_effects"].values() for m in g["metrics"]}
    for c in claims + questions:
        assert c["direction"] in ("decrease", "increase", "none") and c["statement"] and c["source"]
        m = c["measure"]
        if m is None:
            assert c["not_measured"] and not c["protocols"], c["id"]
            continue
        if "bench" in m:  # results/bench_<name>.json of the rule bench_<name> (workflow/rules/bench.smk)
            assert f"rule bench_{m['bench']}:" in (REPO / "workflow/rules/bench.smk").read_text(), c["id"]
            assert m["metric"] in metrics and c["protocols"] == ["bench"], c["id"]
            continue
        assert m["family"] in families, c["id"]
        assert m["metric"].split("@")[0].removeprefix("sweep:") in metrics, c["id"]
        if m["family"] in cfg["families"]:
            assert m["variant"] in cfg["families"][m["family"]], c["id"]
        ref = m.get("reference") or {}
        if ref.get("family") in cfg["families"]:
            assert ref.get("variant", m["variant"]) in cfg["families"][ref["family"]], c["id"]
        assert set(c["protocols"]) <= {"original", "corrected"}
    assert {c["id"] for c in claims} >= {"LTwoCalibration", "AlphaEightBeatsSeven", "AlphaSevenOptimal",
                                          "AsymBeatsStandard", "OneLayerVsThree", "DeepSupAccuracy",
                                          "ExitOneBeatsTwo", "DSExitPpl", "AuxCompute", "ProgressiveDeepSupTime",
                                          "AshemAccuracy", "AshemSoftFreeze", "FastPathSpeedup"}
    assert {"DynamicAlphaLinear", "DynamicAlphaCosine"} <= {q["id"] for q in questions}  # never published


def test_word_level_payloads_phase1_flat_or_nested():
    head = {"split": "test", "ppl": 830.0, "acc": 0.15, "shallow_fraction": 0.7, "compute_fraction_layers": 0.65,
            "compute_fraction_flops": 1.1, "hard_ppl": 668.0}
    ashem = {"metrics": {"headline": head, "phase2": {"best_epoch": 7, "epochs_run": 10},
                         "phase1": {"report": {"ppl": 986.0, "acc": 0.16}, "hard_ppl": 2763.0,
                                    "validation": {"ppl": 1.0}}}}
    r = run_tables.run_row("results/ashem/corrected-ashem/seed~0.json", ashem)
    assert (r["phase1_ppl"], r["phase1_acc"], r["phase1_hard_ppl"]) == (986.0, 0.16, 2763.0)
    assert (r["hard_ppl"], r["compute_fraction_flops"], r["best_epoch"]) == (668.0, 1.1, 7)
    progressive = {"metrics": {"headline": {**head, "hard_ppl": None},
                               "phase1": {"validation": {"ppl": 1.0}, "test": {"ppl": 978.0, "acc": 0.16}}}}
    r = run_tables.run_row("results/progressive/original-standard/seed~1.json", progressive)
    assert r["phase1_ppl"] == 978.0 and math.isnan(r["hard_ppl"]) and math.isnan(r["final_ppl"])
    flat = {"metrics": {"headline": head, "phase1": {"ppl": 990.0, "acc": 0.1, "hard_ppl": 2000.0}}}
    assert run_tables.run_row("results/ashem/original-ashem/seed~0.json", flat)["phase1_ppl"] == 990.0


def test_budget_and_epoch_caps_by_hand():
    char = {"train": {"max_epochs": 12}}
    assert run_tables.budget({"epochs_run": 12, "stopped_early": False}, char)["cap_reached"] == 1.0
    assert run_tables.budget({"epochs_run": 12, "stopped_early": True}, char)["cap_reached"] == 0.0  # at the cap
    assert run_tables.budget({"epochs_run": 7, "stopped_early": False}, char)["cap_reached"] == 0.0
    assert math.isnan(run_tables.budget({}, char)["cap_reached"])  # not recorded: not counted either way
    word = {"ashem": {"phase1_max_epochs": 4, "phase2_max_epochs": 50}}
    capped_p1 = {"phase1": {"epochs_run": 4}, "phase2": {"epochs_run": 9, "stopped_early": True}}
    word["ashem"] |= {"phase1_patience": 1, "phase2_patience": 3}
    assert run_tables.budget(capped_p1, word) == {"max_epochs": 50.0, "stopped_early": 1.0, "cap_reached": 1.0,
                                                  "phase1_max_epochs": 4.0, "phase1_patience": 1.0}
    # a run in phases cites phase two's patience, never train.patience, which its stages ignore
    assert run_tables.design({**word, "train": {"patience": 5}}, phased=True)["patience"] == 3.0
    assert run_tables.design({**word, "train": {"patience": 5}})["patience"] == 5.0
    runs = pd.DataFrame({"family": ["alpha"] * 3 + ["sweep"], "protocol": ["corrected"] * 4,
                         "cap_reached": [1.0, 0.0, float("nan"), 1.0], "max_epochs": [50.0, 50.0, 50.0, 30.0]})
    caps = stats.epoch_caps(runs).set_index("family")
    assert caps.loc["alpha", ["n_runs", "n_known", "n_capped"]].tolist() == [3, 2, 1]
    assert caps.loc["alpha", "share_capped"] == 0.5 and caps.loc["sweep", "max_epochs"] == "30"


def test_late_gain_is_the_fall_over_the_last_ten_epochs_by_hand():
    """1 - ppl[last] / ppl[last - 10] of the validation perplexity; NaN with ten epochs or fewer, or for a
    run in phases; and the macro takes the largest over the family's capped runs only."""
    history = [{"validation": {"ppl": 20.0 - e}} for e in range(12)]  # 20, 19, ..., 9
    assert run_tables.late_gain({"history": history}) == pytest.approx(1 - 9.0 / 19.0)
    assert math.isnan(run_tables.late_gain({"history": history[:10]}))
    assert math.isnan(run_tables.late_gain({"history": history, "phase2": {}}))
    runs = pd.DataFrame({"family": ["sweep"] * 3, "protocol": ["corrected"] * 3, "cap_reached": [1.0, 1.0, 0.0],
                         "late_gain": [0.0031, 0.0052, 0.2], "level": ["char"] * 3})
    m = Macros()
    macros._caps(m, runs)
    assert m.tex["corrSweepCappedLateGain"] == "0.5" and m.tex["corrSweepCapN"] == "2"  # 0.2: not capped
    assert m.tex["lateGainEpochs"] == "10"
    m = Macros()
    macros._caps(m, runs.assign(cap_reached=0.0))
    assert m.tex["corrSweepCappedLateGain"] == "n/a"


def test_a_resumed_phase_has_no_wall_time():
    """A phase resumed from its checkpoint timed only the epochs after the resume: its time is NaN, so a
    timing claim never compares a part of a phase with a whole one."""
    payload = {"metrics": {"headline": {"split": "validation"}}, "timing": {"phase1_s": 447.671},
               "provenance": {"resumed_from_epoch": {"phase1": None, "phase2": 2}}}
    path = "results/progressive/original-standard/seed~2.json"
    assert run_tables.run_row(path, payload)["phase1_seconds"] == 447.671  # phase two's resume: no matter
    payload["provenance"]["resumed_from_epoch"]["phase1"] = 5
    assert math.isnan(run_tables.run_row(path, payload)["phase1_seconds"])
    assert run_tables.run_row(path, payload)["resumed"] == 1.0
    assert run_tables.run_row(path, {**payload, "provenance": {"resumed_from_epoch": 3}})["resumed"] == 1.0
    assert run_tables.run_row(path, {**payload, "provenance": {"resumed_from_epoch": None}})["resumed"] == 0.0


def test_run_row_records_exits_ece_and_code_paths():
    payload = json.loads(SMOKE.read_text())
    split = payload["metrics"]["headline"]["split"]
    payload["provenance"]["cpu"] = {"model": "Some CPU", "aten_capability": "AVX2",
                                    "code_path_variables": {"MKL_CBWR": "AVX2,STRICT"}}
    row = run_tables.run_row("results/alpha/corrected-a0.7/seed~0.json", payload)
    rep = payload["metrics"][split]
    assert row["exit2_ppl"] == rep["exits"]["2"]["ppl"] and row["exit1_ece"] == rep["exits"]["1"]["ece"]
    assert row["final_ece"] == rep["final"]["ece"]
    assert (row["cpu_model"], row["aten_capability"], row["mkl_cbwr"]) == ("Some CPU", "AVX2", "AVX2,STRICT")
    assert row["w1"] == payload["config"]["layer_weights"]["1"]
    assert row["kernels"] == payload["config"]["train"].get("kernels")  # None in a run that predates it
