import math

import pytest
import torch

from lash.config import AlphaScheduleConfig, ModelConfig, resolve_config
from lash.model import LashTransformer
from lash.train import (
    DivergenceError,
    TrainingTask,
    alpha_at,
    build_optimizer,
    train_model,
    weighted_exit_loss,
    weights_for_epoch,
)


def manual_ce(logits, targets):
    """Mean cross-entropy by hand: log-sum-exp minus the target logit."""
    total = 0.0
    for row, t in zip(logits.tolist(), targets.tolist(), strict=False):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[t]
    return total / len(targets)


def test_weighted_loss_is_the_unnormalised_sum_of_exit_ce():
    torch.manual_seed(0)
    logits = {k: torch.randn(1, 5, 7) for k in (1, 2, 3)}
    y = torch.randint(0, 7, (1, 5))
    ce = {k: manual_ce(logits[k][0], y[0]) for k in (1, 2, 3)}
    loss = weighted_exit_loss(logits, y, {1: 0.7, 2: 1.0, 3: 0.3})
    assert loss.item() == pytest.approx(0.7 * ce[1] + 1.0 * ce[2] + 0.3 * ce[3], rel=1e-5)
    norm = weighted_exit_loss(logits, y, {1: 0.7, 2: 1.0, 3: 0.3}, normalize=True)
    assert norm.item() == pytest.approx((0.7 * ce[1] + 1.0 * ce[2] + 0.3 * ce[3]) / 2.0, rel=1e-5)


def test_zero_weight_exits_contribute_nothing_and_all_zero_falls_back_to_last():
    torch.manual_seed(1)
    logits = {k: torch.randn(2, 3, 5) for k in (1, 2, 3)}
    y = torch.randint(0, 5, (2, 3))
    a = weighted_exit_loss(logits, y, {1: 0.5, 2: 0.0, 3: 0.5})
    b = weighted_exit_loss({1: logits[1], 3: logits[3]}, y, {1: 0.5, 3: 0.5})
    assert a.item() == b.item()
    last = weighted_exit_loss(logits, y, {1: 0, 2: 0, 3: 0})
    assert last.item() == pytest.approx(manual_ce(logits[3].reshape(-1, 5), y.reshape(-1)), rel=1e-5)


def test_optimizer_has_one_group_per_layer_with_scaled_lr():
    model = LashTransformer(ModelConfig(n_layers=3), 30)
    opt = build_optimizer(model, 1e-3, {1: 1.0, 2: 0.5, 3: 0.1})
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"embed+head": 1e-3, "layer1": 1e-3, "layer2": 5e-4, "layer3": 1e-4})
    assert all(g["weight_decay"] == 0.01 for g in opt.param_groups)
    n_opt = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n_opt == model.num_parameters()
    missing = build_optimizer(model, 1e-3, {2: 0.5})
    assert [g["lr"] for g in missing.param_groups] == pytest.approx([1e-3, 1e-3, 5e-4, 1e-3])


def test_lr_scale_changes_the_size_of_the_first_adam_step():
    # Adam's first step moves each weight by about lr: a layer at scale 0.1 moves 10x less.
    torch.manual_seed(0)
    model = LashTransformer(ModelConfig(n_layers=2), 11)
    before = [p.detach().clone() for p in model.blocks.parameters()]
    opt = build_optimizer(model, 1e-2, {1: 1.0, 2: 0.1}, weight_decay=0.0)
    x = torch.randint(0, 11, (2, 8))
    torch.nn.functional.cross_entropy(model(x).reshape(-1, 11), x.reshape(-1)).backward()
    opt.step()
    moves = [(p - b).abs().max().item() for p, b in zip(model.blocks.parameters(), before, strict=False)]
    n1 = len(list(model.blocks[0].parameters()))
    assert max(moves[:n1]) == pytest.approx(1e-2, rel=1e-3)
    assert max(moves[n1:]) == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("kind,epoch,expected", [
    ("constant", 10, 0.9),
    ("linear", 0, 0.9), ("linear", 49, 0.5), ("linear", 7, 0.9 - 0.4 * 7 / 49),
    ("cosine", 0, 0.9), ("cosine", 49, 0.5), ("cosine", 24.5, 0.7),
])
def test_alpha_schedules_match_the_original_formulas(kind, epoch, expected):
    sched = AlphaScheduleConfig(type=kind, start=0.9, end=0.5)
    assert alpha_at(sched, epoch, 50) == pytest.approx(expected)


