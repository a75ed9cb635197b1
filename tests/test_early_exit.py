"""Early-exit inference: the invariants of full vs skip, generation, and threshold calibration."""

import copy
import math

import pytest
import torch

from lash import early_exit as ee
from lash.config import ModelConfig
from lash.evaluate import collect_token_stats, confidence_from_logits, exit_mask, flops_per_token, routed_metrics
from lash.model import LashTransformer

V, E = 40, 2


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LashTransformer(ModelConfig(dim=32, n_layers=4, n_heads=4), V).eval()


@pytest.fixture(scope="module")
def x():
    return torch.randint(0, V, (3, 12), generator=torch.Generator().manual_seed(1))


def median_threshold(model, x):
    conf = ee.confidences(model.forward_exits(x, [E])[E])["max_prob"]
    return conf.median().item()


@pytest.mark.parametrize("skip_ctx,full_ctx", [("propagate", "full"), ("token", "token")])
def test_threshold_one_is_the_full_model_and_zero_the_shallow_model(model, x, skip_ctx, full_ctx):
    with torch.no_grad():
        deep = model(x) if full_ctx == "full" else ee.exit_logits(model, x, E, "token")[1]
        shallow = model.forward_exits(x, [E])[E]
    at_one = ee.skip_inference(model, x, E, 1.0, deep_context=skip_ctx)
    assert not at_one.exited.any()
    torch.testing.assert_close(at_one.logits, deep, atol=1e-5, rtol=0)
    torch.testing.assert_close(ee.full_inference(model, x, E, 1.0, deep_context=full_ctx).logits, deep,
                               atol=1e-5, rtol=0)
    at_zero = ee.skip_inference(model, x, E, 0.0, deep_context=skip_ctx)
    assert at_zero.exited.all()
    assert torch.equal(at_zero.logits, shallow)
    assert torch.equal(ee.full_inference(model, x, E, 0.0, deep_context=full_ctx).logits, shallow)
    if skip_ctx == "propagate":  # no exit -> the model's own deep path: identical bit for bit
        assert torch.equal(at_one.logits, deep)


def test_mixed_exits_with_state_propagation(model, x):
    thr = median_threshold(model, x)
    full = ee.full_inference(model, x, E, thr)
    skip = ee.skip_inference(model, x, E, thr)
    ex = skip.exited
    assert torch.equal(ex, full.exited) and 0 < ex.sum() < ex.numel()
    # exited tokens: the shallow logits, exactly
    shallow = model.forward_exits(x, [E])[E].detach()
    assert torch.equal(skip.logits[ex], shallow[ex])
    # every token equals the dense reference of state propagation
    ref = ee.propagated_reference(model, x, ex, E)
    torch.testing.assert_close(skip.logits[~ex], ref[~ex], atol=1e-5, rtol=0)
    # ...and equals the full model while no earlier token of its row has exited
    seen_exit = torch.cumsum(ex.int(), dim=1) > 0
    before = ~ex & ~seen_exit
    assert before.any()
    torch.testing.assert_close(skip.logits[before], full.logits[before], atol=1e-5, rtol=0)
    # after an exit the deep layers attend to copied states: not the full model any more
    after = ~ex & seen_exit
    assert (skip.logits[after] - full.logits[after]).abs().max() > 1e-3


def test_token_local_skip_equals_the_token_local_reference(model, x):
    thr = median_threshold(model, x)
    full = ee.full_inference(model, x, E, thr, deep_context="token")
    skip = ee.skip_inference(model, x, E, thr, deep_context="token")
    assert torch.equal(skip.exited, full.exited)
    torch.testing.assert_close(skip.logits, full.logits, atol=1e-5, rtol=0)


def test_token_local_block_is_a_length_one_sequence(model):
    h = torch.randn(5, 32)
    block = model.blocks[2]
    cos, sin = model.rope(torch.zeros(1, dtype=torch.long))
    ref, _ = block(h.unsqueeze(1), cos, sin)
    torch.testing.assert_close(ee.token_local_block(block, h), ref[:, 0], atol=1e-6, rtol=0)


