import math

import pytest
import torch

from lash.config import ModelConfig
from lash.evaluate import (
    TokenStats,
    collect_token_stats,
    confidence_from_logits,
    exit_metrics,
    expected_calibration_error,
    flops_per_token,
    routed_metrics,
)
from lash.model import LashTransformer


@pytest.fixture(scope="module")
def model_and_batches():
    torch.manual_seed(0)
    model = LashTransformer(ModelConfig(n_layers=3), 13)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randint(0, 13, (4, 8), generator=g), torch.randint(0, 13, (4, 8), generator=g))
               for _ in range(3)]
    return model, batches


def test_threshold_one_equals_the_full_model_and_zero_equals_the_exit(model_and_batches):
    model, batches = model_and_batches
    stats = collect_token_stats(model, batches)
    full, shallow = exit_metrics(stats, 3), exit_metrics(stats, 1)
    at_one = routed_metrics(stats, 1, 1.0)
    at_zero = routed_metrics(stats, 1, 0.0)
    assert at_one["ppl"] == full["ppl"] and at_one["acc"] == full["acc"]
    assert at_one["shallow_fraction"] == 0.0 and at_one["compute_fraction_layers"] == 1.0
    assert at_zero["ppl"] == shallow["ppl"] and at_zero["acc"] == shallow["acc"]
    assert at_zero["compute_fraction_layers"] == pytest.approx(1 / 3)
    # and the full model's PPL is exp(mean CE) of a plain forward pass
    ce = torch.cat([torch.nn.functional.cross_entropy(model(x).reshape(-1, 13), y.reshape(-1), reduction="none")
                    for x, y in batches])
    assert full["ppl"] == pytest.approx(math.exp(ce.double().mean().item()), rel=1e-6)


def test_routing_picks_per_token_and_counts_layers_per_batch():
    # Two batches of 2 tokens; exit 1 of 2 layers. Confidences 0.9, 0.2 | 0.95, 0.99.
    stats = TokenStats(
        ce={1: torch.tensor([1.0, 2.0, 3.0, 4.0]), 2: torch.tensor([10.0, 20.0, 30.0, 40.0])},
        correct={1: torch.tensor([True, False, True, True]), 2: torch.tensor([False, True, False, False])},
        max_prob={1: torch.tensor([0.9, 0.2, 0.95, 0.99]), 2: torch.full((4,), 0.5)},
        confidence={1: torch.tensor([0.9, 0.2, 0.95, 0.99]), 2: torch.full((4,), 0.5)},
        batch_index=torch.tensor([0, 0, 1, 1]), n_layers=2)
    r = routed_metrics(stats, 1, 0.9)
    assert r["ppl"] == pytest.approx(math.exp((1 + 20 + 3 + 4) / 4))
    assert r["acc"] == 1.0
    assert r["shallow_fraction"] == 0.75
    # batch 0: (1*1 + 1*2)/(2*2) = 0.75; batch 1: (2*1)/(2*2) = 0.5; mean 0.625
    assert r["compute_fraction_layers"] == pytest.approx(0.625)


def test_ece_by_hand():
    conf = torch.tensor([0.05, 0.15, 0.95, 0.85])
    correct = torch.tensor([False, True, True, False])
    # 10 bins: [0,.1): conf .05 acc 0; [.1,.2): .15 vs 1; [.8,.9): .85 vs 0; [.9,1]: .95 vs 1
    expected = (0.05 + 0.85 + 0.85 + 0.05) / 4
    assert expected_calibration_error(conf, correct, bins=10) == pytest.approx(expected)


def test_confidence_measures():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]]))
    torch.testing.assert_close(confidence_from_logits(logits, "max_prob"), torch.tensor([0.7, 1 / 3]))
    torch.testing.assert_close(confidence_from_logits(logits, "margin"), torch.tensor([0.5, 0.0]), atol=1e-6, rtol=0)
    ent = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    torch.testing.assert_close(confidence_from_logits(logits, "entropy"),
                               torch.tensor([1 - ent / math.log(3), 0.0]), atol=1e-6, rtol=0)


def test_flops_fraction_counts_the_head():
    cfg = ModelConfig(dim=64, n_layers=4)
    stats = TokenStats(ce={2: torch.zeros(2), 4: torch.zeros(2)},
                       correct={2: torch.ones(2, dtype=torch.bool), 4: torch.ones(2, dtype=torch.bool)},
                       max_prob={2: torch.tensor([0.9, 0.1]), 4: torch.ones(2)},
                       confidence={2: torch.tensor([0.9, 0.1]), 4: torch.ones(2)},
                       batch_index=torch.zeros(2, dtype=torch.long), n_layers=4)
    r = routed_metrics(stats, 2, 0.5, cfg, vocab_size=33_278, seq_len=32)
    full = flops_per_token(64, 4, 33_278, 32)
    expected = 0.5 * flops_per_token(64, 2, 33_278, 32) / full + 0.5 * flops_per_token(64, 4, 33_278, 32, 4, 2) / full
    assert r["compute_fraction_flops"] == pytest.approx(expected)
    assert r["compute_fraction_layers"] == pytest.approx(0.75)
    # with a 33k vocabulary the head dominates: half the tokens exiting saves far less than 25 %
    assert r["compute_fraction_flops"] > 0.95
