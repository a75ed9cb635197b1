"""The fast training path (fused kernels, chunked head + cross-entropy) against the reference path."""

import pytest
import torch
import torch.nn.functional as F

from lash.config import ConfigError, ModelConfig, resolve_config
from lash.fused import linear_cross_entropy
from lash.model import LashTransformer
from lash.train import build_optimizer, training_loss, weighted_exit_loss


def make(n_layers=3, vocab=50, dim=32, heads=4, seed=0):
    torch.manual_seed(seed)
    return LashTransformer(ModelConfig(dim=dim, n_layers=n_layers, n_heads=heads), vocab)


def grads(loss, params):
    return torch.autograd.grad(loss, params)


@pytest.mark.parametrize("chunk_rows", [None, 1, 7, 64])
def test_chunked_linear_cross_entropy_matches_full_logits(chunk_rows):
    torch.manual_seed(0)
    n, d, v = 90, 16, 300
    w = torch.randn(v, d, requires_grad=True)
    h1, h2 = torch.randn(n, d, requires_grad=True), torch.randn(n, d, requires_grad=True)
    y = torch.randint(0, v, (n,))
    ref = 0.7 * F.cross_entropy(h1 @ w.t(), y) + 1.3 * F.cross_entropy(h2 @ w.t(), y)
    out = linear_cross_entropy([h1, h2], w, y, [0.7, 1.3], chunk_rows=chunk_rows)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # a non-unit upstream gradient is applied too
    for a, b in zip(grads(2.5 * out, [w, h1, h2]), grads(2.5 * ref, [w, h1, h2]), strict=False):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        assert a.is_contiguous()


def test_chunked_cross_entropy_survives_huge_and_tiny_logits():
    # exp without max subtraction would overflow (logits ~ +-1000): the chunk is redone stably
    torch.manual_seed(1)
    w = torch.randn(40, 8, requires_grad=True)
    h = (torch.randn(12, 8) * 300).requires_grad_()
    y = torch.randint(0, 40, (12,))
    ref = F.cross_entropy(h @ w.t(), y)
    out = linear_cross_entropy([h], w, y, [1.0], chunk_rows=5)
    assert torch.isfinite(out)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    for a, b in zip(grads(out, [w, h]), grads(ref, [w, h]), strict=False):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy([h], w, y, [1.0]), ref.detach(), rtol=1e-5, atol=1e-4)


def test_fast_blocks_match_reference_blocks():
    model = make()
    x = torch.randint(0, 50, (3, 17))
    ref = model.exit_hidden(x, [1, 2, 3], fast=False)
    fast = model.exit_hidden(x, [1, 2, 3], fast=True)
    assert set(fast) == {1, 2, 3}
    for k in ref:
        torch.testing.assert_close(fast[k], ref[k], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.head(fast[3]), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weights,normalize", [
    ({1: 0.7, 2: 0.0, 3: 0.3}, False),
    ({1: 0.7, 2: 1.0, 3: 0.3}, True),
    ({1: 0.0, 2: 0.0, 3: 1.0}, False),
    ({1: 0.0, 2: 0.0, 3: 0.0}, False),  # all zero -> last layer
    ({1: 0.0, 2: 0.5, 3: 0.0}, False),  # block 3 is not run
])
def test_fast_training_loss_and_grads_match_reference(weights, normalize):
    model = make()
    params = [p for p in model.parameters()]
    x, y = torch.randint(0, 50, (4, 24)), torch.randint(0, 50, (4, 24))
    ref = training_loss(model, x, y, weights, normalize, kernels="reference")
    fast = training_loss(model, x, y, weights, normalize, kernels="fast")
    by_hand = weighted_exit_loss(model.forward_exits(x, [1, 2, 3]), y, weights, normalize)
    torch.testing.assert_close(fast, by_hand, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)
    g_ref = torch.autograd.grad(ref, params, allow_unused=True)
    g_fast = torch.autograd.grad(fast, params, allow_unused=True)
    for (name, _), a, b in zip(model.named_parameters(), g_fast, g_ref, strict=False):
        if b is None:
            assert a is None or torch.all(a == 0), name
            continue
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