def test_skip_runs_deep_layers_only_for_tokens_that_did_not_exit(model, x):
    thr = median_threshold(model, x)
    rows = {"ffn": [], "head": []}
    hooks = [model.blocks[3].ffn.register_forward_hook(lambda m, i, o: rows["ffn"].append(i[0].shape)),
             model.head.register_forward_hook(lambda m, i, o: rows["head"].append(i[0].shape))]
    try:
        out = ee.skip_inference(model, x, E, thr)
    finally:
        for h in hooks:
            h.remove()
    n_deep = int((~out.exited).sum())
    assert [s[0] for s in rows["ffn"]] == [n_deep]  # the last block's FFN saw only deep tokens
    assert rows["head"][0][:2] == x.shape and rows["head"][1][0] == n_deep  # shallow head all, deep head few


def test_counted_work():
    d, f, L, e, v, t, n = 64, 4, 4, 2, 1000, 32, 100
    full = ee.inference_flops(d, f, L, e, v, t, n, 0, "full")
    assert full == pytest.approx(n * flops_per_token(d, L, v, t, f, 2))
    # everyone exits, token-local deep layers: only the shallow model's work
    assert ee.inference_flops(d, f, L, e, v, t, n, n, "skip", "token") == pytest.approx(
        n * flops_per_token(d, e, v, t, f, 1))
    # state propagation adds two d x d projections per exited token and deep layer
    assert ee.inference_flops(d, f, L, e, v, t, n, n, "skip", "propagate") == pytest.approx(
        n * flops_per_token(d, e, v, t, f, 1) + n * (L - e) * 4 * d * d)


def test_confidence_measures_match_lash_evaluate():
    logits = torch.randn(7, 30, generator=torch.Generator().manual_seed(3))
    got = ee.confidences(logits, ee.MEASURES)
    for m in ee.MEASURES:
        assert torch.equal(got[m], confidence_from_logits(logits, m))


def test_split_stats_route_like_lash_evaluate(model):
    g = torch.Generator().manual_seed(4)
    batches = [(torch.randint(0, V, (2, 8), generator=g), torch.randint(0, V, (2, 8), generator=g))
               for _ in range(3)]
    stats = ee.collect_exit_stats(model, batches, E, ("max_prob",))
    ref = collect_token_stats(model, batches, exits=[E, 4])
    thr = ref.confidence[E].median().item()
    mine, theirs = routed_metrics(stats.token_stats(), E, thr), routed_metrics(ref, E, thr)
    for key in ("ppl", "acc", "shallow_fraction", "compute_fraction_layers"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-6), key


def test_calibration_by_hand():
    conf = torch.tensor([0.9, 0.8, 0.8, 0.3])
    ce_sh = torch.tensor([1.0, 0.0, 3.0, 5.0])
    ce_deep = torch.tensor([1.0, 2.0, 1.0, 1.0])
    # deep only: mean CE 5/4. Exit the top k: k=1 -> 5/4; k=2 would split the tied 0.8s (not allowed);
    # k=3 -> (5 + 0 - 2 + 2)/4 = 5/4; k=4 -> (5 + 4)/4 = 9/4.
    cal = ee.calibrate_threshold(conf, ce_sh, ce_deep, budget=0.0)
    assert cal["threshold"] == pytest.approx(0.8) and cal["exit_fraction"] == 0.75
    assert cal["ppl"] == pytest.approx(math.exp(5 / 4)) and cal["ppl_full"] == pytest.approx(math.exp(5 / 4))
    assert exit_mask(conf, cal["threshold"]).sum() == 3
    assert ee.calibrate_threshold(conf, ce_sh, ce_deep, budget=math.exp(1) - 1 + 1e-6)["exit_fraction"] == 1.0
    worse = ee.calibrate_threshold(conf, ce_sh + 10, ce_deep, budget=0.01)
    assert worse["threshold"] == 1.0 and worse["exit_fraction"] == 0.0
    # a confidence of exactly 1.0 can never be a threshold (1.0 means "no exit")
    assert ee.calibrate_threshold(torch.tensor([1.0, 0.5]), torch.zeros(2), torch.ones(2))["threshold"] == 0.5


