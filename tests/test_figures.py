"""The figures: each is rebuilt byte for byte from the same CSV (PDF and PNG), and editing one figure's
plotting code makes Snakemake plan that figure and the PDF, nothing else."""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_results import expected_settings, fake_bench, make_fake_results

from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
CLAIMS = str(REPO / "config" / "claims.yaml")
FIGURES = ["fig_alpha", "fig_l2", "fig_lr", "fig_seeds", "fig_sweep", "fig_reliability", "fig_ashem", "fig_forest"]


def script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "workflow" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def aggregates(tmp_path_factory):
    """results/*.csv of a fake tree, as check_runs and aggregate write them."""
    root = tmp_path_factory.mktemp("figures")
    paths = [str(p) for p in make_fake_results(root)]
    res = root / "results"
    outs = {k: str(res / f"{k}.csv") for k in ("runs", "summary", "paired", "claims", "sweep", "reliability")}
    outs |= {"summary_json": str(res / "summary.json"), "claims_json": str(res / "claims.json"),
             "epoch_caps": str(res / "epoch_caps.csv")}
    script("check_runs").main({"runs": paths}, {"manifest": str(res / "checked.json")},
                              {"expected": expected_settings(paths)})
    bench = {"bench_fast_path": str(fake_bench(res / "bench_fast_path.json"))}
    script("aggregate").main({"checked": str(res / "checked.json"), "claims": CLAIMS} | bench, outs, {})
    return {"runs": outs["runs"], "sweep": outs["sweep"], "reliability": outs["reliability"],
            "claims": outs["claims"], "claims_config": CLAIMS}


@pytest.mark.parametrize("name", FIGURES)
def test_a_rebuilt_figure_is_byte_identical(name, aggregates, tmp_path):
    fig = script(name)
    builds = []
    for i, rng_seed in enumerate((1, 2)):
        np.random.seed(rng_seed)  # whatever state numpy's global generator is in: the same figure
        out = {"pdf": str(tmp_path / str(i) / f"{name}.pdf"), "png": str(tmp_path / str(i) / f"{name}.png")}
        fig.main(aggregates, out, {})
        builds.append({k: Path(v).read_bytes() for k, v in out.items()})
    first, second = builds
    assert first["pdf"].startswith(b"%PDF") and first["png"].startswith(b"\x89PNG")
    assert first["pdf"] == second["pdf"] and first["png"] == second["png"]
    assert b"CreationDate" not in first["pdf"] and b"tIME" not in first["png"]  # no timestamps
    assert len(first["png"]) > 1000


def test_seeded_jitter_leaves_the_callers_random_state_alone():
    from lash.analysis.figstyle import seeded_jitter

    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    with seeded_jitter():
        jitter = np.random.random(2)
    assert np.array_equal(np.random.random(3), expected)
    with seeded_jitter():
        assert np.array_equal(np.random.random(2), jitter)


def _snakemake(*args, cwd):
    env = with_this_interpreter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _planned(text: str) -> dict[str, int]:
    """{rule: count} of the 'Job stats' table of a dry run."""
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_editing_one_figure_plans_that_figure_and_the_paper(tmp_path):
    """An up-to-date smoke build (every output present, marked current with --touch) in a copy of the
    workflow: a comment appended to fig_alpha's plotting code plans fig_alpha, paper and all."""
    for name in ("Snakefile", "workflow", "config", "paper", "lash"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    shutil.rmtree(tmp_path / "paper" / "build", ignore_errors=True)
    smoke = ["--configfile", "config/smoke.yaml"]
    summary = _snakemake("--summary", *smoke, cwd=tmp_path)
    outputs = [line.split("\t")[0] for line in summary.splitlines() if "\tmissing\t" in line]
    assert len(outputs) > 50 and "smoke_out/figures/fig_alpha.pdf" in outputs
    for path in outputs:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    _snakemake("--cores", "1", "--touch", *smoke, cwd=tmp_path)
    assert "Nothing to be done" in _snakemake("-n", "--cores", "1", *smoke, cwd=tmp_path)

    with open(tmp_path / "workflow" / "scripts" / "fig_alpha.py", "a") as fh:
        fh.write("# an edit of this figure's plotting code\n")
    plan = _snakemake("-n", "--cores", "1", *smoke, cwd=tmp_path)
    assert _planned(plan) == {"fig_alpha": 1, "paper": 1, "all": 1}
    inputs = re.search(r"rule fig_alpha:\n\s+input: (.*)", plan)[1]
    assert "lash/analysis/figstyle.py" in inputs and "lash/analysis/stats.py" not in inputs


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_panel_titles_come_from_the_plotted_rows(aggregates):
    import pandas as pd

    runs = pd.read_csv(aggregates["runs"])
    # a word-level run of the original protocol on another corpus must not enter a character-level title
    word = runs[runs.family == "alpha"].head(1).assign(family="ashem", corpus="wikitext2", level="word")
    fig = script("fig_alpha").fig_alpha(pd.concat([runs, word], ignore_index=True))
    assert _titles(fig) == ["original protocol (fallback)", "corrected protocol (wikitext2)"]


def test_fig_l2_marks_both_published_points(aggregates):
    import pandas as pd
    import yaml

    published = yaml.safe_load(open(CLAIMS))["published_runs"]
    fig = script("fig_l2").fig_l2(pd.read_csv(aggregates["runs"]), published)
    points = {tuple(p) for coll in fig.axes[0].collections for p in coll.get_offsets().tolist()
              if coll.get_label() == "published (seed 42)"}
    assert points == {(0.0, published["asymmetric"]["ppl"]), (1.0, published["asymmetric_l2"]["ppl"])}


def test_fig_sweep_has_one_panel_per_setup_and_protocol_and_names_the_weights(aggregates):
    import pandas as pd

    sweeps = pd.read_csv(aggregates["sweep"])
    fig = script("fig_sweep").fig_sweep(sweeps.assign(n_layers=sweeps.family.map({"sweep": 4}).fillna(3)))
    titles = _titles(fig)
    assert len(titles) == 4 and all("weights" in t for t in titles)
    assert any("4 layers" in t for t in titles) and any("3 layers" in t for t in titles)
    assert any("last epoch's weights" in t for t in titles)  # the fakes' original protocol restores nothing


def test_fig_forest_has_a_row_per_measured_published_claim(aggregates):
    import pandas as pd
    import yaml

    claims = pd.read_csv(aggregates["claims"])
    fig = script("fig_forest").fig_forest(claims, yaml.safe_load(open(CLAIMS)))
    measured = claims[(claims.group == "published") & (claims.status == "measured")]
    assert "bench" in set(measured.protocol)  # the fast path's timing rounds: not seeds, not drawn
    assert len(fig.axes[0].get_yticklabels()) == measured[measured.protocol != "bench"].claim.nunique()
    assert _titles(fig) == ["original protocol", "corrected protocol"]


def test_fig_reliability_compares_alpha_without_and_with_the_layer_two_loss(aggregates):
    import pandas as pd

    fig = script("fig_reliability").fig_reliability(pd.read_csv(aggregates["reliability"]))
    titles = _titles(fig)
    assert sum("α=0.7 + L2" in t for t in titles) == 2 and sum(t.startswith("Asymmetric α=0.7") for t in titles) == 2
    assert sum(ax.get_ylabel() == "tokens" for ax in fig.axes) == 4  # the bin counts under every diagram
