"""Bad inputs of `lash train` and the workflow, in one table; the contract each must meet (and its
machinery) is in tests/bad_inputs.py. Sibling files test_bad_inputs_*.py hold the other areas' cases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bad_inputs import CKPT_RUN, Ctx, Setup, assert_refused, clean_environment, train, trained_checkpoint

# pytest finds a fixture by its name in the test module: both are used by the cases below
FIXTURES = (clean_environment, trained_checkpoint)


def _unknown_key_in_yaml(ctx):
    cfg = ctx.file("run.yaml", "modle:\n  dim: 32\ntrain:\n  max_epochs: 1\n")
    return train(ctx, str(cfg), "--smoke", names=["`modle`", "unknown key", "model"])


def _wrong_type_int(ctx):
    return train(ctx, "--smoke", "--set", "train.max_epochs=three", names=["`train.max_epochs`", "'three'"])


def _wrong_type_bool(ctx):
    return train(ctx, "--smoke", "--set", "ashem.hard_reshuffle=maybe",
                 names=["`ashem.hard_reshuffle`", "'maybe'"])


def _negative_lr(ctx):
    return train(ctx, "--smoke", "--set", "train.lr=-0.001", names=["`train.lr`", "-0.001"])


def _hard_ratio_above_one(ctx):
    return train(ctx, "--smoke", "--set", "ashem.hard_ratio=1.5", names=["`ashem.hard_ratio`", "1.5"])


def _layer_weight_beyond_n_layers(ctx):
    return train(ctx, "--smoke", "--set", "model.n_layers=2", "--set", "layer_weights={1: 0.5, 3: 0.5}",
                 names=["`layer_weights`", "exit 3", "1..2", "model.n_layers"])


def _unknown_preset(ctx):
    # a typo: the message must list the real name
    return train(ctx, "--smoke", "--preset", "asymetric", names=["`preset`", "'asymetric'", "asymmetric"])


def _set_without_equals(ctx):
    return train(ctx, "--smoke", "--set", "train.lr", names=["`train.lr`", "key=value"])


def _set_value_not_yaml(ctx):
    return train(ctx, "--smoke", "--set", "layer_weights={1: 0.7", names=["`layer_weights`", "not valid YAML"])


def _yaml_file_not_found(ctx):
    missing = ctx.tmp / "no-such-run.yaml"
    return train(ctx, str(missing), "--smoke", names=[str(missing), "does not exist"])


def _yaml_file_malformed(ctx):
    cfg = ctx.file("broken.yaml", "train: {lr: 0.1\nmodel: [\n")
    return train(ctx, str(cfg), "--smoke", names=[str(cfg), "not valid YAML"])


def _yaml_file_not_a_mapping(ctx):
    cfg = ctx.file("list.yaml", "- train.lr=0.1\n- train.max_epochs=2\n")
    return train(ctx, str(cfg), "--smoke", names=[str(cfg), "mapping"])


def _local_source_without_directory(ctx):
    return train(ctx, "--set", "data.source=local", names=["data.source=local", "data.data_dir", "LASH_DATA_DIR"])


def _missing_data_directory(ctx):
    nowhere = ctx.tmp / "wikitext-nowhere"
    return train(ctx, "--set", "data.source=local", "--set", f"data.data_dir={nowhere}",
                 names=[str(nowhere), "does not exist", "data.data_dir"])


def _data_directory_missing_a_split(ctx):
    data = ctx.tmp / "wikitext-partial"
    data.mkdir()
    for split in ("train", "validation"):  # never hashed: reading test.txt fails first
        (data / f"{split}.txt").write_text(" = placeholder = \n", encoding="utf-8")
    return train(ctx, "--set", f"data.data_dir={data}", names=[str(data / "test.txt"), "cannot read"])


def _altered_validation_file(ctx):
    src, data = ctx.wikitext(), ctx.tmp / "wikitext-altered"
    data.mkdir()
    for split in ("train", "test"):
        shutil.copyfile(src / f"{split}.txt", data / f"{split}.txt")
    text = (src / "validation.txt").read_text(encoding="utf-8")
    altered = text.replace(" the ", " teh ", 1)  # one word changed
    assert altered != text
    (data / "validation.txt").write_text(altered, encoding="utf-8")
    return train(ctx, "--set", f"data.data_dir={data}", names=["'validation'", "digest", str(data)])


def _out_parent_is_a_file(ctx):
    blocker = ctx.file("blocker", "a regular file, not a directory\n")
    ctx.out = blocker / "sub" / "result.json"
    return train(ctx, "--smoke", names=[str(blocker), "--out"], unchanged=[blocker])


def _out_is_a_directory(ctx):
    ctx.out = ctx.tmp / "results-dir"
    ctx.out.mkdir()
    return train(ctx, "--smoke", names=[str(ctx.out), "is a directory"])


def _truncated_checkpoint(ctx):
    ckpt = ctx.checkpoint_copy()
    path = ckpt / "train.pt"
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    return train(ctx, *CKPT_RUN, "--checkpoint-dir", str(ckpt),
                 names=[str(path), "truncated or corrupt", "--checkpoint-dir"], unchanged=[path])


def _checkpoint_of_another_config(ctx):
    ckpt = ctx.checkpoint_copy()  # saved with the default train.lr=0.001
    return train(ctx, *CKPT_RUN, "--set", "train.lr=0.002", "--checkpoint-dir", str(ckpt),
                 names=["belongs to another run", "train.lr", "--checkpoint-dir"],
                 unchanged=[ckpt / "train.pt"])


def _checkpoint_of_another_tool(ctx):
    import torch

    ckpt = ctx.tmp / "foreign"
    ckpt.mkdir()
    torch.save({"a": 1}, ckpt / "train.pt")
    return train(ctx, *CKPT_RUN, "--checkpoint-dir", str(ckpt),
                 names=[str(ckpt / "train.pt"), "not a lash training checkpoint"],
                 unchanged=[ckpt / "train.pt"])


def _offline_with_hub_source(ctx):
    # A subprocess: --offline patches the socket module of the process it runs in. An empty HF_HOME
    # guarantees that no cached copy of the hub dataset can make the run succeed.
    setup = Setup(["--offline", "train", "--smoke", "--set", "data.corpus=wikitext2", "--set", "data.source=hub",
                   "--out", str(ctx.out)], ctx.out,
                  names=["Hugging Face hub", "--offline", "data.data_dir"], runner="subprocess",
                  env={"HF_HOME": str(ctx.tmp / "hf-home")})
    setup.drop_env = tuple(k for k in os.environ if k.startswith("HF_") or k in ("LASH_OFFLINE", "LASH_DATA_DIR"))
    return setup


def _workflow(ctx, bad: str, field_name: str):
    root = ctx.tmp / "workflow-out"
    return Setup(["-n", "--cores", "1", "--config", bad, f"output_root={root}"], None,
                 names=[field_name], runner="snakemake", absent=[root])


CASES = [
    pytest.param(_unknown_key_in_yaml, id="unknown-key-in-yaml"),
    pytest.param(_wrong_type_int, id="wrong-type-int"),
    pytest.param(_wrong_type_bool, id="wrong-type-bool"),
    pytest.param(_negative_lr, id="negative-lr"),
    pytest.param(_hard_ratio_above_one, id="hard-ratio-above-1"),
    pytest.param(_layer_weight_beyond_n_layers, id="layer-weight-beyond-n-layers"),
    pytest.param(_unknown_preset, id="unknown-preset"),
    pytest.param(_set_without_equals, id="set-without-equals"),
    pytest.param(_set_value_not_yaml, id="set-value-not-yaml"),
    pytest.param(_yaml_file_not_found, id="yaml-file-not-found"),
    pytest.param(_yaml_file_malformed, id="yaml-file-malformed"),
    pytest.param(_yaml_file_not_a_mapping, id="yaml-file-not-a-mapping"),
    pytest.param(_local_source_without_directory, id="local-source-without-data-dir"),
    pytest.param(_missing_data_directory, id="missing-data-directory"),
    pytest.param(_data_directory_missing_a_split, id="data-directory-missing-test-txt"),
    pytest.param(_altered_validation_file, id="altered-validation-txt"),
    pytest.param(_out_parent_is_a_file, id="out-parent-is-a-file"),
    pytest.param(_out_is_a_directory, id="out-is-a-directory"),
    pytest.param(_truncated_checkpoint, id="truncated-checkpoint"),
    pytest.param(_checkpoint_of_another_config, id="checkpoint-of-another-config"),
    pytest.param(_checkpoint_of_another_tool, id="checkpoint-of-another-tool"),
    pytest.param(_offline_with_hub_source, id="offline-with-hub-source"),
    pytest.param(lambda ctx: _workflow(ctx, "threads_per_run=0", "threads_per_run"),
                 id="workflow-threads-per-run-0"),
    pytest.param(lambda ctx: _workflow(ctx, "smoke=maybe", "smoke"),
                 id="workflow-smoke-not-boolean"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_input_is_refused_with_a_fix_and_no_partial_output(make, tmp_path, request, capsys):
    assert_refused(make(Ctx(tmp_path, request)), tmp_path, capsys)


def test_the_table_is_at_least_16_distinct_cases():
    ids = [p.id for p in CASES]
    assert len(ids) >= 16 and len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- the offline guard itself

def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LASH_OFFLINE"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_offline_switch_refuses_a_remote_host_before_any_lookup(tmp_path):
    proc = _python("from lash.offline import enable_offline; enable_offline(); import socket; "
                   "socket.create_connection(('example.com', 80))", tmp_path)
    assert proc.returncode != 0
    assert "OfflineError" in proc.stderr, proc.stderr
    assert "offline" in proc.stderr.split("OfflineError", 1)[1] and "Fix" in proc.stderr, proc.stderr
    assert "example.com" in proc.stderr


def test_offline_switch_still_lets_localhost_connect(tmp_path):
    proc = _python("""
        import socket
        from lash.offline import OfflineError, enable_offline

        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        enable_offline()
        assert socket._lash_offline
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn, _ = server.accept()
        client.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        for sock in (client, conn, server):
            sock.close()
        try:  # the same process still refuses a remote address given as a number (no lookup)
            socket.create_connection(("93.184.215.14", 80), timeout=10)
        except OfflineError as exc:
            print("refused:", exc)
        print("localhost ok")
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "localhost ok" in proc.stdout
    assert "refused:" in proc.stdout and "offline" in proc.stdout
