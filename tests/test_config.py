import json
import logging
import os

import numpy as np
import pytest
import torch
import yaml

from lash.config import (
    PRESETS,
    PROTOCOLS,
    WHOLE_MAPPINGS,
    ConfigError,
    RunConfig,
    StrictYAMLError,
    choices,
    deep_merge,
    did_you_mean,
    flatten_overrides,
    load_strict,
    load_yaml,
    parse_set,
    resolve_config,
    validate,
)
from lash.seeding import available_cores, warn_if_oversubscribed


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


# --------------------------------------------------------------------------- the strict YAML loader

@pytest.mark.parametrize("text,words", [
    ("train:\n  lr: 0.1\nmodel:\n  dim: 32\ntrain:\n  max_epochs: 2\n",
     ["'train' is given twice", "line 1, column 1 and line 5, column 1"]),
    ("train: {lr: 0.1, lr: 0.2}\n", ["'lr' is given twice"]),
    ("layer_weights: {1: 0.7, 1.0: 0.3}\n", ["1.0 is given twice"]),  # equal keys in Python
    ("name: &a [x, x]\nother: *a\n", ["anchors and aliases", "line 1, column 7"]),
    ("a: &lol [lol]\n", ["anchors and aliases (&lol, *lol)"]),
    ("name: x\n<<: {seed: 3}\n", ["merge keys (<<)"]),
])
def test_strict_loader_refuses_what_safe_load_would_silently_resolve(text, words):
    with pytest.raises(StrictYAMLError) as info:
        load_strict(text)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert info.value.fix


def test_strict_loader_is_safe_load_otherwise():
    text = "train: {lr: 0.5, steps: [1, 2]}\nlayer_weights: {1: 0.7, '2': .nan}\nname: null\n"
    strict, plain = load_strict(text), yaml.safe_load(text)
    assert strict.keys() == plain.keys() and strict["train"] == plain["train"] and strict["name"] is None
    with pytest.raises(yaml.YAMLError):
        load_strict("!!python/object/apply:os.system ['true']")