def test_step_schedule_and_horizon():
    sched = AlphaScheduleConfig(type="step", start=0.9, end=0.5, steps=[2, 4, 6, 8])
    assert [round(alpha_at(sched, e, 50), 6) for e in range(10)] == [0.9, 0.9, 0.8, 0.8, 0.7, 0.7, 0.6, 0.6, 0.5, 0.5]
    short = AlphaScheduleConfig(type="linear", start=0.9, end=0.5, epochs=5)
    assert alpha_at(short, 4, 50) == pytest.approx(0.5)


def test_dynamic_alpha_sets_first_and_last_exit():
    cfg = resolve_config(preset="dynamic_alpha_linear", sets=["train.max_epochs=5"])
    assert weights_for_epoch(cfg, 0) == pytest.approx({1: 0.9, 2: 0.0, 3: 0.1})
    assert weights_for_epoch(cfg, 4) == pytest.approx({1: 0.5, 2: 0.0, 3: 0.5})


# --------------------------------------------------------------------------- the one training loop

class ScriptedTask(TrainingTask):
    """One weight w trained by SGD on the loss w (gradient 1, lr 0.1: w drops by 0.1 per batch, two
    batches per epoch); the validation PPL of each epoch is scripted."""

    name = "scripted task"

    def __init__(self, model, val_ppls, patience=2, max_epochs=6, restore_best=True, nan_loss_at=None):
        self.model, self.val_ppls, self.nan_loss_at = model, val_ppls, nan_loss_at
        self.lr_setting = ("train.lr", 0.1)
        self.max_epochs, self.patience, self.restore_best = max_epochs, patience, restore_best

    def build_optimizer(self):
        return torch.optim.SGD(self.model.parameters(), lr=0.1)

    def begin_epoch(self, epoch):
        self.epoch = epoch
        return [1, 2]

    def batch_loss(self, batch):
        loss = self.model.weight.sum()
        if (self.epoch, batch) == self.nan_loss_at:
            loss = loss * float("nan")
        return loss, loss.item

    def validate(self, epoch):
        return {"validation": {"ppl": self.val_ppls[epoch]}, "epoch_seen": epoch}


def _one_weight():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    return model


def test_the_loop_stops_early_restores_the_best_epoch_and_keeps_the_task_history():
    cfg = resolve_config(smoke=True)
    model = _one_weight()
    result = train_model(model, None, cfg, task=ScriptedTask(model, [5.0, 4.0, 6.0, 7.0, 3.0]))
    # best 4.0 after epoch 2; epochs 3 and 4 are worse: patience 2 stops after epoch 4
    assert (result.best_epoch, result.epochs_run, result.stopped_early) == (2, 4, True)
    assert model.weight.item() == pytest.approx(1.0 - 0.4, abs=1e-6)  # the weights of epoch 2, not of epoch 4
    assert [e["epoch"] for e in result.history] == [1, 2, 3, 4]
    assert [e["epoch_seen"] for e in result.history] == [0, 1, 2, 3]  # validate() gets 0-indexed epochs
    # the history's loss is the mean of the two batches' losses before each step: (w + (w - 0.1)) / 2
    assert [e["train_loss"] for e in result.history] == pytest.approx([0.95, 0.75, 0.55, 0.35], abs=1e-6)  # float32 w
    kept = _one_weight()
    train_model(kept, None, cfg, task=ScriptedTask(kept, [5.0, 4.0, 6.0, 7.0], restore_best=False))
    assert kept.weight.item() == pytest.approx(1.0 - 0.8, abs=1e-6)  # the original: the last epoch's weights


def test_a_non_finite_training_loss_stops_the_run_naming_epoch_batch_and_fix():
    cfg = resolve_config(smoke=True)
    model = _one_weight()
    with pytest.raises(DivergenceError) as err:
        train_model(model, None, cfg, task=ScriptedTask(model, [5.0] * 6, nan_loss_at=(1, 2)))
    message = str(err.value)
    assert "training loss is nan at epoch 2, batch 2 of 2" in message and "scripted task" in message
    assert "Fix: lower train.lr (now 0.1)" in message and "train.grad_clip" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_validation_metric_stops_the_run(bad):
    cfg = resolve_config(smoke=True)
    model = _one_weight()
    with pytest.raises(DivergenceError) as err:
        train_model(model, None, cfg, task=ScriptedTask(model, [5.0, bad, 4.0]))
    assert f"validation metric validation.ppl is {bad} after epoch 2" in str(err.value)
    assert "Fix:" in str(err.value)
