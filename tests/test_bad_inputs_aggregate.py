"""Bad run files under results/: the workflow's check_runs rule refuses each one, naming the file, the
problem and a fix, before the aggregate starts, so the committed statistics stay as they were. The
contract is tests/bad_inputs.py's; the cases run the real Snakefile (rules check_runs and aggregate
only) on a fake smoke-config results tree. Below the table, lash.analysis.checks itself on the cases
that Snakemake never lets reach it (a missing seed is trained, not refused) and on the finer ones.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from bad_inputs import Ctx, Setup, assert_refused, clean_environment
from fake_results import TEMPLATE, expected_settings, fake_bench, fake_run, make_fake_results, run_path

from lash.analysis import checks
from lash.analysis.runs import parse_result_path, parse_run
from lash.config import flatten_overrides, parse_set
from lash.errors import DataError
from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
SMOKE = ["--configfile", "config/smoke.yaml"]
# The statistics again, with no training rule allowed (the fake runs are taken as they are).
STATISTICS_ONLY = ["--allowed-rules", "check_runs", "aggregate", "--cores", "1", "smoke_out/results/summary.csv"]
FIXTURES = (clean_environment,)  # autouse: imported so that pytest applies it here
STATISTICS = ["runs.csv", "summary.csv", "summary.json", "paired.csv", "claims.csv", "claims.json", "sweep.csv",
              "reliability.csv", "epoch_caps.csv"]


# --------------------------------------------------------------------------- a fake smoke build

def _snakemake_args(tree: Path, *args: str) -> list[str]:
    return ["-s", str(REPO / "Snakefile"), "-d", str(tree), *SMOKE, *args]


def _snakemake(tree: Path, *args: str) -> str:
    env = with_this_interpreter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", *_snakemake_args(tree, *args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _lash_run(command: str) -> tuple[str, dict]:
    """(--out, the results JSON lash would write) of one `lash ...` command line of the plan: the
    smoke-run template with the command's preset, --set values and seed in its config."""
    words = shlex.split(command.split(" > ")[0])
    words = words[words.index("lash"):]  # after any environment settings (VAR=value lash ...)
    run = copy.deepcopy(TEMPLATE)
    for flag, value in pairwise(words):
        if flag == "--preset":
            run["config"]["preset"] = value
        elif flag == "--set":
            for key, item in flatten_overrides(parse_set(value)):
                node, *path, last = [run["config"], *key.split(".")]
                for part in path:  # a section the template leaves null (alpha_schedule) becomes one
                    node[part] = node[part] if isinstance(node.get(part), dict) else {}
                    node = node[part]
                node[last] = json.loads(json.dumps(item))
        elif flag == "--seed":
            run["config"]["seed"] = run["provenance"]["seed"] = int(value)
    return words[words.index("--out") + 1], run


@pytest.fixture(scope="module")
def smoke_tree(tmp_path_factory) -> Path:
    """A workdir for the real Snakefile with the smoke config: the repository's code and configs linked
    in, a results JSON for every run the plan makes (as lash would record its command line), and the
    statistics of one good check_runs + aggregate build (Snakemake's metadata included). The fast-path
    benchmark record the aggregate also reads is a fake too (no rule but check_runs and aggregate runs)."""
    tree = tmp_path_factory.mktemp("smoke") / "tree"
    tree.mkdir()
    for name in ("config", "lash", "paper", "workflow"):
        (tree / name).symlink_to(REPO / name)
    plan = _snakemake(tree, "-n", "-p", "--cores", "1", "results")
    commands = [line.removeprefix("Shell command:") for line in plan.splitlines()
                if line.startswith("Shell command:") and " lash " in line and "--out smoke_out/results/" in line
                and "/results/ashem_stages/" not in line]
    assert len(commands) > 30
    for command in commands:
        out, run = _lash_run(command)
        (tree / out).parent.mkdir(parents=True, exist_ok=True)
        (tree / out).write_text(json.dumps(run, indent=2))
    fake_bench(tree / "smoke_out/results/bench_fast_path.json")
    _snakemake(tree, *STATISTICS_ONLY)
    assert all((tree / "smoke_out/results" / name).is_file() for name in STATISTICS)
    return tree


def _case(ctx: Ctx, plant, names: list[str]) -> Setup:
    """A fresh copy of the built tree, `plant(tree)` applied, then the statistics asked for again."""
    tree = ctx.tmp / "tree"
    shutil.copytree(ctx._request.getfixturevalue("smoke_tree"), tree, symlinks=True)
    plant(tree)
    results = tree / "smoke_out" / "results"
    return Setup(_snakemake_args(tree, *STATISTICS_ONLY), None, names, runner="snakemake",
                 unchanged=[results / name for name in STATISTICS])


