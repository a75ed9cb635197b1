import torch

from lash.config import ModelConfig
from lash.model import LashTransformer, RMSNorm, expected_num_parameters


def make(n_layers=3, vocab=30, dim=64, heads=4, seed=0):
    torch.manual_seed(seed)
    return LashTransformer(ModelConfig(dim=dim, n_layers=n_layers, n_heads=heads), vocab)


def test_parameter_count_matches_the_published_formula():
    # PAPER_SPEC: 65,664 per block at dim 64, plus 128 * V; 3L/V=30 -> 200,832; 1L -> 69,504.
    assert make(3, 30).num_parameters() == 200_832
    assert make(1, 30).num_parameters() == 69_504
    assert expected_num_parameters(64, 4, 69_830) == 9_200_896
    assert expected_num_parameters(32, 4, 30) == 67_712  # the threshold-sweep model


def test_exits_share_one_head_and_run_only_needed_blocks():
    model = make()
    x = torch.randint(0, 30, (2, 10))
    hidden = model.hidden_states(x)
    out = model.forward_exits(x, [1, 3])
    assert set(out) == {1, 3}
    torch.testing.assert_close(out[1], model.head(hidden[1]))
    torch.testing.assert_close(out[3], model(x))
    calls = []
    model.blocks[2].register_forward_hook(lambda *a: calls.append(1))
    model.forward_exits(x, [2])
    assert calls == []  # block 3 is never run for an exit at layer 2


def test_causal_future_tokens_do_not_change_the_past():
    model = make()
    x = torch.randint(0, 30, (1, 12))
    y = x.clone()
    y[0, 8:] = (y[0, 8:] + 1) % 30
    torch.testing.assert_close(model(x)[:, :8], model(y)[:, :8])


def test_rmsnorm_against_manual_formula():
    norm = RMSNorm(4)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 1.0]))
    x = torch.tensor([[3.0, -1.0, 2.0, 0.0]])
    rms = ((9 + 1 + 4 + 0) / 4 + 1e-6) ** 0.5
    expected = torch.tensor([[3 / rms, -2 / rms, 1 / rms, 0.0]])
    torch.testing.assert_close(norm(x), expected)


def test_post_norm_block_outputs_have_unit_rms():
    model = make()
    h = model.hidden_states(torch.randint(0, 30, (2, 7)))
    rms = h[2].pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), atol=1e-4, rtol=0)


def test_kv_cache_step_matches_full_forward():
    model = make()
    x = torch.randint(0, 30, (1, 9))
    block = model.blocks[0]
    h = model.embed(x)
    cos, sin = model.rope(torch.arange(9))
    full, _ = block(h, cos, sin)
    first, kv = block(h[:, :6], cos[:6], sin[:6])
    rest, _ = block(h[:, 6:], cos[6:], sin[6:], past_kv=kv)
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-5)


def test_initialisation_follows_the_original():
    model = make(dim=64)
    w = model.blocks[0].attn.wq.weight
    assert abs(w.std().item() - 1 / 8) < 0.01
    assert abs(model.embed.weight.std().item() - 0.02) < 0.002
    assert torch.all(model.blocks[0].norm1.weight == 1)
