"""Fake result trees for the analysis tests: a real smoke-run JSON (tests/data/smoke_run.json, from
`lash train --preset asymmetric --smoke --seed 0`) copied under results/ with edited metrics, and with
the settings a workflow would give each family/variant in its config (`settings`), so that the runs
pass lash.analysis.checks like real ones."""

import copy
import json
from pathlib import Path

TEMPLATE = json.loads((Path(__file__).parent / "data" / "smoke_run.json").read_text())

#: family/variant -> headline PPL of seed 0 (original protocol); other seeds and protocols shift it.
BASE = {"baselines/standard": 34.0, "baselines/deep_supervision": 31.0, "alpha/a0.5": 24.0, "alpha/a0.7": 23.0,
        "alpha/a0.9": 22.0, "l2/w1.0": 26.0, "l2/w1.0n": 23.5, "lr/decreasing": 19.0,
        "dynamic_alpha/linear": 22.0, "sweep/exit2": 14.0}
SEED_SHIFT = [0.0, 0.4, -0.3, 0.2]  # per seed: the spread of every variant


def settings(family, protocol, variant) -> dict:
    """The dotted settings a workflow config gives this run (what lash.analysis.checks compares with
    the run's config): its preset, protocol, and the loss weights of the alpha and L2 families."""
    out = {"preset": {"baselines": variant}.get(family, "asymmetric")}
    if protocol in ("original", "corrected"):
        out["protocol"] = protocol
    if family == "alpha":
        a = float(variant[1:])
        out["layer_weights"] = {1: a, 2: 0, 3: round(1 - a, 10)}
    elif family == "l2":
        out["layer_weights"] = {1: 0.7, 2: float(variant[1:].rstrip("n")), 3: 0.3}
        out["train.normalize_weights"] = variant.endswith("n")
    return out


def _apply(config: dict, dotted: dict) -> None:
    for key, value in dotted.items():
        node, *path, last = [config, *key.split(".")]
        for part in path:
            node = node[part]
        node[last] = json.loads(json.dumps(value))  # as a results file holds it: string keys


def fake_run(family, protocol, variant, seed, ppl, extra_headline=None, phase1=None):
    run = copy.deepcopy(TEMPLATE)
    corpus = {"original": "fallback", "corrected": "wikitext2"}.get(protocol, protocol)
    run["config"].update(protocol="corrected" if protocol == "corrected" else "original", seed=seed)
    run["config"]["data"].update(corpus=corpus, level="word" if family in ("ashem", "progressive") else "char")
    _apply(run["config"], settings(family, protocol, variant))
    run["provenance"].update(seed=seed, wall_seconds=60.0)
    if protocol != "corrected":  # the original protocol's quirk: best-epoch numbers, weights not restored
        run["config"]["train"].update(restore_best=False, patience=1)
    m = run["metrics"]
    split = "validation" if protocol != "corrected" else "test"
    m["vocab_size"] = {"fallback": 30, "wikitext2": 283}.get(corpus, 49)
    m["headline"] = {"split": split, "source": "fake", "ppl": ppl, "acc": 0.3 + 0.001 * seed,
                     "shallow_fraction": 0.5, "compute_fraction_layers": 0.6667, **(extra_headline or {})}
    rep = m["validation"] if split == "validation" else m["test"]
    rep["final"]["ppl"] = rep["exits"]["3"]["ppl"] = ppl + 1.0
    rep["exits"]["1"]["ppl"] = ppl + 2.0
    for point in rep["sweep"]:  # a small U: 0.8 is the best threshold
        point["ppl"] = ppl * (1 + 0.01 * abs(point["threshold"] - 0.8))
        point["compute_fraction_layers"] = 0.5 + 0.5 * point["threshold"]
    if phase1:
        m["phase1"] = phase1
    return run


def run_path(root, family, protocol, variant, seed) -> Path:
    return Path(root) / "results" / family / f"{protocol}-{variant}" / f"seed~{seed}.json"


def write_run(root, family, protocol, variant, seed, run) -> Path:
    path = run_path(root, family, protocol, variant, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=2))
    return path


def make_fake_results(root, seeds=(0, 1, 2), ashem=True, methods=None):
    """Write a fake results/ tree under `root` (`methods`: a subset of BASE); returns the JSON paths."""
    paths = []
    for method, base in BASE.items():
        if methods is not None and method not in methods:
            continue
        family, variant = method.split("/")
        for protocol, offset in (("original", 0.0), ("corrected", 100.0)):
            for seed in seeds:
                paths.append(write_run(root, family, protocol, variant, seed, fake_run(
                    family, protocol, variant, seed, base + offset + SEED_SHIFT[seed])))
    for corpus, offset in (("fallback", 0.0), ("wikitext2", 100.0)):
        paths.append(write_run(root, "provenance", corpus, "standard", 42,
                               fake_run("provenance", corpus, "standard", 42, 35.0 + offset)))
    if ashem:
        for seed in seeds:
            p2 = 830.0 + 10 * SEED_SHIFT[seed]
            paths.append(write_run(root, "ashem", "original", "ashem", seed, fake_run(
                "ashem", "original", "ashem", seed, p2,
                {"hard_ppl": 670.0 + seed, "compute_fraction_flops": 1.2},
                {"ppl": 986.0 + seed, "acc": 0.16, "hard_ppl": 2763.0})))
    return paths


def expected_settings(paths) -> dict:
    """{path: settings} of fake runs, as the workflow's check_runs rule passes them."""
    from lash.analysis.runs import parse_result_path

    out = {}
    for path in paths:
        run = parse_result_path(path)
        out[str(path)] = settings(run["family"], run["protocol"], run["variant"])
    return out


#: Seconds per step of the fast-path benchmark's contenders in each of 3 rounds: the machine's speed varies
#: from round to round (1.0, 1.2, 0.9 s for every exit), and the ratio last-exit-only / every-exit is 0.7
#: times 1, 1.01 and 1/1.01 (log ratios log 0.7 + (0, +l, -l), l = log 1.01).
FAKE_BENCH_EVERY = [1.0, 1.2, 0.9]
FAKE_BENCH_RATIOS = [0.7, 0.7 * 1.01, 0.7 / 1.01]


def fake_bench(path, every=FAKE_BENCH_EVERY, ratios=FAKE_BENCH_RATIOS) -> Path:
    """Write a results/bench_fast_path.json as `lash bench fast-path` records it, with the given times."""
    last = [e * r for e, r in zip(every, ratios, strict=True)]
    record = {"benchmark": "fast_path", "machine": {"cpu": "Fake CPU_9", "torch_threads": 1},
              "settings": {"workload": {"V": 33278, "dim": 64, "layers": 3, "heads": 4, "seq": 32, "batch": 64,
                                        "weights": {"1": 0.0, "2": 0.0, "3": 1.0}},
                           "kernels": "reference", "rounds": len(every), "steps_per_round": 4, "threads": 1},
              "contenders": {"last_exit_only": {"first_step_loss": 10.4, "step_s": last},
                             "every_exit": {"first_step_loss": 10.4, "step_s": list(every)}},
              "provenance": {"git_sha": "0" * 40, "git_dirty": False, "seed": 0, "device": "cpu", "threads": 1,
                             "wall_seconds": 2 * sum(every)}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return path