A03 = "smoke_out/results/alpha/original-a0.3/seed~0.json"
A07 = "smoke_out/results/alpha/original-a0.7/seed~0.json"


def _mismatched_variant(ctx):
    def plant(tree):  # a run of alpha 0.3 copied to the alpha 0.7 path
        (tree / A07).write_bytes((tree / A03).read_bytes())
    return _case(ctx, plant, [A07, "`config.layer_weights`", '"1": 0.3', '"1": 0.7'])


def _truncated(ctx):
    def plant(tree):
        text = (tree / A07).read_text()
        (tree / A07).write_text(text[: len(text) // 2])
    return _case(ctx, plant, [A07, "not valid JSON", "truncated"])


def _nan_headline(ctx):
    def plant(tree):  # what a diverged run wrote before results became strict JSON
        run = json.loads((tree / A07).read_text())
        run["metrics"]["headline"]["ppl"] = float("nan")
        (tree / A07).write_text(json.dumps(run, indent=2))
    return _case(ctx, plant, [A07, "NaN", "line "])


def _extra_seed(ctx):
    extra = A07.replace("seed~0", "seed~2")

    def plant(tree):  # not an input of any rule: the check reruns because the strays are its params
        run = json.loads((tree / A07).read_text())
        run["config"]["seed"] = run["provenance"]["seed"] = 2
        (tree / extra).write_text(json.dumps(run, indent=2))
    return _case(ctx, plant, [extra, "extra seed 2", "alpha/original-a0.7", "0 1"])


def _seed_of_another_file(ctx):
    def plant(tree):  # seed 1's run copied over seed 0's
        (tree / A07).write_bytes((tree / A07.replace("seed~0", "seed~1")).read_bytes())
    return _case(ctx, plant, [A07, "`config.seed` is 1", "seed 0"])


def _claim_without_a_smallest_effect(ctx):
    def plant(tree):  # claims.yaml edited: a metric group without its justification
        (tree / "config").unlink()
        shutil.copytree(REPO / "config", tree / "config")
        path = tree / "config" / "claims.yaml"
        text = path.read_text()
        why = text.index("    why:", text.index("  perplexity:"))
        path.write_text(text[:why] + text[text.index("\n", why) + 1:])
    return _case(ctx, plant, ["smallest_effects.perplexity.why", "is missing"])


CASES = [
    pytest.param(_mismatched_variant, id="alpha-0.3-run-at-the-alpha-0.7-path"),
    pytest.param(_claim_without_a_smallest_effect, id="claims-yaml-smallest-effect-without-why"),
    pytest.param(_truncated, id="truncated-run-json"),
    pytest.param(_nan_headline, id="nan-headline"),
    pytest.param(_extra_seed, id="extra-seed"),
    pytest.param(_seed_of_another_file, id="seed-of-another-file"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_run_file_is_refused_and_the_statistics_stay(make, tmp_path, request, capsys):
    assert_refused(make(Ctx(tmp_path, request)), tmp_path, capsys)


# --------------------------------------------------------------------------- the checks themselves

@pytest.fixture
def tree(tmp_path):
    paths = [str(p) for p in make_fake_results(tmp_path, methods={"alpha/a0.7", "alpha/a0.5"}, ashem=False)]
    return tmp_path, paths, expected_settings(paths)


def _refused(paths, expected, *names, not_counted=None):
    with pytest.raises(DataError) as info:
        checks.check_runs(paths, expected, not_counted)
    message = str(info.value)
    for name in names:
        assert name in message, message
    assert "Fix:" in message, message
    return message


def test_good_runs_give_a_manifest_of_exactly_those_files(tree):
    root, paths, expected = tree
    manifest = checks.check_runs(paths, expected)
    assert [r["path"] for r in manifest["runs"]] == sorted(paths) and manifest["not_counted"] == []
    assert {r["seed"] for r in manifest["runs"] if r["family"] == "alpha"} == {0, 1, 2}
    payloads = checks.read_checked(manifest)
    assert set(payloads) == set(paths)
    Path(paths[0]).write_text(Path(paths[0]).read_text() + " ")  # changed after the check
    with pytest.raises(DataError, match="changed since it was checked"):
        checks.read_checked(manifest)


def test_a_benchmark_record_beside_the_runs_is_no_run(tree):
    """results/bench_fast_path.json (a claim's timing rounds) is neither a stray seed nor a run: the
    check lists exactly the runs, and refuses the record if it is ever given as one."""
    root, paths, expected = tree
    bench = str(fake_bench(Path(root) / "results" / "bench_fast_path.json"))
    assert checks.strays(expected) == []
    assert [r["path"] for r in checks.check_runs(paths, expected)["runs"]] == sorted(paths)
    _refused([*paths, bench], expected, bench, "not a run of the workflow config")


def test_a_missing_seed_is_an_error_not_a_smaller_n(tree):
    root, paths, expected = tree
    gone = str(run_path(root, "alpha", "corrected", "a0.7", 1))
    os.remove(gone)
    _refused(paths, expected, gone, "missing seed 1", "expects the seeds 0 1 2")
    _refused([p for p in paths if p != gone], expected, gone, "missing seed 1")


def test_a_run_the_workflow_does_not_make_is_refused(tree):
    root, paths, expected = tree
    del expected[paths[0]]
    _refused(paths, expected, paths[0], "not a run of the workflow config")


def test_every_problem_of_a_file_and_every_file_are_named(tree):
    root, paths, expected = tree
    bad = json.loads(Path(paths[0]).read_text())
    bad["config"]["seed"] = 9
    bad["metrics"]["headline"].update(acc=None, shallow_fraction=1.5)
    Path(paths[0]).write_text(json.dumps(bad))
    Path(paths[1]).write_bytes(b"\xff\xfe{}")
    message = _refused(paths, expected, "2 run files refused", "`config.seed` is 9", "headline `acc` is null",
                       "headline `shallow_fraction` is 1.5, outside [0.0, 1.0]", paths[1], "not UTF-8")
    assert message.count("Fix:") == 2


@pytest.mark.parametrize("payload, problem", [
    ("[1, 2]", "one JSON object, not a list"),
    ('{"metrics": {}, "provenance": {}}', "no `config` object"),
    ('{"config": {"seed": 0}, "metrics": {}, "provenance": {"seed": 0}}', "no `metrics.headline`"),
    ('{"a": -Infinity}', "non-standard JSON literal -Infinity at line 1"),
])
def test_files_that_are_no_results_file(tree, payload, problem):
    root, paths, expected = tree
    Path(paths[0]).write_text(payload)
    _refused(paths, expected, paths[0], problem)


def test_a_run_outside_its_familys_seeds_is_checked_and_not_counted(tree):
    """ASHEM's run at the published seed beside the word-level seeds: listed, never counted."""
    root, paths, expected = tree
    run = fake_run("alpha", "original", "a0.7", 42, 23.0)
    path = run_path(root, "alpha", "original", "a0.7", 42)
    path.write_text(json.dumps(run))
    _refused(paths, expected, str(path), "extra seed 42")  # undeclared: a stray like any other
    settings = expected_settings([path])
    manifest = checks.check_runs(paths + [str(path)], expected, settings)
    assert str(path) not in [r["path"] for r in manifest["runs"]]
    assert [r["path"] for r in manifest["not_counted"]] == [str(path)]
    run["config"]["layer_weights"]["1"] = 0.5
    path.write_text(json.dumps(run))
    _refused(paths + [str(path)], expected, str(path), "`config.layer_weights`", not_counted=settings)


def test_the_workflow_settings_are_compared_as_a_results_file_holds_them():
    """Integer exit keys and 0 against 0.0: the same setting; a missing key or another value: not."""
    payload = {"config": {"seed": 3, "layer_weights": {"1": 0.7, "2": 0.0, "3": 0.3}, "train": {"lr": 0.001}},
               "provenance": {"seed": 3}, "metrics": {"headline": {"ppl": 7.0, "acc": 0.4}}}
    assert checks.payload_problems(payload, 3, {"layer_weights": {1: 0.7, 2: 0, 3: 0.3}, "train.lr": 1e-3}) == []
    problems = checks.payload_problems(payload, 3, {"train.patience": 5, "train.lr": 0.01})
    assert problems == ["`config.train.patience` is missing, but the workflow sets it to 5",
                        "`config.train.lr` is 0.001, but the workflow sets 0.01 for this path (a run of another "
                        "setting copied here?)"]
    assert parse_result_path("smoke_out/results/ashem/original-ashem/seed~42.json")["seed"] == 42


def test_every_committed_run_file_reads_strictly():
    """The committed runs pass the aggregate's strict reader (UTF-8, one object, no NaN or Infinity)."""
    run_files = sorted(p for p in (REPO / "results").glob("*/*/seed~*.json"))
    assert len(run_files) > 100
    for path in run_files:
        assert isinstance(parse_run(path, path.read_bytes()), dict)