def test_alias_bomb_is_refused_at_once(tmp_path):
    """Nine levels of nine aliases: 9**9 strings for safe_load; the loader stops at the first anchor."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: &n x\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_yaml(bomb)
    assert info.value.field == "CONFIG" and str(bomb) in str(info.value) and "aliases" in str(info.value)
    with pytest.raises(ConfigError, match="aliases"):
        resolve_config(sets=["name=[&a [x, x], *a]"])


# --------------------------------------------------------------------------- declarations and the walk

def test_choices_are_read_from_the_declarations():
    assert choices("eval.confidence") == ("max_prob", "margin", "entropy")
    assert choices("data.batching") == ("contiguous", "chunks")
    assert choices("train.alpha_schedule.type") == ("constant", "linear", "cosine", "step")
    assert choices("protocol") == tuple(PROTOCOLS)  # the overlays exist for exactly the declared protocols
    assert choices("preset") == tuple(PRESETS)
    for not_a_choice in ("train.lr", "nonsense", "train.nonsense"):
        with pytest.raises(KeyError):
            choices(not_a_choice)
    got, message = error_field(sets=["data.batching=chunk"])
    assert got == "data.batching" and "['contiguous', 'chunks']" in message


@pytest.mark.parametrize("word,suggestion", [
    ("asymetric", "asymmetric"), ("deep_supervison", "deep_supervision"), ("zzzz", None)])
def test_did_you_mean(word, suggestion):
    hint = did_you_mean(word, PRESETS)
    assert hint == (f"; did you mean {suggestion!r}?" if suggestion else "")


@pytest.mark.parametrize("kwargs,field,words", [
    ({"preset": "asymetric"}, "preset", ["unknown preset 'asymetric'; did you mean 'asymmetric'?"]),
    ({"sets": ["protocol=orignal"]}, "protocol", ["did you mean 'original'?"]),
    ({"sets": ["trian.lr=1"]}, "trian", ["unknown key; did you mean 'train'?"]),
    ({"sets": ["model.n_layer=2"]}, "model.n_layer", ["did you mean 'n_layers'?"]),
    ({"sets": ["data.corpus=wikitext"]}, "data.corpus", ["did you mean 'wikitext2'?"]),
])
def test_unknown_names_suggest_the_closest(kwargs, field, words):
    got, message = error_field(**kwargs)
    assert got == field
    for word in words:
        assert word in message, message


def test_layer_keys_must_be_integers_but_json_digit_strings_work():
    cfg = resolve_config(sets=['layer_weights={"1": 0.7, "2": 0, "3": 0.3}'])
    assert cfg.layer_weights == {1: 0.7, 2: 0.0, 3: 0.3} and all(type(k) is int for k in cfg.layer_weights)
    for bad, words in [("{1: 0.7, 1.5: 0.3, 3: 1}", "key 1.5 is not a layer number"),
                       ("{1.0: 1}", "key 1.0"), ("{true: 1}", "key True"), ("{'1x': 1}", "'1x'"),
                       ('{"1": 0.7, 1: 0.3}', "layer 1 is given twice")]:
        got, message = error_field(sets=[f"layer_weights={bad}"])
        assert got == "layer_weights" and words in message, message


@pytest.mark.parametrize("sets,field,word", [
    (["layer_weights={1: .nan, 3: 1}"], "layer_weights[1]", "nan is not a finite number"),
    (["layer_lr_scales={1: .inf, 2: 1, 3: 1}"], "layer_lr_scales[1]", "inf"),
    (["layer_weights={1: 1e999999, 3: 1}"], "layer_weights[1]", "'1e999999'"),  # YAML 1.1: a string
    ([f"layer_weights={{1: {10**400}, 3: 1}}"], "layer_weights[1]", "not a finite number"),
    (["train.lr=.inf"], "train.lr", "inf"),
    (["train.weight_decay=.inf"], "train.weight_decay", "inf"),
    (["train.grad_clip=.nan"], "train.grad_clip", "nan"),
    (["model.rope_base=0"], "model.rope_base", "must be >= 1, got 0"),
    (["model.rope_base=-10000.0"], "model.rope_base", "-10000.0"),
    (["routing_threshold=.nan"], "routing_threshold", "nan"),
    (["eval.sweep_thresholds=[0.5, .nan]"], "eval.sweep_thresholds", "nan"),
    (["train.alpha_schedule={type: linear, start: .nan}"], "train.alpha_schedule.start", "nan"),
    (["ashem.hard_ratio=.nan"], "ashem.hard_ratio", "nan"),
    (["ashem.calibration_budget=.inf"], "ashem.calibration_budget", "inf"),
    (["data.synthetic.zipf_s=.nan"], "data.synthetic.zipf_s", "nan"),
    (["model.max_seq_len=100000000"], "model.max_seq_len", "[1, 65536]"),
    (["model.dim=1000000"], "model.dim", "[1, 8192]"),
    (["model.n_layers=1000"], "model.n_layers", "1000"),
    (["data.batch_size=10000000"], "data.batch_size", "10000000"),
    (["data.seq_len=0"], "data.seq_len", "0 is outside [1, 65536]"),
    (["data.synthetic.vocab_size=100000"], "data.synthetic.vocab_size", "[2, 4096]"),
    (["data.train_size=0"], "data.train_size", "0 is outside"),
    (["data.test_size=-1"], "data.test_size", "-1"),
    (["train.max_epochs=1000000"], "train.max_epochs", "1000000"),
    (["train.threads=0"], "train.threads", "0"),
    (["train.threads=100000"], "train.threads", "100000"),
])
def test_floats_are_finite_and_sizes_bounded(sets, field, word):
    got, message = error_field(sets=sets)
    assert got == field and word in message, message


@pytest.mark.parametrize("sets,field", [
    (["protocol=[original]"], "protocol"),
    (["preset={a: 1}"], "preset"),
    (["name=[1, 2]"], "name"),
    (["name=7"], "name"),
    (["name=''"], "name"),
    (["train.device=5"], "train.device"),
    (["train.device=gpu"], "train.device"),
    (["data.data_dir=5"], "data.data_dir"),
    (["data.data_dir=''"], "data.data_dir"),
    (["train.alpha_schedule={type: step, steps: [1.5]}"], "train.alpha_schedule.steps"),
    (["train.alpha_schedule={type: step, steps: 3}"], "train.alpha_schedule.steps"),
    (["data.synthetic.vocab_size=many"], "data.synthetic.vocab_size"),
    (["data.synthetic=null"], "data.synthetic"),
    (["data=3"], "data"),
    (["data.lowercase=1"], "data.lowercase"),
    (["eval.confidence=3"], "eval.confidence"),
    (["a..b=1"], "a..b"),
])
def test_every_field_type_is_checked_before_use(sets, field):
    got, message = error_field(sets=sets)
    assert got == field, message


def test_a_name_is_a_plain_string(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text('name: "two\\nlines"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve_config(load_yaml(path))
    assert info.value.field == "name" and "printable" in str(info.value)
    assert resolve_config(sets=["name=run-7 (α=0.7)"]).name == "run-7 (α=0.7)"


@pytest.mark.parametrize("seed,ok", [(0, True), (2**63 - 1, True), (-1, False), (2**63, False)])
def test_seed_bounds_are_what_torch_and_numpy_accept(seed, ok):
    if ok:
        assert resolve_config(seed=seed).seed == seed
        torch.manual_seed(seed)
        np.random.default_rng(seed)
    else:
        got, message = error_field(seed=seed)
        assert got == "seed" and str(seed) in message
    torch.manual_seed(0)


def test_cuda_device_is_checked_against_this_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    got, message = error_field(sets=["train.device=cuda"])
    assert got == "train.device" and "no CUDA device" in message and "train.device=cpu" in message
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_config(sets=["train.device=cuda:1"]).train.device == "cuda:1"
    got, message = error_field(sets=["train.device=cuda:2"])
    assert got == "train.device" and "2 CUDA device(s)" in message and "cuda:0 .. cuda:1" in message


def test_threads_beyond_the_cores_are_a_warning_not_an_error(caplog):
    cores = available_cores()
    assert resolve_config(sets=[f"train.threads={cores + 1}"]).train.threads == cores + 1
    with caplog.at_level(logging.WARNING, logger="lash.seeding"):
        warn_if_oversubscribed(cores, "train.threads")
        assert caplog.records == []
        warn_if_oversubscribed(cores + 1, "train.threads")
    (record,) = caplog.records
    assert f"train.threads={cores + 1}" in record.getMessage() and "Fix" in record.getMessage()


def test_every_default_meets_its_own_declaration():
    validate(RunConfig())
    for name in PRESETS:
        for protocol in PROTOCOLS:
            validate(resolve_config(preset=name, sets=[f"protocol={protocol}"], smoke=True))


def test_config_file_must_be_a_regular_utf8_file(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, words in [(latin1, "not UTF-8 text (byte 0xe9 at offset 9)"), (tmp_path, "not a regular file"),
                        (fifo, "not a regular file")]:
        with pytest.raises(ConfigError) as info:
            load_yaml(path)
        assert str(path) in str(info.value) and words in str(info.value)
