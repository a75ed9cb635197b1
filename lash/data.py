"""Corpora, tokenization, vocabularies and batching (PAPER_SPEC section 2).

Three corpora: real WikiText-2 (`wikitext-2-v1`, from a local directory or the Hugging Face hub, always
verified against the token-stream digests of /work/shared/data/wikitext-2/SOURCE.md, and for character
models against the digests of the exact text, since they read every character), the original
scripts' fallback sentences (what the EASE-era numbers were really measured on, D1), and a synthetic
Markov source whose entropy rate is known exactly (a floor for the achievable loss in smoke runs).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import stat
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import DataError

#: sha256 of " ".join(text.split()) per split; identical for the local files and the hub rows.
WIKITEXT2_TOKEN_DIGESTS: dict[str, str] = {
    "train": "650ee21e27ddce414df5456d40bc35ece9980fc7bc17c1b21789219bd3c123ce",
    "validation": "a6a8be740ca963ecb5b642aab48ac11eb02a006829c8adb93124183296a95aaa",
    "test": "d7ca54a4c3b6c583b6ec85b4c349260ea4660f38fd7bc47facd3b3aa06dcc9ff",
}
#: sha256 of each split's exact text (UTF-8) as read: what a character-level model sees. Equal to the
#: file digests of SOURCE.md, and to the hub's rows reassembled by _read_hub (byte-identical).
WIKITEXT2_TEXT_DIGESTS: dict[str, str] = {
    "train": "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
    "validation": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    "test": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
}
SPLITS = ("train", "validation", "test")
FALLBACK_TRAIN_SENTENCE = "The quick brown fox jumps over the lazy dog. "
FALLBACK_VAL_SENTENCE = "A quick brown dog runs in the park. "
UNK, PAD = "<unk>", "<pad>"

_NO_DATA_FIX = (
    "Fix: set data.data_dir (or --set data.data_dir=PATH, or env LASH_DATA_DIR) to a directory with "
    "train.txt, validation.txt, test.txt, or give this machine access to the Hugging Face hub "
    "(data.source=hub)."
)
# (source, absolute path[, "exact"]) -> verified split texts; hashing 13 MB once per process is enough.
_CACHE: dict[tuple[str, ...], dict[str, str]] = {}


def token_stream_digest(text: str) -> str:
    """sha256 of the whitespace tokens joined by single spaces (independent of line-ending details)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def text_digest(text: str) -> str:
    """sha256 of the exact characters (UTF-8): any changed, added or removed character changes it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replace_fix(split: str) -> str:
    return (f"Fix: replace {split}.txt with the verified wikitext-2-v1 copy (sha256 in SOURCE.md), or point "
            "data.data_dir at a directory that has it.")


# --------------------------------------------------------------------------- WikiText-2

def _resolve_source(source: str, data_dir: str | None) -> tuple[str, str]:
    data_dir = data_dir or os.environ.get("LASH_DATA_DIR") or None
    if source == "auto":
        source = "local" if data_dir else "hub"
    if source == "local":
        if not data_dir:
            raise DataError(f"data.source=local but no data directory is set. {_NO_DATA_FIX}")
        return "local", os.path.abspath(data_dir)
    if source == "hub":
        return "hub", ""
    raise DataError(f"unknown data.source {source!r}. Fix: use auto, local or hub")


def _check_directory(path: str) -> None:
    """data_dir must be a directory; say exactly what it is otherwise (missing, a file, a link loop)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise DataError(f"WikiText-2 directory {path} is a symbolic link to {os.readlink(path)}, which "
                            f"does not exist. {_NO_DATA_FIX}") from None
        raise DataError(f"WikiText-2 directory {path} does not exist. {_NO_DATA_FIX}") from None
    except OSError as exc:  # a symbolic link loop, no permission, a path through a file
        raise DataError(f"cannot open the WikiText-2 directory {path} ({exc.strerror}). {_NO_DATA_FIX}") from None
    if not stat.S_ISDIR(mode):
        raise DataError(f"data.data_dir {path} is not a directory. Fix: point data.data_dir (or LASH_DATA_DIR) "
                        "at the directory that holds train.txt, validation.txt and test.txt.")


