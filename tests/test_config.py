import pytest

from lash.config import PRESETS, ConfigError, parse_set, resolve_config


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
