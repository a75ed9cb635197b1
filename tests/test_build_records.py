"""The build's records: Snakemake's benchmark files -> results/timing.csv (lash.analysis.timing), and the
published ASHEM run at seed 42 against the original code's printed numbers (lash.analysis.ashem_provenance),
each against hand-computed values, with their macros."""

import math

import pandas as pd
import pytest

from lash.analysis import ashem_provenance as ap
from lash.analysis import timing
from lash.analysis.macros import Macros
from lash.errors import DataError

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(path, seconds, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{seconds}\n")
    return str(path)


def test_timing_table_by_hand(tmp_path):
    alpha = {"rule": "train", "family": "alpha", "protocol": "original"}
    jobs = {
        bench(tmp_path / "train/alpha/a.tsv", 60.0, 500.0): alpha,
        bench(tmp_path / "train/alpha/b.tsv", 120.0, 700.0): alpha,
        str(tmp_path / "train/alpha/missing.tsv"): alpha,
        bench(tmp_path / "ashem/p1.tsv", 600.0, 3000.0): {"rule": "ashem_phase1", "family": "ashem",
                                                          "protocol": "corrected"},
    }
    table = timing.timing_table(jobs, {"wall_seconds": 1800.0, "cores": 2})
    rows = table.set_index(["family", "rule"])
    row = rows.loc[("alpha", "train")]
    assert (row.n_jobs, row.n_missing, row.total_s, row.median_s, row.max_rss_mb) == (3, 1, 180.0, 90.0, 700.0)
    everything = rows.loc[("all", "all")]
    assert (everything.n_jobs, everything.n_missing, everything.total_s, everything.max_rss_mb) == (4, 1, 780.0, 3000.0)
    assert rows.loc[("all", "wall")].total_s == 1800.0
    m = Macros()
    timing.add_timing_macros(m, pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False))))
    assert m.tex["timingTotalHours"] == "0.2" and m.tex["timingJobs"] == "4" and m.tex["timingJobsMissing"] == "1"
    assert m.tex["timingPeakRssGb"] == "2.9" and m.tex["timingPeakRule"] == r"ashem\_phase1 (ashem)"
    assert m.tex["timingAlphaMinutes"] == "3.0" and m.tex["buildWallHours"] == "0.5"