def _read_split(path: str, split: str) -> str:
    """One split file, refused unless it is a regular UTF-8 file (stat first: opening a FIFO blocks)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror}). {_NO_DATA_FIX}") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path} is not a regular file (a directory, pipe or device). {_replace_fix(split)}")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}), "
                        f"so it is not wikitext-2-v1. {_replace_fix(split)}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror}). {_NO_DATA_FIX}") from exc


def _read_local(path: str) -> dict[str, str]:
    _check_directory(path)
    return {split: _read_split(os.path.join(path, f"{split}.txt"), split) for split in SPLITS}


def _read_hub() -> dict[str, str]:
    from .offline import hub_cache_only, hub_unreachable_reason, is_offline

    if not hub_cache_only():
        unreachable = hub_unreachable_reason()
        if unreachable:  # give up at once, before the Hugging Face libraries' retries
            raise DataError(f"no data.data_dir is set and the Hugging Face hub cannot be reached ({unreachable}), "
                            "so there is no WikiText-2 to read (with --offline, a copy already in the Hugging "
                            f"Face cache would be used). {_NO_DATA_FIX}")
    try:
        import datasets  # lazy: importing it is slow and only this path needs it

        ds = datasets.load_dataset("Salesforce/wikitext", "wikitext-2-v1")
        # The hub's blank rows are "" where the files have " \n"; restoring them makes the bytes equal.
        return {s: "".join(row if row else " \n" for row in ds[s]["text"]) for s in SPLITS}
    except Exception as exc:  # offline, missing package, renamed dataset: all mean "no data here"
        offline = (" (with --offline, only a copy already in the Hugging Face cache can be used)"
                   if is_offline() else "")
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        raise DataError(f"no data.data_dir is set and WikiText-2 could not be loaded from the Hugging Face "
                        f"hub{offline} ({reason}). {_NO_DATA_FIX}") from exc


def load_wikitext2(source: str = "auto", data_dir: str | None = None, exact: bool = False) -> dict[str, str]:
    """{"train", "validation", "test"} -> full split text, verified against WIKITEXT2_TOKEN_DIGESTS and,
    with `exact` (character-level models), against WIKITEXT2_TEXT_DIGESTS too. Never substitutes
    another text: a run labelled WikiText-2 must have read WikiText-2, character for character."""
    kind, path = _resolve_source(source, data_dir)
    key = (kind, path)
    where = path if kind == "local" else "the Hugging Face hub"
    if key not in _CACHE:
        texts = _read_local(path) if kind == "local" else _read_hub()
        _verify(texts, where, token_stream_digest, WIKITEXT2_TOKEN_DIGESTS, "token-stream digest",
                "the file is altered, truncated or a different variant (e.g. wikitext-2-raw-v1)")
        _CACHE[key] = texts
    if exact and key + ("exact",) not in _CACHE:
        # the token digests are blind to whitespace; a character model reads it
        _verify(_CACHE[key], where, text_digest, WIKITEXT2_TEXT_DIGESTS, "text digest",
                "its words are right but not its exact characters (e.g. tabs for spaces, trailing spaces "
                "stripped), and a character-level model reads every character")
        _CACHE[key + ("exact",)] = _CACHE[key]
    return dict(_CACHE[key])


def _verify(texts: dict[str, str], where: str, digest, expected: dict[str, str], kind: str, why: str) -> None:
    for split in SPLITS:
        actual = digest(texts[split])
        if actual != expected[split]:
            raise DataError(f"WikiText-2 split '{split}' from {where} has {kind} {actual}, expected "
                            f"{expected[split]} (wikitext-2-v1, see SOURCE.md): {why}. {_replace_fix(split)}")


def fallback_texts(train_size: int, val_size: int) -> dict[str, str]:
    """The original loader's silent fallback corpus (D1); it has no test split."""
    train = (FALLBACK_TRAIN_SENTENCE * (train_size // 45 + 1))[:train_size]
    val = (FALLBACK_VAL_SENTENCE * (val_size // 35 + 1))[:val_size]
    return {"train": train, "validation": val}


# --------------------------------------------------------------------------- synthetic Markov source

def _markov_chain(cfg_synth) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Transition matrix P (rows Zipf over a per-row permutation), its stationary pi, symbol names."""
    v = cfg_synth.vocab_size
    rng = np.random.default_rng(cfg_synth.seed)
    zipf = 1.0 / np.arange(1, v + 1, dtype=np.float64) ** cfg_synth.zipf_s
    zipf /= zipf.sum()
    p = np.zeros((v, v))
    for i in range(v):
        p[i, rng.permutation(v)] = zipf
    # pi P = pi, sum(pi) = 1: replace one (redundant) balance equation by the normalisation.
    a = p.T - np.eye(v)
    a[-1, :] = 1.0
    b = np.zeros(v)
    b[-1] = 1.0
    pi = np.linalg.solve(a, b)
    return p, pi, [f"s{i}" for i in range(v)]


def markov_entropy_rate(cfg_synth, per: str = "token") -> float:
    """Entropy rate in nats per token, or per character of the rendered text (per="char"): the
    rendering is invertible and its separators are deterministic, so chars only dilute the tokens."""
    p, pi, names = _markov_chain(cfg_synth)
    logp = np.log(p, where=p > 0, out=np.zeros_like(p))
    rate = float(-(pi * (p * logp).sum(axis=1)).sum())
    if per == "char":
        rate /= float(sum(pi_i * (len(n) + 1) for pi_i, n in zip(pi, names)))
    return rate


def _render(symbols: list[str]) -> str:
    lines = [" ".join(symbols[i:i + 64]) for i in range(0, len(symbols), 64)]
    return "\n".join(lines) + "\n" if lines else ""


def synthetic_markov(cfg_synth, n_tokens: dict[str, int]) -> tuple[dict[str, str], float]:
    """Texts of n_tokens[split] symbols each (consecutive segments of one chain started from pi, so
    every split is stationary) and the entropy rate in nats/token. Depends only on cfg_synth."""
    p, pi, names = _markov_chain(cfg_synth)
    rng = np.random.default_rng([cfg_synth.seed, 1])  # a stream separate from the one that built P
    cdf = [np.cumsum(row).tolist() for row in p]
    last = len(names) - 1
    total = sum(n_tokens.values())
    u = rng.random(total + 1).tolist()
    state = min(bisect.bisect_right(np.cumsum(pi).tolist(), u[0]), last)
    chain = []
    for t in range(total):
        chain.append(state)
        state = min(bisect.bisect_right(cdf[state], u[t + 1]), last)  # min(): cdf[-1] may be 1 - eps
    texts, start = {}, 0
    for split, n in n_tokens.items():
        texts[split] = _render([names[s] for s in chain[start:start + n]])
        start += n
    return texts, markov_entropy_rate(cfg_synth)


# --------------------------------------------------------------------------- tokens and vocabularies

def tokenize(text: str, level: str, lowercase: bool = False) -> list[str]:
    if level == "char":
        return list(text.lower() if lowercase else text)
    if level == "word":
        return (text.lower() if lowercase else text).split()
    raise DataError(f"unknown data.level {level!r}. Fix: use char or word")


def detokenize(tokens: list[str], level: str) -> str:
    return "".join(tokens) if level == "char" else " ".join(tokens)


class Vocab:
    def __init__(self, itos: list[str], unk_id: int | None):
        self.itos = list(itos)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        self.unk_id = unk_id

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        if self.unk_id is not None:
            get, unk = self.stoi.get, self.unk_id
            return [get(t, unk) for t in tokens]
        try:
            return [self.stoi[t] for t in tokens]
        except KeyError as exc:
            raise DataError(f"token {exc.args[0]!r} is not in the vocabulary, which has no <unk> "
                            "(data.vocab_from=train+validation at char level). Fix: use data.vocab_from=train "
                            "(adds <unk>) or drop the split that holds it (e.g. data.test_size=0)") from None

    def decode(self, ids) -> list[str]:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return [self.itos[i] for i in ids]


def build_vocab(token_lists: list[list[str]], level: str, scheme: str) -> Vocab:
    """Vocabulary of the given token lists; the caller picks the lists (truncated/full/train only),
    `scheme` picks the specials: the original char vocab has none, the original word vocab has
    <unk>=0 and <pad>=1, the corrected schemes ("train") have <unk>=0."""
    if level == "char":
        chars = sorted(set().union(*map(set, token_lists)))
        if scheme == "train":
            return Vocab([UNK] + [c for c in chars if c != UNK], unk_id=0)
        return Vocab(chars, unk_id=None)
    specials = [UNK] if scheme == "train" else [UNK, PAD]
    seen = dict.fromkeys(specials)
    for tokens in token_lists:
        seen.update(dict.fromkeys(tokens))  # first-seen order; an existing "<unk>" keeps id 0
    return Vocab(list(seen), unk_id=0)


# --------------------------------------------------------------------------- batching

class Batches:
    """Batches of (x, y) LongTensors [B, T] for one split. Iterate with .epoch(i) -> list of (x, y).

    "contiguous" (D1, D2b): row j of the batch starting at i is ids[i + j*T : i + (j+1)*T], the target
    shifted by one; only complete batches; fixed order. "chunks" (D2a): non-overlapping (T+1)-token
    chunks, reshuffled every epoch when shuffle_seed is set; the last partial batch is kept unless
    drop_last (drop_last has no effect on "contiguous", which keeps full batches only by definition).
    """

    def __init__(self, ids: torch.Tensor, seq_len: int, batch_size: int, scheme: str,
                 shuffle_seed: int | None = None, drop_last: bool = False):
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
        self.seq_len, self.batch_size, self.scheme = seq_len, batch_size, scheme
        self.shuffle_seed, self.drop_last = shuffle_seed, drop_last
        n_ids, stride = len(ids), seq_len * batch_size
        if scheme == "contiguous":
            # The original loop, keeping a batch only if its last row's target fits in the stream.
            n = sum(1 for i in range(0, n_ids - seq_len - 1, stride) if i + stride + 1 <= n_ids)
            self._x = ids[: n * stride].view(n * batch_size, seq_len)
            self._y = ids[1: n * stride + 1].view(n * batch_size, seq_len)
        elif scheme == "chunks":
            n = n_ids // (seq_len + 1)
            chunks = ids[: n * (seq_len + 1)].view(n, seq_len + 1)
            if drop_last:
                chunks = chunks[: (n // batch_size) * batch_size]
            self._x, self._y = chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous()
        else:
            raise DataError(f"unknown data.batching {scheme!r}. Fix: use contiguous or chunks")
        self.n_sequences = self._x.shape[0]
        self.n_tokens = self._y.numel()

    def __len__(self) -> int:
        return math.ceil(self.n_sequences / self.batch_size)

    def epoch(self, epoch: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self._x, self._y
        if self.scheme == "chunks" and self.shuffle_seed is not None:
            g = torch.Generator().manual_seed((self.shuffle_seed * 1_000_003 + epoch) % 2**63)
            perm = torch.randperm(self.n_sequences, generator=g)
            x, y = x[perm], y[perm]
        b = self.batch_size
        return [(x[i:i + b], y[i:i + b]) for i in range(0, self.n_sequences, b)]


# --------------------------------------------------------------------------- everything together

@dataclass
class PreparedData:
    vocab: Vocab
    train: Batches
    validation: Batches
    test: Batches | None
    # {"corpus": name, split: token_stream_digest of what is used, "source_digest_verified": bool, and at
    # char level "char_sha256": {split: text_digest of the exact characters the model reads}}
    digests: dict
    entropy_rate: float | None = None  # synthetic only, nats per token (per char at char level)
    info: dict = field(default_factory=dict)


def prepare_data(cfg, seed: int) -> PreparedData:
    """Load the corpus of `cfg` (a lash.config.DataConfig), cut the splits, build vocab and batches."""
    sizes = {"train": cfg.train_size, "validation": cfg.val_size, "test": cfg.test_size}
    entropy_rate = None
    if cfg.corpus == "wikitext2":
        full = load_wikitext2(cfg.source, cfg.data_dir, exact=cfg.level == "char")
        kind, path = _resolve_source(cfg.source, cfg.data_dir)
        source = f"local:{path}" if kind == "local" else "hub"
    elif cfg.corpus == "fallback":
        if cfg.level != "char":
            raise DataError("the fallback corpus is char-level only (it is what the original char-level "
                            "scripts used). Fix: set data.level=char or data.corpus=wikitext2")
        if cfg.train_size is None or cfg.val_size is None:
            raise DataError("the fallback corpus has no 'whole split'. Fix: set data.train_size and "
                            "data.val_size to numbers of characters")
        full = fallback_texts(cfg.train_size, cfg.val_size)  # no test split: the original had none
        source = "fallback"
    elif cfg.corpus == "synthetic":
        wanted = {s: n for s, n in sizes.items() if n != 0}
        if any(n is None for n in wanted.values()):
            raise DataError("the synthetic corpus has no 'whole split'. Fix: set data.train_size, "
                            "data.val_size and data.test_size to numbers")
        # Each symbol renders to >= 3 chars, so n//3 + 1 symbols cover n chars.
        n_sym = wanted if cfg.level == "word" else {s: n // 3 + 1 for s, n in wanted.items()}
        full, _ = synthetic_markov(cfg.synthetic, n_sym)
        entropy_rate = markov_entropy_rate(cfg.synthetic, per="token" if cfg.level == "word" else "char")
        source = "generated"
    else:
        raise DataError(f"unknown data.corpus {cfg.corpus!r}. Fix: use wikitext2, fallback or synthetic")

    splits = [s for s in SPLITS if s in full and sizes[s] != 0]
    for split, name in (("train", "train_size"), ("validation", "val_size")):
        if split not in splits:
            raise DataError(f"data.{name} is 0, but training needs a {split} split. Fix: set data.{name} to a "
                            "positive size, or null for the whole split")
    tokens = {}
    for split in splits:
        n = sizes[split]
        if cfg.level == "char":
            text = full[split] if n is None else full[split][:n]  # cut before tokenizing: N chars
            tokens[split] = tokenize(text, "char", cfg.lowercase)
        else:
            tokens[split] = tokenize(full[split], "word", cfg.lowercase)[:n]  # N tokens

    if cfg.vocab_from == "train":
        vocab_lists = [tokens["train"]]
    elif cfg.vocab_from == "train+validation":
        vocab_lists = [tokens["train"], tokens["validation"]]
    elif cfg.vocab_from == "full_train+validation":  # the original D2 word vocab: whole splits
        vocab_lists = [tokenize(full[s], cfg.level, cfg.lowercase) for s in ("train", "validation")]
    else:
        raise DataError(f"unknown data.vocab_from {cfg.vocab_from!r}. Fix: use train, train+validation or "
                        "full_train+validation")
    vocab = build_vocab(vocab_lists, cfg.level, cfg.vocab_from)

    batches = {}
    for split in splits:
        ids = torch.tensor(vocab.encode(tokens[split]), dtype=torch.long)
        # Only train is shuffled. The original D2a also shuffled validation; its order changes nothing
        # but how the last partial batch is averaged, so validation/test stay in corpus order here.
        b = Batches(ids, cfg.seq_len, cfg.batch_size, cfg.batching,
                    shuffle_seed=seed if split == "train" else None)
        if len(b) == 0:
            raise DataError(f"split '{split}' has {len(ids)} tokens, too few for one batch of "
                            f"{cfg.batch_size} x {cfg.seq_len}. Fix: raise its size (data.train_size/"
                            "val_size/test_size) or lower data.seq_len / data.batch_size")
        batches[split] = b

    digests = {"corpus": cfg.corpus, "source_digest_verified": cfg.corpus == "wikitext2"}
    for split in splits:  # of the token stream the model sees (after truncation and lowercasing)
        digests[split] = token_stream_digest(detokenize(tokens[split], cfg.level))
    if cfg.level == "char":  # a character model sees whitespace too
        digests["char_sha256"] = {split: text_digest("".join(tokens[split])) for split in splits}
    info = {
        "corpus": cfg.corpus, "level": cfg.level, "source": source, "vocab_size": len(vocab),
        "sizes": {s: len(tokens[s]) for s in splits},
        "size_unit": "chars" if cfg.level == "char" else "tokens",
        "batches": {s: len(b) for s, b in batches.items()},
        "target_tokens": {s: b.n_tokens for s, b in batches.items()},
    }
    if "test" not in batches and cfg.test_size != 0:
        info["test_split"] = f"absent: the {cfg.corpus} corpus has none"
    return PreparedData(vocab=vocab, train=batches["train"], validation=batches["validation"],
                        test=batches.get("test"), digests=digests, entropy_rate=entropy_rate, info=info)