def test_fast_training_steps_are_deterministic():
    def run():
        torch.use_deterministic_algorithms(True)
        model = make(vocab=200)
        opt = build_optimizer(model, 1e-3, None)
        g = torch.Generator().manual_seed(3)
        losses = []
        for _ in range(3):
            x, y = torch.randint(0, 200, (4, 16), generator=g), torch.randint(0, 200, (4, 16), generator=g)
            loss = training_loss(model, x, y, {1: 0.7, 2: 0.0, 3: 0.3})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        return losses, [p.detach().clone() for p in model.parameters()]

    la, pa = run()
    lb, pb = run()
    assert la == lb
    assert all(torch.equal(a, b) for a, b in zip(pa, pb, strict=False))


def test_kernels_option_is_validated():
    assert resolve_config(sets=[]).train.kernels == "fast"
    assert resolve_config(sets=["train.kernels=reference"]).train.kernels == "reference"
    with pytest.raises(ConfigError):
        resolve_config(sets=["train.kernels=turbo"])


def test_make_step_gives_the_workload_loss():
    from lash.bench import make_step

    wl = {"V": 40, "dim": 32, "layers": 2, "heads": 4, "seq": 8, "batch": 3, "weights": {1: 0.25, 2: 0.75}}
    model, loss_fn = make_step(wl)
    x, y = torch.randint(0, 40, (3, 8)), torch.randint(0, 40, (3, 8))
    expected = weighted_exit_loss(model.forward_exits(x, [1, 2]), y, {1: 0.25, 2: 0.75})
    torch.testing.assert_close(loss_fn(x, y), expected, rtol=1e-5, atol=1e-6)


def test_bench_train_reports_each_contender_and_per_round_ratios(monkeypatch, tmp_path):
    """`lash bench train` end to end on a tiny workload: every contender timed every round, the
    ratios are per-round medians with quartiles, and both files are written."""
    import json

    from lash import bench
    from lash.cli import main

    monkeypatch.setitem(bench.WORKLOADS, "tiny", {"V": 50, "dim": 16, "layers": 2, "heads": 2, "seq": 8,
                                                  "batch": 2, "weights": {1: 0.5, 2: 0.5}})
    out, md = tmp_path / "b.json", tmp_path / "b.md"
    assert main(["bench", "train", "--workload", "tiny", "--rounds", "3", "--steps", "1", "--no-llama",
                 "--threads", str(torch.get_num_threads()), "-q", "--out", str(out), "--md", str(md)]) == 0
    report = json.loads(out.read_text())["workloads"]["tiny"]
    assert set(report["contenders"]) == {"lash_fast", "lash_reference", "head_products"}
    assert all(len(c["step_ms_all"]) == 3 for c in report["contenders"].values())
    fast = report["contenders"]["lash_fast"]
    assert fast["tokens_per_s"] == pytest.approx(16 / (fast["step_ms"] / 1e3))
    ratio = report["speedup"]["fast_vs_reference"]
    reference = report["contenders"]["lash_reference"]["step_ms_all"]
    per_round = [r / f for f, r in zip(fast["step_ms_all"], reference, strict=True)]
    assert ratio["median"] == pytest.approx(sorted(per_round)[1])
    assert ratio["q1"] <= ratio["median"] <= ratio["q3"]
    assert "head products only" in md.read_text() and "fast_vs_llama" not in report["speedup"]