@pytest.mark.parametrize("mode", ["full", "skip"])
@pytest.mark.parametrize("batch", [1, 3])
def test_generation_at_threshold_one_is_plain_greedy_decoding(model, mode, batch):
    prompt = torch.randint(0, V, (batch, 5), generator=torch.Generator().manual_seed(5))
    out = ee.generate(model, prompt, 12, E, 1.0, mode=mode)
    assert torch.equal(out.tokens, ee.greedy_reference(model, prompt, 12))
    assert not out.exited.any()


def test_generation_at_threshold_zero_is_the_shallow_model(model):
    prompt = torch.randint(0, V, (3, 5), generator=torch.Generator().manual_seed(6))
    shallow = copy.deepcopy(model)
    shallow.blocks = shallow.blocks[:E]
    for ctx in ("propagate", "token"):
        out = ee.generate(model, prompt, 10, E, 0.0, mode="skip", deep_context=ctx)
        assert torch.equal(out.tokens, ee.greedy_reference(shallow, prompt, 10))
        assert out.exited.all() and out.n_deep_rows == 3  # only the prompt ran the deep layers


def test_mixed_generation_counts_deep_rows(model):
    prompt = torch.randint(0, V, (4, 5), generator=torch.Generator().manual_seed(7))
    ref = ee.generate(model, prompt, 10, E, 1.0, mode="full")
    thr = ref.confidence.median().item()
    for ctx in ("propagate", "token"):
        out = ee.generate(model, prompt, 10, E, thr, mode="skip", deep_context=ctx)
        assert 0 < out.exited.sum() < out.exited.numel()
        # every generated token after the first that did not exit ran the deep layers, plus the prompt
        assert out.n_deep_rows == 4 + int((~out.exited[:, 1:]).sum())
        assert torch.equal(out.exited, exit_mask(out.confidence, thr))


def test_token_local_generation_matches_token_local_teacher_forcing(model):
    # With token-local deep layers a generated token's logits do not depend on earlier exits, so
    # re-scoring the generated sequence teacher-forced reproduces every choice.
    prompt = torch.randint(0, V, (2, 4), generator=torch.Generator().manual_seed(8))
    ref = ee.generate(model, prompt, 8, E, 1.0, mode="full", deep_context="token")
    thr = ref.confidence.median().item()
    out = ee.generate(model, prompt, 8, E, thr, mode="skip", deep_context="token")
    tf = ee.full_inference(model, out.tokens[:, :-1], E, thr, deep_context="token")
    assert torch.equal(tf.logits[:, 3:].argmax(-1), out.tokens[:, 4:])
    assert torch.equal(tf.exited[:, 3:], out.exited)


def test_bench_rows_have_the_required_fields(monkeypatch, tmp_path):
    from lash import bench_early_exit as bench
    from lash.cli import main

    monkeypatch.setattr(bench, "MODELS", {"ashem": (dict(dim=32, n_heads=4, n_layers=4), 2, 300)})
    threads = torch.get_num_threads()
    try:
        out = tmp_path / "bench.json"
        assert main(["bench", "early-exit", "--smoke", "--repeats", "1", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    import json

    result = json.loads(out.read_text())
    rows = result["rows"]
    assert {(r["mode"], r["batch"]) for r in rows} >= {("full", 1), ("skip", 1), ("full", 32), ("skip", 32),
                                                       ("generate_full", 1), ("generate_skip", 32)}
    for r in rows:
        assert {"mode", "batch", "threshold", "exit_fraction", "speedup_ideal", "speedup_measured"} <= set(r)
        assert 0.0 <= r["exit_fraction"] <= 1.0
    assert all(r["speedup_ideal"] > 1 for r in rows if r["mode"] == "skip")
    assert result["machine"]["cpu"]["torch_threads"] == 1
