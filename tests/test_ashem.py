"""ASHEM stages, its baselines and progressive training, on tiny smoke runs and hand references."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from lash import ashem
from lash.ashem import common as ashem_common
from lash.cli import build_parser, main
from lash.config import resolve_config
from lash.early_exit import deep_hidden
from lash.evaluate import flops_per_token

TINY = ["--smoke", "-q", "--set", "train.threads=1", "--set", "data.train_size=4096",
        "--set", "data.val_size=2048", "--set", "data.test_size=2048",
        "--set", "ashem.phase1_max_epochs=2", "--set", "ashem.phase2_max_epochs=2"]


def pipeline(d, preset, *extra):
    args = ["--preset", preset, *TINY, *extra]
    files = {k: str(d / f"{k}") for k in ("p1.pt", "p1.json", "m.pt", "m.json", "p2.pt", "p2.json", "r.json")}
    assert main(["ashem", "phase1", *args, "--checkpoint", files["p1.pt"], "--out", files["p1.json"]]) == 0
    assert main(["ashem", "mine", *args, "--phase1", files["p1.pt"], "--out", files["m.pt"],
                 "--summary", files["m.json"]]) == 0
    assert main(["ashem", "phase2", *args, "--phase1", files["p1.pt"], "--mined", files["m.pt"],
                 "--checkpoint", files["p2.pt"], "--out", files["p2.json"]]) == 0
    assert main(["ashem", "evaluate", *args, "--phase2", files["p2.pt"], "--mined", files["m.pt"],
                 "--out", files["r.json"]]) == 0
    return files


def keys(tree):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield k
            yield from keys(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from keys(v)


def _refuse_constant(name):
    raise ValueError(f"non-standard JSON constant {name} (NaN/Infinity are not JSON)")


def load_json(path):
    """Strict JSON: every results file these tests read must parse without NaN or Infinity."""
    with open(path) as fh:
        return json.load(fh, parse_constant=_refuse_constant)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return pipeline(tmp_path_factory.mktemp("original"), "ashem_original")


@pytest.fixture(scope="module")
def corrected(tmp_path_factory):
    return pipeline(tmp_path_factory.mktemp("corrected"), "ashem_corrected")


def tiny_cfg(preset, *sets):
    extra = [TINY[i + 1] for i, a in enumerate(TINY) if a == "--set"] + list(sets)
    return resolve_config(preset=preset, smoke=True, sets=extra)


# --------------------------------------------------------------------------- hand references

def test_quantile_threshold_and_strictly_below_is_hard():
    conf = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    assert ashem.quantile_threshold(conf, 0.5) == 0.5
    assert ashem.quantile_threshold(conf, 0.3) == pytest.approx(0.3)  # linear interpolation
    assert ashem.hard_mask(conf, 0.5).tolist() == [True, True, False, False, False]
    ties = torch.tensor([0.1, 0.2, 0.2, 0.3, 0.4])
    thr = ashem.quantile_threshold(ties, 0.5)
    assert thr == pytest.approx(0.2) and ashem.hard_mask(ties, thr).sum() == 1


@pytest.mark.parametrize("reshuffle", [False, True])
def test_phase2_batches_replay_the_permutation_stream(reshuffle):
    """Epoch e's order (ashem.phase2_rng=seeded): the first permutation of a generator seeded with
    cfg.seed (never reshuffled), or its (e+1)-th draw with hard_reshuffle; so a resumed run, which
    starts at epoch e, draws the same. Batches are consecutive slices of hard_batch_size."""
    from lash.ashem.phase2 import HardTokenTask

    cfg = tiny_cfg("ashem_original", f"ashem.hard_reshuffle={reshuffle}", "ashem.hard_batch_size=4",
                   "ashem.phase2_rng=seeded")
    inputs = type("Hard", (), {"__len__": lambda self: 10})()
    task = HardTokenTask(None, cfg, inputs, [], 0.5, 30)
    gen = torch.Generator().manual_seed(cfg.seed)
    draws = [torch.randperm(10, generator=gen) for _ in range(3)]
    for epoch in range(3):
        expected = draws[epoch] if reshuffle else draws[0]
        batches = task.begin_epoch(epoch)
        assert [len(b) for b in batches] == [4, 4, 2]
        assert torch.equal(torch.cat(batches), expected)
    assert not torch.equal(draws[0], draws[1])


def test_carried_phase2_draws_what_one_process_after_phase1_draws(original):
    """ashem.phase2_rng=carry (the original protocol): the phase-1 file holds the global RNG state
    phase 1 left, which is the state right after the phase-1 model was drawn (training draws nothing);
    phase 2 then draws its whole model and one torch.randperm from it, like the original's single
    process: seed, phase-1 model, phase-2 model, randperm."""
    from lash.ashem.phase2 import HardTokenTask, grow_model
    from lash.model import LashTransformer
    from lash.seeding import seed_everything

    cfg = tiny_cfg("ashem_original")
    assert cfg.ashem.phase2_rng == "carry"
    p1 = torch.load(original["p1.pt"], weights_only=True)
    vocab = p1["vocab_size"]
    seed_everything(cfg.seed)
    LashTransformer.for_run(cfg, vocab, cfg.ashem.phase1_layers)
    assert torch.equal(p1["rng_state"]["torch"], torch.get_rng_state())
    reference = LashTransformer.for_run(cfg, vocab)  # the original's whole new 4-layer model
    reference_perm = torch.randperm(10)

    torch.manual_seed(12345)  # whatever the process did before: phase 2 restores phase 1's state
    grown = grow_model(cfg, vocab, p1["state_dict"], p1["rng_state"])
    task = HardTokenTask(None, cfg, type("Hard", (), {"__len__": lambda self: 10})(), [], 0.5, vocab)
    new_blocks = [f"blocks.{i}." for i in range(cfg.ashem.phase1_layers, cfg.ashem.phase2_layers)]
    ref_state = reference.state_dict()
    for name, value in grown.state_dict().items():
        expected = ref_state[name] if name.startswith(tuple(new_blocks)) else p1["state_dict"].get(name)
        if expected is not None:
            assert torch.equal(value, expected), name
    for epoch in range(3):  # one permutation, never reshuffled, replayable after a resume
        assert torch.equal(torch.cat(task.begin_epoch(epoch)), reference_perm)


def test_length_one_attention_is_exact_with_zero_query_and_key_gradients():
    """Over a single key the softmax is exactly 1: the output is v and wq, wk get exactly zero gradients
    (the original's explicit attention; a fused kernel's rounding noise there became Adam updates)."""
    from lash.config import ModelConfig
    from lash.model import LashTransformer

    torch.manual_seed(0)
    model = LashTransformer(ModelConfig(dim=16, n_layers=1, n_heads=2), 11)
    h = torch.randn(5, 1, 16)
    out, _ = model.blocks[0](h, *model.rope(torch.arange(1)))
    block = model.blocks[0]
    attn = block.attn
    x = block.norm1(h + attn.wo(attn.wv(h)))  # attention over one key is wo(wv(h))
    expected = block.norm2(x + block.ffn(x))
    assert torch.equal(out, expected)
    out.square().sum().backward()
    assert torch.count_nonzero(attn.wq.weight.grad) == 0 and torch.count_nonzero(attn.wk.weight.grad) == 0
    assert torch.count_nonzero(attn.wv.weight.grad) > 0


def test_original_kernels_attend_explicitly_and_clip_in_the_original_order():
    """train.kernels=original: explicit causal attention equal (to rounding) to the fused kernel, and
    the clipping order embed; per block attention, FFN, norm1, norm2; head."""
    from lash.model import LashTransformer

    cfg = tiny_cfg("ashem_original", "train.kernels=original")
    torch.manual_seed(0)
    explicit = LashTransformer.for_run(cfg, 30)
    torch.manual_seed(0)
    fused = LashTransformer.for_run(tiny_cfg("ashem_original"), 30)
    assert all(b.attn.explicit for b in explicit.blocks) and not any(b.attn.explicit for b in fused.blocks)
    x = torch.randint(0, 30, (2, 7))
    assert torch.allclose(explicit(x), fused(x), atol=1e-5)
    names = {id(p): n for n, p in explicit.named_parameters()}
    order = [names[id(p)] for p in explicit.original_parameter_order()]
    assert order[:1] == ["embed.weight"] and order[-1] == "head.weight"
    assert order[1:10] == [f"blocks.0.{n}.weight" for n in ("attn.wq", "attn.wk", "attn.wv", "attn.wo",
                                                            "ffn.w1", "ffn.w2", "ffn.w3", "norm1", "norm2")]
    assert sorted(order) == sorted(names.values())


def test_phase2_optimizer_hard_and_soft_freezing():
    from lash.model import LashTransformer

    cfg = tiny_cfg("ashem_original")
    model = LashTransformer(cfg.model, 30)
    opt = ashem.configure_phase2(model, cfg)
    trained = sum(p.numel() for g in opt.param_groups for p in g["params"])
    block = sum(p.numel() for p in model.blocks[2].parameters())
    assert trained == 2 * block + 64 * 30  # blocks 3-4 and the shared head
    assert not any(p.requires_grad for p in model.embed.parameters())
    assert not any(p.requires_grad for b in model.blocks[:2] for p in b.parameters())

    soft = tiny_cfg("ashem_original", "ashem.freeze=soft")
    model = LashTransformer(soft.model, 30)
    opt = ashem.configure_phase2(model, soft)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"embed+head": 1e-4, "layer1": 1e-6, "layer2": 5e-6, "layer3": 5e-5,
                                 "layer4": 1e-4})
    assert all(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------- the original protocol

def test_results_json_has_the_train_shape_and_the_headline(original):
    r = load_json(original["r.json"])
    assert set(r) == {"config", "metrics", "data", "provenance", "timing"}
    h = r["metrics"]["headline"]
    assert set(h) >= {"split", "ppl", "acc", "shallow_fraction", "compute_fraction_layers",
                      "compute_fraction_flops", "hard_ppl"}
    assert h["split"] == "validation"
    m = r["metrics"]
    assert m["phase1"]["validation"]["ppl"] > 0 and m["threshold"] == m["mining"]["threshold"]
    assert [e["epoch"] for e in m["phase2"]["history"]] == list(range(1, m["phase2"]["epochs_run"] + 1))
    assert not [k for k in keys(m) if k.endswith("_s") or "second" in k]  # seconds live in `timing`
    assert r["timing"]["inference"]["full_s"] > 0


def test_a_hard_ppl_over_no_tokens_is_null_not_nan():
    assert ashem_common.ppl(torch.zeros(0)) is None
    assert ashem_common.ppl(torch.tensor([0.0, 2.0])) == pytest.approx(math.e)
    assert ashem_common.change(None, 2.0) is None and ashem_common.change(3.0, 2.0) == 0.5


def test_every_stage_writes_strict_json(original, corrected):
    for files in (original, corrected):
        for name in ("p1.json", "m.json", "p2.json", "r.json"):
            payload = load_json(files[name])  # raises on NaN/Infinity
            assert payload["metrics"], name


def test_threshold_is_the_quantile_of_all_validation_confidences(original):
    cfg = tiny_cfg("ashem_original")
    p1 = ashem.load_checkpoint(original["p1.pt"], "ashem_phase1", cfg, "phase1")
    mined = ashem.load_checkpoint(original["m.pt"], "ashem_mined", cfg, "mine")
    data, _ = ashem.load_data(cfg)
    model = ashem.load_model(cfg, 2, len(data.vocab), p1["state_dict"])
    states = ashem.exit_states(model, data.validation.epoch(0), 2, "max_prob")
    thr = torch.quantile(states["conf"], 0.5).item()
    assert mined["threshold"] == thr
    assert mined["hard"]["target"].numel() == int((states["conf"] < thr).sum())
    assert mined["summary"]["n_tokens"] == data.validation.n_tokens
    # Hard PPL of phase 1 = exp(mean CE) of the head on the stored exit states
    h = mined["hard"]
    ce = F.cross_entropy(model.head(h["h"]).float(), h["target"])
    assert mined["summary"]["phase1_hard_ppl_mined"] == pytest.approx(math.exp(ce.item()), rel=1e-5)


def test_phase2_hard_ppl_and_freezing(original):
    cfg = tiny_cfg("ashem_original")
    p1 = torch.load(original["p1.pt"], weights_only=True)["state_dict"]
    p2 = torch.load(original["p2.pt"], weights_only=True)["state_dict"]
    for key in p1:
        if key.startswith(("embed.", "blocks.0.", "blocks.1.")):
            assert torch.equal(p1[key], p2[key]), key
    assert not torch.equal(p1["head.weight"], p2["head.weight"])  # the shared head trains
    mined = torch.load(original["m.pt"], weights_only=True)
    model = ashem.load_model(cfg, 4, p2["head.weight"].shape[0], p2)
    with torch.no_grad():  # blocks 3-4 on length-1 sequences at RoPE position 0, then the head
        deep = deep_hidden(model, mined["hard"]["h"].unsqueeze(1), 2, "token")[:, 0]
        ce = F.cross_entropy(model.head(deep), mined["hard"]["target"])
    r = load_json(original["r.json"])["metrics"]
    assert r["headline"]["hard_ppl"] == pytest.approx(math.exp(ce.item()), rel=1e-5)
    best = load_json(original["p2.json"])["metrics"]["best"]
    assert r["headline"]["ppl"] == pytest.approx(best["validation"]["ppl"], rel=1e-9)


def test_compute_fractions(original):
    r = load_json(original["r.json"])
    h = r["metrics"]["headline"]
    # equal-size batches: the mean of per-batch (2 n_sh + 4 n_deep) / (4 n) is 1 - shallow / 2
    assert h["compute_fraction_layers"] == pytest.approx(1 - h["shallow_fraction"] / 2, abs=1e-12)
    v, t = r["metrics"]["vocab_size"], 32
    full = flops_per_token(64, 4, v, t)
    f = h["shallow_fraction"]
    expected = (f * flops_per_token(64, 2, v, t) + (1 - f) * flops_per_token(64, 4, v, t, 4, 2)) / full
    assert h["compute_fraction_flops"] == pytest.approx(expected)


def test_same_config_and_seed_give_identical_metrics(original, tmp_path):
    again = pipeline(tmp_path, "ashem_original")
    for name in ("p1.json", "m.json", "p2.json", "r.json"):
        assert load_json(original[name])["metrics"] == load_json(again[name])["metrics"], name


def test_a_stage_refuses_inputs_of_another_config(original, tmp_path, capsys):
    rc = main(["ashem", "phase2", "--preset", "ashem_original", *TINY, "--set", "ashem.hard_ratio=0.3",
               "--phase1", original["p1.pt"], "--mined", original["m.pt"],
               "--checkpoint", str(tmp_path / "x.pt"), "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "ashem.hard_ratio" in err and "Fix:" in err
    assert not (tmp_path / "x.pt").exists()
    rc = main(["ashem", "evaluate", "--preset", "ashem_original", *TINY, "--phase2", original["p1.pt"],
               "--mined", original["m.pt"], "--out", str(tmp_path / "x.json")])
    assert rc == 2 and "the output of `lash ashem phase1`" in capsys.readouterr().err


@pytest.mark.parametrize("variant", [["ashem.head=frozen"], ["ashem.phase2_context=full"],
                                     ["ashem.freeze=soft"]])
def test_phase2_variants(original, tmp_path, variant):
    sets = [s for v in variant + ["ashem.phase2_max_epochs=1"] for s in ("--set", v)]
    args = ["--preset", "ashem_original", *TINY, *sets]
    assert main(["ashem", "phase2", *args, "--phase1", original["p1.pt"], "--mined", original["m.pt"],
                 "--checkpoint", str(tmp_path / "p2.pt"), "--out", str(tmp_path / "p2.json")]) == 0
    assert main(["ashem", "evaluate", *args, "--phase2", str(tmp_path / "p2.pt"), "--mined", original["m.pt"],
                 "--out", str(tmp_path / "r.json")]) == 0
    p1 = torch.load(original["p1.pt"], weights_only=True)["state_dict"]
    p2 = torch.load(tmp_path / "p2.pt", weights_only=True)["state_dict"]
    frozen = {k for k in p1 if torch.equal(p1[k], p2[k])}
    if variant == ["ashem.head=frozen"]:
        assert "head.weight" in frozen and "embed.weight" in frozen
    elif variant == ["ashem.freeze=soft"]:
        assert frozen == set()  # nothing frozen: every copied layer moves at its own LR
    else:
        assert "embed.weight" in frozen and "head.weight" not in frozen
    r = load_json(tmp_path / "r.json")["metrics"]
    assert r["protocol"]["phase2_context"] == ("full" if "full" in variant[0] else "token")


# --------------------------------------------------------------------------- corrected + baselines

def test_corrected_mines_on_train_and_reports_held_out_hard_tokens_on_test(corrected):
    r = load_json(corrected["r.json"])["metrics"]
    assert r["headline"]["split"] == "test"
    assert r["mining"]["mine_split"] == "train" and r["mining"]["report_split"] == "test"
    assert r["hard_ppl"]["tokens"].startswith("held-out")
    assert r["hard_ppl"]["n"] == r["mining"]["n_heldout_hard"]
    assert r["headline"]["hard_ppl"] == r["hard_ppl"]["ppl"]
    assert r["calibration"]["reported_on"] == "test"
    assert set(r["calibration"]) >= {"max_prob", "margin", "entropy"}


@pytest.mark.parametrize("kind", ["deep", "shallow_deep"])
def test_baselines_share_the_headline_and_match_compute(corrected, tmp_path, kind):
    out = tmp_path / "b.json"
    assert main(["ashem", "baseline", "--preset", f"ashem_baseline_{kind}_corrected", *TINY,
                 "--mined", corrected["m.pt"], "--match", corrected["r.json"], "--out", str(out)]) == 0
    b = load_json(out)["metrics"]
    r = load_json(corrected["r.json"])["metrics"]
    assert set(b["headline"]) == set(r["headline"])
    budget = r["training_compute"]["flops"]
    tc = b["training_compute"]
    assert tc["budget_flops"] == budget and tc["flops"] <= budget
    assert b["hard_ppl"]["n"] == r["hard_ppl"]["n"]
    if kind == "deep":
        assert b["headline"]["shallow_fraction"] == 0.0 and b["headline"]["compute_fraction_layers"] == 1.0
    else:
        assert 0 < b["headline"]["shallow_fraction"] < 1 and b["threshold"] is not None


def test_progressive_freezes_the_copied_layers(tmp_path):
    for preset, weights in (("progressive_original", {"4": 1.0}),
                            ("progressive_deep_supervision_original", {str(k): 0.25 for k in range(1, 5)})):
        out = tmp_path / f"{preset}.json"
        assert main(["progressive", "--preset", preset, *TINY, "--set", "ashem.phase2_max_epochs=1",
                     "--out", str(out)]) == 0
        m = load_json(out)["metrics"]
        v = m["vocab_size"]
        assert m["phase1"]["n_layers"] == 3 and m["phase2"]["n_layers"] == 4
        block = (m["phase2"]["n_params"] - 2 * 64 * v) // 4
        assert m["phase2"]["n_trainable"] == block + 64 * v  # block 4 and the head
        assert m["phase2"]["history"][0]["weights"] == weights
        assert set(m["headline"]) >= {"split", "ppl", "acc", "compute_fraction_flops"}


def test_every_parser_sets_func():
    parser = build_parser()
    for argv in (["ashem", "phase1", "--checkpoint", "a", "--out", "b"],
                 ["ashem", "mine", "--phase1", "a", "--out", "b", "--summary", "c"],
                 ["ashem", "phase2", "--phase1", "a", "--mined", "b", "--checkpoint", "c", "--out", "d"],
                 ["ashem", "evaluate", "--phase2", "a", "--mined", "b", "--out", "c"],
                 ["ashem", "baseline", "--mined", "a", "--out", "b"],
                 ["progressive", "--out", "a"]):
        assert callable(parser.parse_args(argv).func)


def test_mine_tokens_mines_a_prefix_of_the_split(corrected, tmp_path):
    """ashem.mine_tokens=1000 mines only the first whole batches up to 1,000 tokens of train."""
    args = ["--preset", "ashem_corrected", *TINY, "--set", "ashem.mine_tokens=1000"]
    summary = tmp_path / "m.json"
    assert main(["ashem", "mine", *args, "--phase1", corrected["p1.pt"], "--out", str(tmp_path / "m.pt"),
                 "--summary", str(summary)]) == 0
    capped, full = load_json(summary)["metrics"], load_json(corrected["m.json"])["metrics"]
    cfg = tiny_cfg("ashem_corrected")
    per_batch = cfg.data.batch_size * cfg.data.seq_len
    assert capped["n_tokens"] == max(1, 1000 // per_batch) * per_batch < full["n_tokens"]
    assert capped["mine_tokens"] == 1000 and full["mine_tokens"] is None