def test_bench_train_refuses_an_unwritable_out_before_timing(monkeypatch, tmp_path, capsys):
    from lash import bench
    from lash.cli import main

    monkeypatch.setattr(bench, "bench_workload", lambda *a, **k: pytest.fail("timing started"))
    assert main(["bench", "train", "--no-llama", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


# --------------------------------------------------------------------------- lash bench fast-path

@pytest.fixture
def torch_settings():
    """Restore the thread count and the determinism flag a benchmark sets for its process."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_timed_rounds_calls_each_contender_its_steps_in_a_shuffled_order():
    from lash.bench import timed_rounds

    calls, lines = [], []
    contenders = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    times = timed_rounds(contenders, 4, 2, warmup=1, before_round=lambda: calls.append("|") or ", extra",
                         log=lines.append, name="t")
    assert calls[:3] == ["a", "b", "c"]  # one untimed call each, in order
    rounds = "".join(calls[3:]).split("|")[1:]
    assert len(rounds) == 4 and all(sorted(r) == sorted("aabbcc") and r[::2] == r[1::2] for r in rounds)
    assert len({r[::2] for r in rounds}) > 1  # the order changes between rounds
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4, "c": 4}
    assert all(t >= 0 for v in times.values() for t in v)
    assert lines[0].startswith("t round 1/4: a ") and lines[-1].endswith(", extra")


def test_every_exit_step_computes_the_last_exit_loss_with_every_head():
    """The original's path before its fast path: the head after every block, the loss at the last exit
    only; the same model, loss and gradients as lash's path, whose head runs at the last exit only."""
    from lash.bench import make_every_exit_step, make_step

    wl = {"V": 40, "dim": 32, "layers": 3, "heads": 4, "seq": 8, "batch": 3, "weights": {1: 0.0, 2: 0.0, 3: 1.0}}
    every_model, every_loss = make_every_exit_step(wl)
    last_model, last_loss = make_step(wl, "reference")
    x, y = torch.randint(0, 40, (3, 8)), torch.randint(0, 40, (3, 8))
    calls = []
    every_model.head.register_forward_hook(lambda *a: calls.append("every"))
    last_model.head.register_forward_hook(lambda *a: calls.append("last"))
    la, lb = last_loss(x, y), every_loss(x, y)
    assert calls == ["last", "every", "every", "every"]
    assert torch.equal(la, lb)
    assert torch.equal(la, F.cross_entropy(last_model(x).reshape(-1, 40), y.reshape(-1)))
    ga, gb = grads(la, list(last_model.parameters())), grads(lb, list(every_model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ga, gb, strict=True))


def test_bench_fast_path_records_every_round_of_both_contenders(tmp_path, torch_settings):
    """`lash bench fast-path` end to end on a tiny vocabulary: the JSON holds the settings, the machine,
    each contender's per-round times and first-step loss (the same), and reads back as a claim record."""
    import json

    from lash.analysis.benches import read_bench, round_times
    from lash.cli import main

    out = tmp_path / "bench_fast_path.json"
    assert main(["bench", "fast-path", "--rounds", "1", "--steps", "1", "--vocab", "50", "-q",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "fast_path" and report["machine"]["torch_threads"] == 1
    s = report["settings"]
    assert s["workload"] == {"V": 50, "dim": 64, "layers": 3, "heads": 4, "seq": 32, "batch": 64,
                             "weights": {"1": 0.0, "2": 0.0, "3": 1.0}}
    assert (s["rounds"], s["steps_per_round"], s["threads"], s["kernels"]) == (1, 1, 1, "reference")
    c = report["contenders"]
    assert set(c) == {"last_exit_only", "every_exit"} and all(len(v["step_s"]) == 1 for v in c.values())
    assert c["last_exit_only"]["first_step_loss"] == c["every_exit"]["first_step_loss"]
    ratio = c["last_exit_only"]["step_s"][0] / c["every_exit"]["step_s"][0]
    assert report["ratio"] == pytest.approx({"median": ratio, "q1": ratio, "q3": ratio})
    prov = report["provenance"]  # as every run's
    assert {"git_sha", "git_dirty", "environment", "cpu", "wall_seconds", "argv"} <= set(prov)
    assert prov["threads"] == 1 and prov["wall_seconds"] > 0 and prov["environment"]["lock_sha256"]
    assert round_times(read_bench(out, "fast_path"), "fast_path", "every_exit").tolist() == c["every_exit"]["step_s"]
