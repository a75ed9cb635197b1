"""Tests of lash.data: corpora, digests, tokenizers, vocabularies and batch schemes (PAPER_SPEC section 2)."""

import hashlib
import math
import os
import sys
import types
from collections import Counter

import pytest
import torch
from conftest import WIKITEXT_DIR as WIKI_DIR

from lash import data as D
from lash import offline
from lash.config import DataConfig, SyntheticConfig

# CI always has ../shared beside the clone: there a missing corpus fails instead of skipping.
needs_wiki = pytest.mark.skipif(
    not all((WIKI_DIR / f"{s}.txt").is_file() for s in D.SPLITS) and not os.environ.get("CI"),
    reason=f"local WikiText-2 copy not found at {WIKI_DIR}; set LASH_DATA_DIR",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No test sees another's cache entries or the developer's LASH_DATA_DIR."""
    monkeypatch.delenv("LASH_DATA_DIR", raising=False)
    saved = dict(D._CACHE)
    yield
    D._CACHE.clear()
    D._CACHE.update(saved)


# --------------------------------------------------------------------------- fallback (D1)

def test_fallback_char_pipeline_matches_original():
    texts = D.fallback_texts(100_000, 10_000)
    assert set(texts) == {"train", "validation"}
    assert len(texts["train"]) == 100_000 and len(texts["validation"]) == 10_000
    assert texts["train"].startswith(D.FALLBACK_TRAIN_SENTENCE * 2)
    toks = {s: D.tokenize(t, "char") for s, t in texts.items()}
    vocab = D.build_vocab([toks["train"], toks["validation"]], "char", "train+validation")
    assert len(vocab) == 30 and vocab.unk_id is None
    assert vocab.itos[:4] == [" ", ".", "A", "T"]

    for split, n_batches in (("train", 48), ("validation", 4)):
        ids = torch.tensor(vocab.encode(toks[split]))
        b = D.Batches(ids, seq_len=64, batch_size=32, scheme="contiguous")
        batches = b.epoch(0)
        assert len(b) == len(batches) == n_batches
        assert b.n_tokens == n_batches * 32 * 64
        for k, (x, y) in enumerate(batches):
            assert x.shape == y.shape == (32, 64) and x.dtype == torch.long
            start = k * 32 * 64
            assert torch.equal(x.reshape(-1), ids[start:start + 32 * 64])
            assert torch.equal(y.reshape(-1), ids[start + 1:start + 32 * 64 + 1])
        # no shuffling: the same order every epoch
        assert all(torch.equal(a[0], c[0]) for a, c in zip(batches, b.epoch(5), strict=False))


def test_prepare_data_original_protocol_fallback():
    cfg = DataConfig(corpus="fallback", vocab_from="train+validation", test_size=0)
    prep = D.prepare_data(cfg, seed=42)
    assert len(prep.vocab) == 30
    assert (len(prep.train), len(prep.validation), prep.test) == (48, 4, None)
    assert prep.digests["source_digest_verified"] is False
    with pytest.raises(D.DataError, match="char"):
        D.prepare_data(DataConfig(corpus="fallback", level="word"), seed=42)


# --------------------------------------------------------------------------- tokenizers and vocab

def test_tokenize_round_trips():
    text = "Hello  wörld .\n A second line"
    assert D.detokenize(D.tokenize(text, "char"), "char") == text
    words = D.tokenize(text, "word")
    assert words == ["Hello", "wörld", ".", "A", "second", "line"]
    assert D.detokenize(words, "word") == " ".join(text.split())
    assert D.tokenize(text, "word", lowercase=True)[0] == "hello"
    assert D.tokenize("AbC", "char", lowercase=True) == ["a", "b", "c"]


def test_vocab_encode_decode_and_unknowns():
    train = D.tokenize("abcab ba", "char")
    vocab = D.build_vocab([train], "char", "train")
    assert vocab.itos[0] == "<unk>" and vocab.unk_id == 0
    assert vocab.decode(vocab.encode(train)) == train
    assert vocab.decode(torch.tensor(vocab.encode(train))) == train
    assert vocab.encode(list("az")) == [vocab.stoi["a"], 0]  # unseen "z" -> <unk>

    strict = D.build_vocab([train], "char", "train+validation")
    with pytest.raises(D.DataError, match="no <unk>"):
        strict.encode(["z"])

    words = D.build_vocab([["the", "<unk>", "cat"], ["the", "dog"]], "word", "full_train+validation")
    assert words.itos == ["<unk>", "<pad>", "the", "cat", "dog"]
    assert words.encode(["cat", "bird"]) == [3, 0]
    words_train = D.build_vocab([["the", "<unk>", "cat"]], "word", "train")
    assert words_train.itos == ["<unk>", "the", "cat"]


# --------------------------------------------------------------------------- WikiText-2

@needs_wiki
def test_local_wikitext_digests_match_source_md():
    texts = D.load_wikitext2("local", str(WIKI_DIR))
    for split in D.SPLITS:
        assert D.token_stream_digest(texts[split]) == D.WIKITEXT2_TOKEN_DIGESTS[split]
    assert len(texts["train"].split()) == 2_051_910
    # cached: a second call returns the same strings without re-reading
    assert D.load_wikitext2("local", str(WIKI_DIR))["train"] is texts["train"]


@needs_wiki
def test_exact_text_digests_are_the_files_of_source_md():
    """The constants are the sha256 of the files SOURCE.md lists (its table), i.e. of the exact text."""
    source_md = (WIKI_DIR / "SOURCE.md").read_text(encoding="utf-8")
    for split in D.SPLITS:
        file_digest = hashlib.sha256((WIKI_DIR / f"{split}.txt").read_bytes()).hexdigest()
        assert D.WIKITEXT2_TEXT_DIGESTS[split] == file_digest
        assert f"| {split}.txt |" in source_md and f"`{file_digest}`" in source_md
    texts = D.load_wikitext2("local", str(WIKI_DIR), exact=True)
    assert D.text_digest(texts["test"]) == D.WIKITEXT2_TEXT_DIGESTS["test"]


def _copy_with(tmp_path, split: str, change) -> str:
    """A data directory whose `split` is changed by `change(text)`, the other splits linked to the real ones."""
    for other in D.SPLITS:
        if other != split:
            (tmp_path / f"{other}.txt").symlink_to(WIKI_DIR / f"{other}.txt")
    text = (WIKI_DIR / f"{split}.txt").read_text(encoding="utf-8")
    changed = change(text)
    assert changed != text and D.token_stream_digest(changed) == D.token_stream_digest(text)
    (tmp_path / f"{split}.txt").write_text(changed, encoding="utf-8")
    return str(tmp_path)


@needs_wiki
@pytest.mark.parametrize("split,change", [
    ("validation", lambda t: t.replace(" ", "\t")),
    ("test", lambda t: "".join(line.rstrip(" \n") + "\n" for line in t.splitlines(keepends=True))),
], ids=["tabs-for-spaces", "trailing-spaces-stripped"])
def test_same_tokens_other_characters_are_refused_at_char_level_only(tmp_path, split, change):
    path = _copy_with(tmp_path, split, change)
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", path, exact=True)
    msg = str(err.value)
    assert f"'{split}'" in msg and path in msg and "exact characters" in msg and "Fix:" in msg
    assert D.WIKITEXT2_TEXT_DIGESTS[split] in msg
    # a word-level model reads the same tokens: the same directory is fine for it
    assert D.token_stream_digest(D.load_wikitext2("local", path)[split]) == D.WIKITEXT2_TOKEN_DIGESTS[split]
    with pytest.raises(D.DataError, match="exact characters"):  # and the cache does not hide it later
        D.prepare_data(DataConfig(data_dir=path), seed=0)


@needs_wiki
def test_a_correct_copy_is_accepted_exactly(tmp_path):
    for split in D.SPLITS:
        (tmp_path / f"{split}.txt").write_bytes((WIKI_DIR / f"{split}.txt").read_bytes())
    prep = D.prepare_data(DataConfig(data_dir=str(tmp_path)), seed=0)
    # the first N characters (not bytes: the text has non-ASCII letters) of each split, as UTF-8
    expected = {s: hashlib.sha256((WIKI_DIR / f"{s}.txt").read_bytes().decode("utf-8")[:n].encode()).hexdigest()
                for s, n in (("train", 100_000), ("validation", 10_000), ("test", 10_000))}
    assert prep.digests["char_sha256"] == expected
    assert prep.digests["source_digest_verified"] is True


def test_char_digests_are_of_what_the_model_reads():
    cfg = DataConfig(corpus="fallback", vocab_from="train+validation", test_size=0, lowercase=True)
    prep = D.prepare_data(cfg, seed=0)
    texts = D.fallback_texts(100_000, 10_000)
    assert prep.digests["char_sha256"] == {
        s: hashlib.sha256(texts[s].lower().encode()).hexdigest() for s in ("train", "validation")}
    word = D.prepare_data(DataConfig(corpus="synthetic", level="word", train_size=2048, val_size=1024,
                                     test_size=0, seq_len=8, batch_size=4), seed=0)
    assert "char_sha256" not in word.digests  # a word model's input is its token stream


@needs_wiki
def test_altered_train_split_is_rejected(tmp_path):
    train = (WIKI_DIR / "train.txt").read_text(encoding="utf-8")
    (tmp_path / "train.txt").write_text(train.replace(" Valkyria ", " Walkyria ", 1), encoding="utf-8")
    for split in ("validation", "test"):
        (tmp_path / f"{split}.txt").symlink_to(WIKI_DIR / f"{split}.txt")
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", str(tmp_path))
    msg = str(err.value)
    assert "'train'" in msg and "digest" in msg and D.WIKITEXT2_TOKEN_DIGESTS["train"] in msg


def test_data_dir_that_is_not_a_directory_says_what_it_is(tmp_path):
    a_file = tmp_path / "wikitext.zip"
    a_file.write_bytes(b"PK")
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", str(a_file))
    assert "is not a directory" in str(err.value) and "does not exist" not in str(err.value)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", str(loop))
    assert "symbolic links" in str(err.value) and "does not exist" not in str(err.value)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    with pytest.raises(D.DataError, match="symbolic link to .*gone, which does not exist"):
        D.load_wikitext2("local", str(dangling))


def _split_dir(tmp_path, make_train) -> str:
    for split in ("validation", "test"):
        (tmp_path / f"{split}.txt").write_text(" = x = \n", encoding="utf-8")
    make_train(tmp_path / "train.txt")
    return str(tmp_path)


def test_a_fifo_split_is_refused_without_blocking(tmp_path):
    path = _split_dir(tmp_path, os.mkfifo)  # open() would wait for a writer forever
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", path)
    assert "train.txt is not a regular file" in str(err.value) and "Fix:" in str(err.value)


def test_a_split_that_is_not_utf8_is_refused(tmp_path):
    path = _split_dir(tmp_path, lambda p: p.write_bytes(b" = Valkyria = \n\xff\xfe latin-1 \xe9\n"))
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", path)
    msg = str(err.value)
    assert str(tmp_path / "train.txt") in msg and "not UTF-8" in msg and "0xff at offset 15" in msg
    assert "Fix: replace train.txt" in msg


def test_required_splits_and_too_small_splits_have_a_fix():
    with pytest.raises(D.DataError, match="data.train_size is 0.*Fix:"):
        D.prepare_data(DataConfig(corpus="synthetic", level="word", train_size=0), seed=0)
    with pytest.raises(D.DataError, match="too few for one batch of 32 x 64. Fix:"):
        D.prepare_data(DataConfig(corpus="synthetic", level="word", val_size=100), seed=0)


def test_missing_directory_names_both_fixes(tmp_path):
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("local", str(tmp_path / "nowhere"))
    msg = str(err.value)
    assert "data.data_dir" in msg and "LASH_DATA_DIR" in msg and "Hugging Face hub" in msg
    with pytest.raises(D.DataError, match="LASH_DATA_DIR"):  # local without any directory
        D.load_wikitext2("local", None)


def test_env_dir_selects_local_in_auto_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("LASH_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(D.DataError, match="does not exist"):
        D.load_wikitext2("auto")


def _fake_datasets(monkeypatch, load_dataset):
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))


def _hub_reachable(monkeypatch, reachable: bool):
    monkeypatch.setattr(offline, "hub_unreachable_reason",
                        lambda timeout=5.0: None if reachable else "huggingface.co:443: Name or service not known")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "LASH_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def test_hub_failing_after_the_probe_names_data_dir_first(monkeypatch):
    def fails(*args, **kwargs):
        raise ConnectionError("no network\nretry 1\nretry 2")

    _hub_reachable(monkeypatch, True)
    _fake_datasets(monkeypatch, fails)
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("auto")
    msg = str(err.value)
    assert msg.startswith("no data.data_dir is set") and "retry" not in msg  # one line of the cause
    assert "data.data_dir" in msg and "LASH_DATA_DIR" in msg and "Hugging Face hub" in msg and "Fix:" in msg
    assert isinstance(err.value.__cause__, ConnectionError)


def test_unreachable_hub_is_given_up_before_loading(monkeypatch):
    """No network: no call into the Hugging Face libraries (whose retries take ~30 s), data_dir first."""
    calls = []
    _hub_reachable(monkeypatch, False)
    _fake_datasets(monkeypatch, lambda *a, **k: calls.append(a))
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("auto")
    msg = str(err.value)
    assert calls == []
    assert msg.startswith("no data.data_dir is set") and "cannot be reached" in msg and "huggingface.co" in msg
    assert "LASH_DATA_DIR" in msg and "--offline" in msg and "Fix:" in msg


def test_offline_mode_skips_the_probe_and_reads_only_the_cache(monkeypatch):
    probed = []
    monkeypatch.setattr(offline, "hub_unreachable_reason", lambda timeout=5.0: probed.append(1))
    monkeypatch.setenv("LASH_OFFLINE", "1")

    def no_cached_copy(*args, **kwargs):
        raise FileNotFoundError("not in the cache")

    _fake_datasets(monkeypatch, no_cached_copy)
    with pytest.raises(D.DataError) as err:
        D.load_wikitext2("hub")
    assert probed == [] and "--offline" in str(err.value) and "data.data_dir" in str(err.value)


def test_hub_probe_reports_an_unknown_host(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://no-such-host.invalid:8443")
    assert offline.hub_address() == ("no-such-host.invalid", 8443)
    reason = offline.hub_unreachable_reason(timeout=5.0)
    assert reason is not None and reason.startswith("no-such-host.invalid:8443")


def _hub_rows(split: str) -> list[str]:
    """The hub's rows: the file lines, with blank rows as "" instead of " \\n"."""
    text = (WIKI_DIR / f"{split}.txt").read_text(encoding="utf-8")
    return ["" if line == " \n" else line for line in text.splitlines(keepends=True)]


@needs_wiki
def test_hub_rows_verify_like_the_files(monkeypatch):
    """Both digests (token stream and exact text) hold for the hub's rows reassembled."""
    rows = {s: _hub_rows(s) for s in D.SPLITS}
    _hub_reachable(monkeypatch, True)
    _fake_datasets(monkeypatch, lambda name, config: {s: {"text": r} for s, r in rows.items()})
    texts = D.load_wikitext2("hub", exact=True)
    assert texts["validation"] == (WIKI_DIR / "validation.txt").read_text(encoding="utf-8")


@needs_wiki
def test_prepare_data_wikitext_char_default():
    prep = D.prepare_data(DataConfig(data_dir=str(WIKI_DIR)), seed=42)
    assert prep.test is not None
    assert (len(prep.train), len(prep.validation), len(prep.test)) == (48, 4, 4)
    assert prep.vocab.itos[0] == "<unk>" and len(prep.vocab) > 30
    assert prep.info["source"] == f"local:{WIKI_DIR}"
    assert prep.info["sizes"] == {"train": 100_000, "validation": 10_000, "test": 10_000}
    assert prep.digests["source_digest_verified"] is True and prep.entropy_rate is None


@needs_wiki
def test_prepare_data_wikitext_word_original_vocab():
    cfg = DataConfig(data_dir=str(WIKI_DIR), level="word", lowercase=True,
                     vocab_from="full_train+validation", train_size=330_000, val_size=66_000,
                     test_size=0, seq_len=32, batch_size=64)
    prep = D.prepare_data(cfg, seed=42)
    assert len(prep.vocab) >= 28_000
    assert prep.vocab.itos[:2] == ["<unk>", "<pad>"]
    assert (len(prep.train), len(prep.validation), prep.test) == (161, 32, None)


def test_too_small_split_raises():
    cfg = DataConfig(corpus="fallback", vocab_from="train+validation", test_size=0, val_size=100)
    with pytest.raises(D.DataError, match="validation"):
        D.prepare_data(cfg, seed=0)


# --------------------------------------------------------------------------- batch schemes (D2)

def test_contiguous_and_chunk_counts_at_d2_sizes():
    ids = torch.arange(330_000) % 1000
    assert len(D.Batches(ids, 32, 64, "contiguous")) == 161
    assert len(D.Batches(ids[:66_000], 32, 64, "contiguous")) == 32

    chunks = D.Batches(ids, 32, 64, "chunks", shuffle_seed=7)
    assert chunks.n_sequences == 10_000 and chunks.n_tokens == 320_000
    batches = chunks.epoch(0)
    assert len(chunks) == len(batches) == 157
    assert batches[-1][0].shape == (10_000 - 156 * 64, 32)  # last partial batch kept
    x, y = batches[0]
    assert torch.equal((x[:, 1:]), y[:, :-1])  # y is x shifted by one inside each chunk
    assert len(D.Batches(ids, 32, 64, "chunks", drop_last=True)) == 156


def test_chunk_shuffling_is_deterministic_and_per_epoch():
    ids = torch.arange(33 * 100)
    a = D.Batches(ids, 32, 8, "chunks", shuffle_seed=3)
    b = D.Batches(ids, 32, 8, "chunks", shuffle_seed=3)
    first = lambda batches: torch.cat([x[:, 0] for x, _ in batches])  # noqa: E731
    assert torch.equal(first(a.epoch(0)), first(b.epoch(0)))
    assert not torch.equal(first(a.epoch(0)), first(a.epoch(1)))
    assert sorted(first(a.epoch(1)).tolist()) == list(range(0, 3300, 33))  # a permutation
    unshuffled = D.Batches(ids, 32, 8, "chunks")
    assert first(unshuffled.epoch(4)).tolist() == list(range(0, 3300, 33))


# --------------------------------------------------------------------------- synthetic Markov source

def test_synthetic_is_deterministic_and_split():
    cfg = SyntheticConfig(vocab_size=16, zipf_s=1.1, seed=5)
    sizes = {"train": 1000, "validation": 200, "test": 200}
    t1, h1 = D.synthetic_markov(cfg, sizes)
    t2, h2 = D.synthetic_markov(cfg, sizes)
    assert t1 == t2 and h1 == h2
    assert {s: len(t.split()) for s, t in t1.items()} == sizes
    assert t1["train"].split("\n")[0].count(" ") == 63  # 64 symbols per line
    assert set(t1["train"].split()) <= {f"s{i}" for i in range(16)}
    t3, _ = D.synthetic_markov(SyntheticConfig(vocab_size=16, zipf_s=1.1, seed=6), sizes)
    assert t3 != t1


def test_synthetic_entropy_rate_matches_counts():
    cfg = SyntheticConfig()  # V = 48
    texts, rate = D.synthetic_markov(cfg, {"train": 300_000})
    assert 0 < rate < math.log(cfg.vocab_size)
    toks = texts["train"].split()
    pairs = Counter(zip(toks, toks[1:], strict=False))
    firsts = Counter(toks[:-1])
    n = len(toks) - 1
    empirical = -sum(c / n * math.log(c / firsts[a]) for (a, _), c in pairs.items())
    assert abs(empirical - rate) < 0.05


def test_prepare_data_synthetic_smoke_sizes():
    cfg = DataConfig(corpus="synthetic", level="word", train_size=16_384, val_size=4_096,
                     test_size=4_096, seq_len=32, batch_size=16)
    prep = D.prepare_data(cfg, seed=1)
    assert prep.entropy_rate is not None and prep.entropy_rate > 0
    assert len(prep.vocab) <= cfg.synthetic.vocab_size + 1
    assert prep.info["sizes"] == {"train": 16_384, "validation": 4_096, "test": 4_096}
    assert prep.info["source"] == "generated"
    char = D.prepare_data(DataConfig(corpus="synthetic", level="char"), seed=1)
    assert char.info["sizes"]["train"] == 100_000 and char.entropy_rate < prep.entropy_rate