def test_a_bad_benchmark_file_or_build_record_is_refused(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("seconds\n1\n")
    with pytest.raises(DataError, match="bad.tsv.*Fix:"):
        timing.timing_table({str(bad): {"rule": "train", "family": "alpha", "protocol": "original"}})
    record = tmp_path / "build.json"
    record.write_text('{"cores": 2}')
    with pytest.raises(DataError, match="build.json.*Fix:"):
        timing.read_build_record(record)
    assert timing.read_build_record(tmp_path / "none.json") == {}
    record.write_text('{"wall_seconds": 3600.5, "cores": 2, "complete": false}')  # as rebuild.sh collect writes it
    with pytest.raises(DataError, match="build.json: the record of an unfinished build.*Fix:"):
        timing.read_build_record(record)
    record.write_text('{"wall_seconds": 3600.5, "cores": 2, "complete": true, "sessions": []}')
    assert timing.read_build_record(record) == {"wall_seconds": 3600.5, "cores": 2}


def _stage(history=None, **metrics):
    return {"metrics": {**metrics, **({"history": history} if history is not None else {})}}


PRINTED = {"phase1_best_ppl": {"printed": 478.24, "decimals": 2, "label": "P1 best"},
           "phase1_best_epoch": {"printed": 3, "decimals": 0, "label": "P1 epoch"},
           "threshold": {"printed": 0.1570, "decimals": 4, "label": "threshold"},
           "phase2_epoch1_ppl": {"printed": 458.74, "decimals": 2, "label": "P2 e1 ppl"},
           "phase2_epoch1_acc": {"printed": 17.33, "decimals": 2, "label": "P2 e1 acc"},
           "phase2_epoch2_hard_ppl": {"printed": 674.44, "decimals": 2, "label": "P2 e2 hard"}}


def test_the_seed42_run_against_the_printed_numbers():
    phase1 = _stage([{"epoch": e, "validation": {"ppl": p}} for e, p in ((1, 600.0), (2, 500.0), (3, 478.2449))],
                    best_epoch=3)
    mine = _stage(threshold=0.1569981873, phase1_hard_ppl=1168.13)
    phase2 = _stage([{"epoch": 1, "validation": {"ppl": 458.7462, "acc": 0.173349}, "hard_ppl": 861.55},
                     {"epoch": 2, "validation": {"ppl": 421.08, "acc": 0.1735}, "hard_ppl": 674.4449}])
    table = ap.comparison(PRINTED, ap.our_values(phase1, mine, phase2))
    rows = table.set_index("key")
    assert rows.loc["phase1_best_ppl", "ours_rounded"] == 478.24 and rows.loc["phase1_best_ppl", "match"]
    assert rows.loc["threshold", "match"] and rows.loc["phase1_best_epoch", "match"]
    assert rows.loc["phase2_epoch1_acc", "ours"] == pytest.approx(17.3349) and rows.loc["phase2_epoch1_acc", "match"]
    assert not rows.loc["phase2_epoch1_ppl", "match"]  # 458.7462 prints as 458.75, not 458.74
    assert rows.loc["phase2_epoch2_hard_ppl", "match"]
    m = Macros()
    settings = pd.DataFrame([{"key": "setting:kernels", "label": "original"},
                             {"key": "setting:aten_capability", "label": "AVX512"}])
    ap.add_ashem_provenance_macros(m, pd.concat([table, settings], ignore_index=True))
    assert (m.tex["ashemSeedFortyTwoMatches"], m.tex["ashemSeedFortyTwoCompared"]) == ("5", "6")
    assert m.tex["ashemSeedFortyTwoThresholdOurs"] == "0.1570" and m.tex["ashemSeedFortyTwoKernels"] == "original"
    assert m.tex["ashemSeedFortyTwoPhaseOneBestEpochPrinted"] == "3"


def test_a_missing_stage_number_is_nan_and_an_unknown_key_is_refused():
    ours = ap.our_values(_stage([], best_epoch=None), _stage(), _stage([]))
    assert math.isnan(ours["phase1_best_ppl"]) and math.isnan(ours["phase2_epoch2_acc"])
    table = ap.comparison({"threshold": {"printed": 0.157, "decimals": 4, "label": "t"}}, ours)
    assert not table.match.iloc[0] and math.isnan(table.ours_rounded.iloc[0])
    with pytest.raises(DataError, match="no_such.*Fix:"):
        ap.comparison({"no_such": {"printed": 1, "decimals": 0, "label": "x"}}, ours)


def test_every_training_job_behind_the_runs_has_its_benchmark_file():
    from lash.analysis.expected import ashem_seed42_files, benchmark_jobs

    config = {"ashem": {"baselines": {"baseline_deep": "x"}, "provenance_seed": 42}}
    patterns = {"train": "b/train/{family}/{protocol}-{variant}/seed~{seed}.tsv",
                "train_provenance": "b/provenance/{corpus}-{preset}/seed~{seed}.tsv",
                "ashem_phase1": "b/ashem/{protocol}/seed~{seed}/phase1.tsv",
                "ashem_phase2": "b/ashem/{protocol}/seed~{seed}/phase2-{variant}.tsv",
                "ashem_baseline": "b/ashem/{protocol}/seed~{seed}/{baseline}.tsv",
                "progressive": "b/progressive/{protocol}-{variant}/seed~{seed}.tsv"}
    runs = ["results/alpha/corrected-a0.7/seed~0.json", "results/provenance/fallback-standard/seed~42.json",
            "results/ashem/corrected-ashem/seed~1.json", "results/ashem/corrected-frozen_head/seed~1.json",
            "results/ashem/corrected-baseline_deep/seed~1.json", "results/progressive/original-standard/seed~0.json"]
    jobs = benchmark_jobs(runs, config, patterns)
    assert jobs == {
        "b/train/alpha/corrected-a0.7/seed~0.tsv": {"rule": "train", "family": "alpha", "protocol": "corrected"},
        "b/provenance/fallback-standard/seed~42.tsv": {"rule": "train_provenance", "family": "provenance",
                                                       "protocol": "fallback"},
        "b/ashem/corrected/seed~1/phase1.tsv": {"rule": "ashem_phase1", "family": "ashem", "protocol": "corrected"},
        "b/ashem/corrected/seed~1/phase2-ashem.tsv": {"rule": "ashem_phase2", "family": "ashem",
                                                      "protocol": "corrected"},
        "b/ashem/corrected/seed~1/phase2-frozen_head.tsv": {"rule": "ashem_phase2", "family": "ashem",
                                                            "protocol": "corrected"},
        "b/ashem/corrected/seed~1/baseline_deep.tsv": {"rule": "ashem_baseline", "family": "ashem",
                                                       "protocol": "corrected"},
        "b/progressive/original-standard/seed~0.tsv": {"rule": "progressive", "family": "progressive",
                                                       "protocol": "original"},
    }  # phase 1 once per protocol and seed, although three runs stand on it
    files = ashem_seed42_files(config, lambda path: f"out/{path}")
    assert files == {"final": "out/results/ashem/original-ashem/seed~42.json",
                     "phase1": "out/results/ashem_stages/original/seed~42/phase1.json",
                     "mine": "out/results/ashem_stages/original/seed~42/mine.json",
                     "phase2": "out/results/ashem_stages/original/seed~42/phase2-ashem.json"}
    assert ashem_seed42_files({"ashem": {}}, str) == {}
