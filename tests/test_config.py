import json

import pytest

from lash.config import (PRESETS, WHOLE_MAPPINGS, ConfigError, deep_merge, flatten_overrides, parse_set,
                         resolve_config)


def error_field(**kwargs):
    with pytest.raises(ConfigError) as info:
        resolve_config(**kwargs)
    assert "Fix:" in str(info.value)
    return info.value.field, str(info.value)


@pytest.mark.parametrize("sets,field", [
    (["routing_threshold=1.5"], "routing_threshold"),
    (["routing_threshold=-0.1"], "routing_threshold"),
    (["layer_weights={1: 0.7, 9: 0.3}"], "layer_weights"),
    (["layer_weights={1: -0.7, 3: 0.3}"], "layer_weights[1]"),
    (["layer_weights={1: 0, 2: 0, 3: 0}"], "layer_weights"),
    (["layer_weights={}"], "layer_weights"),
    (["layer_weights=[0.7, 0.3]"], "layer_weights"),
    (["layer_weights={one: 0.7}"], "layer_weights"),
    (["layer_lr_scales={1: 1.0, 2: 0, 3: 0.1}"], "layer_lr_scales[2]"),
    (["layer_lr_scales={1: 1.0, 5: 0.5}"], "layer_lr_scales"),
    (["train.lr=0"], "train.lr"),
    (["train.max_epochs=0"], "train.max_epochs"),
    (["train.patience=0"], "train.patience"),
    (["train.colour=blue"], "train.colour"),
    (["nonsense=1"], "nonsense"),
    (["data.corpus=wikitext103"], "data.corpus"),
    (["data.level=byte"], "data.level"),
    (["data.val_size=0"], "data.val_size"),
    (["data.seq_len=2048"], "data.seq_len"),
    (["model.n_heads=5"], "model.n_heads"),
    (["model.dim=abc"], "model.dim"),
    (["eval.exit_layer=4"], "eval.exit_layer"),
    (["eval.confidence=vibes"], "eval.confidence"),
    (["protocol=improved"], "protocol"),
    (["train"], "train"),
])
def test_bad_values_name_the_field(sets, field):
    got, message = error_field(sets=sets)
    assert got == field, message
    assert f"`{field}`" in message


def test_unknown_preset_lists_the_known_ones():
    got, message = error_field(preset="no-such-preset")
    assert got == "preset" and "asymmetric" in message


def test_every_preset_resolves_and_validates():
    for name in PRESETS:
        cfg = resolve_config(preset=name)
        assert cfg.name == name and cfg.preset == name


def test_merge_order_and_core_options_replace_whole():
    cfg = resolve_config({"train": {"lr": 0.5}, "layer_weights": {1: 1, 3: 1}}, preset="asymmetric",
                         sets=["train.max_epochs=7", "layer_weights={1: 0.2, 3: 0.8}"], seed=3)
    assert cfg.train.lr == 0.5 and cfg.train.max_epochs == 7 and cfg.seed == 3
    assert cfg.layer_weights == {1: 0.2, 3: 0.8}  # replaced, not merged with the preset's {2: 0}
    assert cfg.routing_threshold == 0.95  # from the preset


def test_protocols_differ_where_the_paper_says():
    orig = resolve_config(sets=["protocol=original"])
    corr = resolve_config()
    assert orig.data.corpus == "fallback" and orig.train.restore_best is False and orig.data.test_size == 0
    assert corr.data.corpus == "wikitext2" and corr.train.restore_best is True


def test_data_dir_from_environment(monkeypatch):
    monkeypatch.setenv("LASH_DATA_DIR", "/some/where")
    assert resolve_config().data.data_dir == "/some/where"
    assert resolve_config(sets=["data.data_dir=/else"]).data.data_dir == "/else"


def test_parse_set_builds_nested_mappings():
    assert parse_set("train.max_epochs=3") == {"train": {"max_epochs": 3}}
    assert parse_set("layer_weights={1: 0.7, 2: 0, 3: 0.3}") == {"layer_weights": {1: 0.7, 2: 0, 3: 0.3}}


# --------------------------------------------------------------------------- merge and flatten

def test_flatten_overrides_keeps_whole_mappings_whole():
    overrides = {"protocol": "corrected", "train": {"lr": 0.5, "alpha_schedule": {"type": "step", "steps": [2]}},
                 "layer_weights": {1: 0.7, 3: 0.3}, "layer_lr_scales": {1: 1.0, 2: 0.5},
                 "ashem": {"freeze": "soft", "soft_lr_scales": {1: 0.1, 2: 0.2, 3: 0.5, 4: 1.0}}}
    assert flatten_overrides(overrides) == [
        ("protocol", "corrected"), ("train.lr", 0.5), ("train.alpha_schedule.type", "step"),
        ("train.alpha_schedule.steps", [2]), ("layer_weights", {1: 0.7, 3: 0.3}),
        ("layer_lr_scales", {1: 1.0, 2: 0.5}), ("ashem.freeze", "soft"),
        ("ashem.soft_lr_scales", {1: 0.1, 2: 0.2, 3: 0.5, 4: 1.0})]
    assert flatten_overrides({}) == [] and flatten_overrides({"train": {}}) == []


def test_flattened_overrides_arrive_whole_through_set_as_the_workflow_passes_them():
    """The workflow turns a variant into `--set key=<json>`; the soft LR scales must arrive whole
    (four separate `--set ashem.soft_lr_scales.N=` would have left only the last)."""
    variant = {"ashem": {"freeze": "soft", "soft_lr_scales": {1: 0.1, 2: 0.2, 3: 0.5, 4: 1.0}},
               "layer_weights": {1: 0.7, 2: 0, 3: 0.3}}
    sets = [f"{key}={json.dumps(value)}" for key, value in flatten_overrides(variant)]
    cfg = resolve_config(sets=sets)
    assert cfg.ashem.soft_lr_scales == {1: 0.1, 2: 0.2, 3: 0.5, 4: 1.0}
    assert cfg.layer_weights == {1: 0.7, 2: 0.0, 3: 0.3}


def test_deep_merge_replaces_exactly_the_whole_mappings():
    base = {"layer_weights": {1: 0, 2: 0, 3: 1}, "ashem": {"soft_lr_scales": {1: 0.01, 4: 1.0}, "head": "x"},
            "train": {"lr": 1, "patience": 3}}
    merged = deep_merge(base, {"layer_weights": {3: 0.5}, "ashem": {"soft_lr_scales": {2: 0.2}},
                               "train": {"lr": 2}})
    assert merged == {"layer_weights": {3: 0.5}, "ashem": {"soft_lr_scales": {2: 0.2}, "head": "x"},
                      "train": {"lr": 2, "patience": 3}}
    assert base["train"]["lr"] == 1  # a copy
    assert WHOLE_MAPPINGS == {"layer_weights", "layer_lr_scales", "ashem.soft_lr_scales"}
