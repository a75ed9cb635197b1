"""What the workflow's config becomes on the jobs' command lines: lash's own merge (whole mappings
stay whole), the data directory outside the command lines, seeds from the command line."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
DATA = "../shared/data/wikitext-2"
SOFT = {1: 0.1, 2: 0.2, 3: 0.5, 4: 1.0}


def snakemake(*args, env=None):
    base = with_this_interpreter({k: v for k, v in os.environ.items() if k not in ("LASH_DATA_DIR", "LASH_OFFLINE")})
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**base, **(env or {})})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def commands(stdout):
    return [ln.removeprefix("Shell command: ") for ln in stdout.splitlines() if ln.startswith("Shell command: ")]


def lash_config_args(command: str) -> list[str]:
    """The config part of a job's lash command line: --preset, --set and --smoke."""
    words, keep = shlex.split(command.split(" > ")[0]), []
    for i, word in enumerate(words):
        if word in ("--preset", "--set"):
            keep += [word, words[i + 1]]
        elif word == "--smoke":
            keep.append(word)
    return keep


def test_a_soft_lr_scales_variant_reaches_lash_whole(tmp_path):
    """Issue 14 (1): the variant's whole mapping arrives, not only its last key ({4: 1.0})."""
    variant = tmp_path / "soft.yaml"
    variant.write_text(yaml.safe_dump({"ashem": {"variants": {"soft_freeze": {
        "ashem": {"freeze": "soft", "soft_lr_scales": SOFT}}}}}))
    target = f"{tmp_path}/results/ashem_stages/corrected/seed~0/phase2-soft_freeze.json"
    out = snakemake("-n", "-p", "--cores", "2", target, "--configfile", "config/smoke.yaml", str(variant),
                    "--config", f"output_root={tmp_path}")
    phase2 = [c for c in commands(out) if c.startswith("lash ashem phase2")]
    assert len(phase2) == 1, out[-3000:]
    args = lash_config_args(phase2[0])
    proc = subprocess.run([sys.executable, "-m", "lash.cli", "config", *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    assert resolved["ashem"]["freeze"] == "soft"
    assert resolved["ashem"]["soft_lr_scales"] == SOFT


def _paper_plan(tmp_path, *config, env=None):
    targets = [f"{tmp_path}/results/{path}" for path in (
        "alpha/corrected-a0.7/seed~0.json", "provenance/wikitext2-asymmetric/seed~42.json",
        "ashem/corrected-soft_freeze/seed~1.json", "progressive/original-deep_supervision/seed~0.json")]
    return snakemake("-n", "-p", "--cores", "2", *targets, "--config", f"output_root={tmp_path}", *config,
                     env=env)


def test_the_spelling_of_the_data_directory_changes_no_job(tmp_path):
    """Issue 15 (9): relative, absolute, trailing slash or LASH_DATA_DIR: the same jobs, the same
    command lines (so Snakemake's params never differ), and the corpus path on none of them."""
    absolute = str((REPO / DATA).resolve())
    plans = [
        _paper_plan(tmp_path, f"data_dir={DATA}"),
        _paper_plan(tmp_path, f"data_dir={absolute}"),
        _paper_plan(tmp_path, f"data_dir={DATA}/"),
        _paper_plan(tmp_path, env={"LASH_DATA_DIR": DATA}),
    ]
    # job ids and the order of the listing vary from run to run: compare the sets
    stats = [sorted({ln for ln in plan.splitlines() if ln.startswith(("ashem_", "progressive ", "train"))})
             for plan in plans]
    assert len(stats[0]) == 7 and all(s == stats[0] for s in stats[1:]), stats
    cmds = sorted(commands(plans[0]))
    assert all(sorted(commands(plan)) == cmds for plan in plans[1:])
    assert len(cmds) == 7 and any(c.startswith("lash ashem phase2") for c in cmds)
    assert not [c for c in cmds if "wikitext-2" in c or "data_dir" in c]


def test_seeds_from_the_command_line_are_integers(tmp_path):
    """Issue 15 (7): Snakemake passes `seeds=[0,1]` as strings; the workflow takes them as seeds."""
    out = snakemake("-n", "--cores", "2", "results", "--configfile", "config/smoke.yaml", "--config",
                    f"output_root={tmp_path}", "seeds=[0,1]", "word_seeds=[3]")
    assert f"{tmp_path}/results/alpha/corrected-a0.7/seed~1.json" in out
    assert f"{tmp_path}/results/ashem/corrected-ashem/seed~3.json" in out
    assert "seed~2.json" not in out and f"{tmp_path}/results/ashem/corrected-ashem/seed~0.json" not in out


def test_the_published_ashem_run_has_its_own_settings_and_nothing_else_does(tmp_path):
    """The seed-42 run (ashem.provenance_seed) gets ashem.provenance_overrides (the original's arithmetic)
    and ashem.provenance_environment (the original machine's ATen code path) at every stage of its chain;
    the seeds' runs of the same rules get neither. Every word-level job runs on ashem.threads (1)."""
    stages = ("phase1", "mine", "phase2", "evaluate")
    targets = [f"{tmp_path}/results/ashem/original-ashem/seed~{seed}.json" for seed in (42, 0)]
    cmds = commands(snakemake("-n", "-p", "--cores", "2", *targets, "--config", f"output_root={tmp_path}",
                              f"data_dir={DATA}"))
    published = [c for c in cmds if " --seed 42 " in c]
    seeds = [c for c in cmds if " --seed 0 " in c]

    def stage(command: str) -> str:
        words = command.split()
        return words[words.index("ashem") + 1]

    assert sorted(map(stage, published)) == sorted(map(stage, seeds)) == sorted(stages)
    for command in published:
        assert command.startswith("ATEN_CPU_CAPABILITY=avx512 lash ashem ")
        assert "--set 'train.kernels=\"original\"'" in command and "--set train.threads=1 " in command
    for command in seeds:
        assert command.startswith("lash ashem ")
        assert "train.kernels" not in command and "--set train.threads=1 " in command
