"""tools/check_rebuild.py: the rebuild's acceptance checks on hand-made results."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lash.analysis.runs import char_level_ablations, made_clean_at, parse_amended, rebuild_commit
from lash.errors import DataError

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_rebuild", REPO / "tools" / "check_rebuild.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

RUNS = pd.DataFrame([  # family, protocol, level, cap_reached
    ("alpha", "corrected", "char", 1.0), ("alpha", "corrected", "char", 0.0), ("lr", "corrected", "char", 0.0),
    ("lr", "corrected", "char", None),  # not recorded: not counted as capped
    ("alpha", "original", "char", 1.0), ("provenance", "corrected", "char", 1.0),  # neither is counted
    ("ashem", "corrected", "word", 1.0)], columns=["family", "protocol", "level", "cap_reached"])
SEED42 = pd.DataFrame([("phase1_best_ppl", 478.24, 478.24, True), ("threshold", 0.157, 0.157, True),
                       ("phase2_epoch1_ppl", 458.74, 458.75, False), ("setting:kernels", None, None, None)],
                      columns=["key", "printed", "ours_rounded", "match"])
TIMING = pd.DataFrame([("ashem", "ashem_phase2", 1500.0), ("ashem", "all", 5000.0),
                       ("progressive", "progressive", 4100.0), ("alpha", "train", 9000.0)],
                      columns=["family", "rule", "max_rss_mb"])


def write_run(path: Path, sha: str, dirty) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"provenance": {"git_sha": sha, "git_dirty": dirty}}))
    return path


def test_capped_counts_corrected_character_level_runs_only():
    assert check.capped(RUNS) == (1, 4, ["alpha: 1 of 2"])


def test_seed42_mismatches_name_each_printed_number_missed():
    assert check.seed42_mismatches(SEED42) == ["phase2_epoch1_ppl: printed 458.74, ours 458.75"]


def test_word_level_peaks_over_4_gib_per_rule():
    # the family's "all" row repeats its rules' peaks; character-level rules are not word-level
    assert check.word_level_peaks(TIMING) == ["progressive/progressive: 4100 MB"]


def test_foreign_runs_names_dirty_and_other_commits(tmp_path):
    ok = write_run(tmp_path / "a" / "seed~0.json", "0106382abc", False)
    dirty = write_run(tmp_path / "b" / "seed~0.json", "0106382abc", True)
    other = write_run(tmp_path / "c" / "seed~0.json", "fedcba9", False)
    shas, bad = check.foreign_runs([ok, dirty, other], "0106382")
    assert shas == {"0106382abc", "fedcba9"}
    assert bad == [f"{dirty}: 0106382 dirty", f"{other}: fedcba9"]


def test_an_amended_run_directory_must_come_from_its_amending_commit(tmp_path):
    """A run directory rebuilt alone at a later commit: its runs must name that commit, the others the
    build commit."""
    amended = parse_amended(["sweep/corrected-exit2=7d14654"])
    swept = write_run(tmp_path / "sweep" / "corrected-exit2" / "seed~0.json", "7d14654ff", False)
    stale = write_run(tmp_path / "sweep" / "corrected-exit2" / "seed~1.json", "0106382abc", False)
    built = write_run(tmp_path / "sweep" / "original-exit2" / "seed~0.json", "0106382abc", False)
    astray = write_run(tmp_path / "alpha" / "corrected-a0.7" / "seed~0.json", "7d14654ff", False)
    shas, bad = check.foreign_runs([swept, stale, built, astray], "0106382", amended)
    assert shas == {"7d14654ff", "0106382abc"} and bad == [f"{stale}: 0106382", f"{astray}: 7d14654"]
    assert rebuild_commit("results/sweep/corrected-exit2/seed~3.json", "0106382", amended) == "7d14654"
    assert rebuild_commit("results/sweep/original-exit2/seed~3.json", "0106382", amended) == "0106382"


@pytest.mark.parametrize("spec", ["sweep/corrected-exit2", "sweep=7d14654", "sweep/corrected-exit2="])
def test_a_malformed_amended_directory_is_refused(spec):
    with pytest.raises(DataError, match="expected <family>/<protocol>-<variant>=<commit>.*Fix:"):
        parse_amended([spec])


def test_training_changes_lists_training_sources_that_differ(tmp_path):
    """Between the build commit and an amending one only config/ may change: a changed lash/train.py
    is listed, a changed config or analysis module is not."""
    repo = tmp_path / "repo"
    for path in ("lash/__init__.py", "lash/run.py", "lash/train.py", "lash/ashem.py", "lash/analysis/__init__.py",
                 "workflow/rules/train.smk", "workflow/rules/ashem.smk", "config/config.yaml"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("import lash.train\n" if path == "lash/run.py" else "x = 1\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "build"], check=True)
    (repo / "config" / "config.yaml").write_text("x = 2\n")
    (repo / "lash" / "analysis" / "__init__.py").write_text("x = 2\n")
    subprocess.run([*git, "commit", "-qam", "a setting"], check=True)
    assert check.training_changes("HEAD~1", "HEAD", repo) == []
    (repo / "lash" / "train.py").write_text("x = 2\n")
    subprocess.run([*git, "commit", "-qam", "training code"], check=True)
    assert check.training_changes("HEAD~2", "HEAD", repo) == ["lash/train.py"]


def test_main_passes_a_clean_build_and_fails_otherwise(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    RUNS[RUNS.cap_reached != 1.0].to_csv(results / "runs.csv", index=False)  # nothing capped
    SEED42[SEED42.key != "phase2_epoch1_ppl"].to_csv(results / "ashem_provenance.csv", index=False)
    TIMING[TIMING.family != "progressive"].to_csv(results / "timing.csv", index=False)
    write_run(results / "alpha" / "corrected-a0.7" / "seed~0.json", "0106382abc", False)
    assert check.main(["--root", str(tmp_path), "--commit", "0106382"]) == 0
    assert "FAIL" not in capsys.readouterr().out
    TIMING.to_csv(results / "timing.csv", index=False)  # a word-level rule above 4 GiB
    assert check.main(["--root", str(tmp_path), "--commit", "0106382"]) == 1
    assert "FAIL word-level rules above 4 GiB resident: progressive/progressive: 4100 MB" in capsys.readouterr().out
    (results / "runs.csv").unlink()
    assert check.main(["--root", str(tmp_path)]) == 2


def test_made_clean_at_needs_a_clean_tree_and_the_commit_when_given():
    """The rule tools/rebuild.sh copies runs by and check_rebuild accepts them by."""
    clean = {"git_sha": "0106382aa", "git_dirty": False}
    assert made_clean_at(clean, "0106382") and made_clean_at(clean)
    assert not made_clean_at(clean, "1ade770")
    assert not made_clean_at({**clean, "git_dirty": True}) and not made_clean_at({**clean, "git_dirty": None})
    assert not made_clean_at({"git_dirty": False}, "0106382")  # no commit recorded


def test_char_level_ablations_leave_out_word_level_and_provenance_runs():
    assert char_level_ablations(RUNS)[["family", "protocol"]].values.tolist() == [
        ["alpha", "corrected"], ["alpha", "corrected"], ["lr", "corrected"], ["lr", "corrected"],
        ["alpha", "original"]]
    assert char_level_ablations(RUNS.drop(columns="level")).empty
