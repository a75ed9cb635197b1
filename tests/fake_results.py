"""Fake result trees for the report tests: a real smoke-run JSON (tests/data/smoke_run.json, from
`lash train --preset asymmetric --smoke --seed 0`) copied under results/ with edited metrics."""

import copy
import json
from pathlib import Path

TEMPLATE = json.loads((Path(__file__).parent / "data" / "smoke_run.json").read_text())

#: family/variant -> headline PPL of seed 0 (original protocol); other seeds and protocols shift it.
BASE = {"baselines/standard": 34.0, "baselines/deep_supervision": 31.0, "alpha/a0.5": 24.0,
        "alpha/a0.7": 23.0, "alpha/a0.9": 22.0, "l2/w1.0": 26.0, "l2/w1.0n": 23.5, "lr/decreasing": 19.0,
        "dynamic_alpha/linear": 22.0, "sweep/exit2": 14.0}
SEED_SHIFT = [0.0, 0.4, -0.3]  # per seed: the spread of every variant


def fake_run(family, protocol, variant, seed, ppl, extra_headline=None, phase1=None):
    run = copy.deepcopy(TEMPLATE)
    corpus = {"original": "fallback", "corrected": "wikitext2"}.get(protocol, protocol)
    run["config"].update(protocol=protocol if protocol in ("original", "corrected") else "original", seed=seed)
    run["config"]["data"].update(corpus=corpus, level="word" if family in ("ashem", "progressive") else "char")
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


def make_fake_results(root, seeds=(0, 1, 2), ashem=True):
    """Write a fake results/ tree under `root`; returns the JSON paths."""
    paths = []

    def write(family, protocol, variant, seed, run):
        path = Path(root) / "results" / family / f"{protocol}-{variant}" / f"seed~{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run))
        paths.append(path)

    for method, base in BASE.items():
        family, variant = method.split("/")
        for protocol, offset in (("original", 0.0), ("corrected", 100.0)):
            for seed in seeds:
                write(family, protocol, variant, seed, fake_run(family, protocol, variant, seed,
                                                                base + offset + SEED_SHIFT[seed]))
    for corpus, offset in (("fallback", 0.0), ("wikitext2", 100.0)):
        write("provenance", corpus, "standard", 42, fake_run("provenance", corpus, "standard", 42, 35.0 + offset))
    if ashem:
        for seed in seeds:
            p2 = 830.0 + 10 * SEED_SHIFT[seed]
            write("ashem", "original", "ashem", seed, fake_run(
                "ashem", "original", "ashem", seed, p2,
                {"hard_ppl": 670.0 + seed, "compute_fraction_flops": 1.2},
                {"ppl": 986.0 + seed, "acc": 0.16, "hard_ppl": 2763.0}))
    return paths
