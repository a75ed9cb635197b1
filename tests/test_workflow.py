"""The Snakemake workflow: the paper's plan covers every family; one smoke job runs for real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]



def snakemake(*args, cwd=REPO):
    # the rules call the `lash` console script of this interpreter's environment
    env = with_this_interpreter()
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)


def test_paper_plan_covers_every_family_and_seed(tmp_path):
    """The whole design (issue 12): every variant, 5 seeds in both protocols, the word-level families
    at seeds 0-4, the ASHEM provenance run at seed 42, and the word-level order by priority."""
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert "only" not in cfg and cfg["word_seeds"] == [0, 1, 2, 3, 4]
    proc = snakemake("-n", "--cores", "4", "results", "--config", f"output_root={tmp_path}",
                     "data_dir=../shared/data/wikitext-2", "-p")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for family, variants in cfg["families"].items():
        for variant in variants:
            for protocol in cfg["protocols"]:
                for seed in cfg["seeds"]:
                    assert f"results/{family}/{protocol}-{variant}/seed~{seed}.json" in text
    assert "results/ds_exit/corrected-t0.7/seed~4.json" in text
    for corpus in cfg["provenance"]["corpora"]:
        assert f"results/provenance/{corpus}-asymmetric/seed~{cfg['published_seed']}.json" in text
    word = [f"ashem/{p}-{v}" for p in ("original", "corrected") for v in ("ashem", "frozen_head", "soft_freeze")]
    word += ["ashem/corrected-baseline_deep", "ashem/corrected-baseline_shallow_deep",
             "progressive/original-standard", "progressive/original-deep_supervision"]
    for run in word:
        for seed in cfg["word_seeds"]:
            assert f"results/{run}/seed~{seed}.json" in text, (run, seed)
    assert "results/ashem/original-ashem/seed~42.json" in text
    assert "results/ashem/corrected-ashem/seed~42.json" not in text
    # ASHEM, frozen head and baselines first, then progressive, then soft freezing
    blocks = {}
    for block in text.split("\n\n"):
        rule = next((ln.split()[1].rstrip(":") for ln in block.splitlines()
                     if ln.startswith(("rule ", "localrule "))), None)
        prio = next((int(ln.split()[1]) for ln in block.splitlines() if ln.strip().startswith("priority:")), 0)
        variant = "soft_freeze" if "soft_freeze" in block else "other"
        blocks.setdefault((rule, variant), set()).add(prio)
    first = (blocks[("ashem_evaluate", "other")] | blocks[("ashem_baseline", "other")]
             | blocks[("ashem_phase1", "other")])
    assert min(first) > max(blocks[("progressive", "other")]) > max(blocks[("ashem_phase2", "soft_freeze")])
    assert min(blocks[("ashem_evaluate", "soft_freeze")]) > max(blocks[("train", "other")])


def test_extended_config_plans_every_variant_and_the_word_level_families(tmp_path):
    proc = snakemake("-n", "--cores", "4", "results", "--configfile", "config/extended.yaml",
                     "--config", f"output_root={tmp_path}", "data_dir=../shared/data/wikitext-2", "-p")
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for family, variants in cfg["families"].items():
        for variant in variants:
            assert f"results/{family}/corrected-{variant}/seed~4.json" in proc.stdout
    for stage in ("ashem phase1", "ashem mine", "ashem phase2", "ashem evaluate", "ashem baseline",
                  "lash progressive"):
        assert stage in proc.stdout, stage


def test_slurm_profile_plans_the_whole_paper_with_gpu_resources(tmp_path):
    """The cluster path: the same jobs as a local run, and gpus_per_run moves training to CUDA."""
    common = ["-n", "--config", f"output_root={tmp_path}", "data_dir=../shared/data/wikitext-2"]
    local = snakemake("--cores", "4", *common)
    slurm = snakemake("--executor", "slurm", "--workflow-profile", "profiles/slurm", *common,
                      "gpus_per_run=1", "-p")
    assert local.returncode == 0 and slurm.returncode == 0, slurm.stderr[-3000:]

    def total(proc):
        return [ln.split()[-1] for ln in proc.stdout.splitlines() if ln.startswith("total")][0]

    assert total(slurm) == total(local) and int(total(local)) > 100
    assert "--set 'train.device=\"cuda\"'" in slurm.stdout
    for rule in ("train", "train_provenance", "ashem_phase1", "ashem_evaluate", "ashem_baseline",
                 "progressive", "paper"):
        assert f"rule {rule}:" in slurm.stdout or f"localrule {rule}:" in slurm.stdout, rule


def test_kernels_setting_reaches_every_training_command_and_only_when_not_default(tmp_path):
    """`--config kernels=reference` times the DAG against the plain-PyTorch kernels; the default
    leaves the command lines (and so Snakemake's params) of the committed runs unchanged."""
    common = ["-n", "-p", "--cores", "2", "--configfile", "config/smoke.yaml", "--config",
              f"output_root={tmp_path}"]
    default, reference = snakemake(*common), snakemake(*common, "kernels=reference")
    assert default.returncode == 0 and reference.returncode == 0, reference.stderr[-3000:]
    commands = [ln for ln in reference.stdout.splitlines() if ln.startswith("Shell command: lash ")
                and not ln.startswith("Shell command: lash bench ")]  # training, not the benchmark's own kernels
    assert len(commands) > 10 and any(" train " in c for c in commands)
    assert any("ashem phase1" in c for c in commands) and any("ashem baseline" in c for c in commands)
    assert all("train.kernels=\"reference\"" in c for c in commands)
    # by default only the published ASHEM run (seed 42) sets its kernels: ashem.provenance_overrides
    default_commands = [ln for ln in default.stdout.splitlines() if ln.startswith("Shell command: lash ")]
    published = [c for c in default_commands if "ashem" in c and " --seed 42 " in c]
    assert len(published) == 4 and [c for c in default_commands if "train.kernels" in c] == published


def test_invalid_workflow_config_is_refused(tmp_path):
    proc = snakemake("-n", "--cores", "1", "--config", "seeds=[]", f"output_root={tmp_path}")
    assert proc.returncode != 0
    assert "seeds" in proc.stdout + proc.stderr


def test_lint_is_clean():
    """Every snakemake lint but the waived one (tools/lint-workflow.py: one locked environment for all rules)."""
    proc = subprocess.run([sys.executable, "tools/lint-workflow.py", "--config", "data_dir=../shared/data/wikitext-2"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0 and "0 finding(s)" in proc.stdout, proc.stdout + proc.stderr


def test_one_smoke_job_runs_has_nothing_to_do_and_a_forced_rerun_is_bit_identical(tmp_path):
    target = f"{tmp_path}/results/alpha/corrected-a0.7/seed~0.json"
    corpus = tmp_path / "corpus"  # the data directory reaches the job through LASH_DATA_DIR
    corpus.mkdir()
    args = ["--cores", "1", "--configfile", "config/smoke.yaml", "--config", f"output_root={tmp_path}"]
    proc = snakemake(target, *args, f"data_dir={corpus}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads(Path(target).read_text())
    assert run["config"]["layer_weights"] == {"1": 0.7, "2": 0.0, "3": 0.3}
    assert run["config"]["seed"] == 0 and run["config"]["data"]["corpus"] == "synthetic"
    assert run["config"]["data"]["data_dir"] == str(corpus.resolve())
    assert run["provenance"]["threads"] == 1
    # Another spelling of the same directory, or none: nothing to do (no params, no command line changed)
    for spelling in ([f"data_dir={corpus}/"], [f"data_dir={os.path.relpath(corpus, REPO)}"], []):
        again = snakemake(target, "-n", *args, *spelling)
        assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, spelling
    # The checkpoint lived outside the declared outputs and was removed after the finished run.
    assert not (tmp_path / "checkpoints/train/alpha/corrected-a0.7/seed~0/train.pt").exists()
    first_write = Path(target).stat().st_mtime_ns
    forced = snakemake(target, "--forcerun", "train", *args)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert Path(target).stat().st_mtime_ns != first_write  # the job really ran again
    rerun = json.loads(Path(target).read_text())
    assert rerun["metrics"] == run["metrics"]  # bit for bit: == on every float of every epoch
