"""Corpora, tokenization, vocabularies and batching (PAPER_SPEC section 2).

Three corpora: real WikiText-2 (`wikitext-2-v1`, from a local directory or the Hugging Face hub, always
verified against the token-stream digests of /work/shared/data/wikitext-2/SOURCE.md), the original
scripts' fallback sentences (what the EASE-era numbers were really measured on, D1), and a synthetic
Markov source whose entropy rate is known exactly (a floor for the achievable loss in smoke runs).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
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
SPLITS = ("train", "validation", "test")
FALLBACK_TRAIN_SENTENCE = "The quick brown fox jumps over the lazy dog. "
FALLBACK_VAL_SENTENCE = "A quick brown dog runs in the park. "
UNK, PAD = "<unk>", "<pad>"

_NO_DATA_FIX = (
    "Fix: set data.data_dir (or --set data.data_dir=PATH, or env LASH_DATA_DIR) to a directory with "
    "train.txt, validation.txt, test.txt, or give this machine access to the Hugging Face hub "
    "(data.source=hub)."
)
# (source, absolute path) -> verified split texts; hashing 13 MB once per process is enough.
_CACHE: dict[tuple[str, str], dict[str, str]] = {}


def token_stream_digest(text: str) -> str:
    """sha256 of the whitespace tokens joined by single spaces (independent of line-ending details)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


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
    raise DataError(f"unknown data.source {source!r}; use auto, local or hub")


def _read_local(path: str) -> dict[str, str]:
    if not os.path.isdir(path):
        raise DataError(f"WikiText-2 directory {path} does not exist. {_NO_DATA_FIX}")
    texts = {}
    for split in SPLITS:
        file = os.path.join(path, f"{split}.txt")
        try:
            with open(file, encoding="utf-8") as fh:
                texts[split] = fh.read()
        except OSError as exc:
            raise DataError(f"cannot read {file} ({exc.strerror}). {_NO_DATA_FIX}") from exc
    return texts


def _read_hub() -> dict[str, str]:
    try:
        import datasets  # lazy: importing it is slow and only this path needs it

        ds = datasets.load_dataset("Salesforce/wikitext", "wikitext-2-v1")
        # The hub's blank rows are "" where the files have " \n"; restoring them makes the bytes equal.
        return {s: "".join(row if row else " \n" for row in ds[s]["text"]) for s in SPLITS}
    except Exception as exc:  # offline, missing package, renamed dataset: all mean "no data here"
        from .offline import is_offline

        offline = " with --offline, only a copy already in the Hugging Face cache can be used;" if is_offline() else ""
        raise DataError(f"could not load WikiText-2 from the Hugging Face hub ({type(exc).__name__}: "
                        f"{exc});{offline} {_NO_DATA_FIX}") from exc


def load_wikitext2(source: str = "auto", data_dir: str | None = None) -> dict[str, str]:
    """{"train", "validation", "test"} -> full split text, verified against WIKITEXT2_TOKEN_DIGESTS.
    Never substitutes another text: a run labelled WikiText-2 must have read WikiText-2."""
    kind, path = _resolve_source(source, data_dir)
    key = (kind, path)
    if key not in _CACHE:
        texts = _read_local(path) if kind == "local" else _read_hub()
        where = path if kind == "local" else "the Hugging Face hub"
        for split in SPLITS:
            actual, expected = token_stream_digest(texts[split]), WIKITEXT2_TOKEN_DIGESTS[split]
            if actual != expected:
                raise DataError(
                    f"WikiText-2 split '{split}' from {where} has token-stream digest {actual}, expected "
                    f"{expected} (wikitext-2-v1, see SOURCE.md): the file is altered, truncated or a "
                    f"different variant (e.g. wikitext-2-raw-v1). Fix: replace {split}.txt with the "
                    f"verified wikitext-2-v1 copy, or point data.data_dir at a directory that has it.")
        _CACHE[key] = texts
    return dict(_CACHE[key])


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
    raise DataError(f"unknown data.level {level!r}; use char or word")


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
                            "(data.vocab_from=train+validation at char level). Use data.vocab_from=train "
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
            raise DataError(f"unknown data.batching {scheme!r}; use contiguous or chunks")
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
    digests: dict  # {"corpus": name, split: token_stream_digest of what is used, "source_digest_verified": bool}
    entropy_rate: float | None = None  # synthetic only, nats per token (per char at char level)
    info: dict = field(default_factory=dict)


def prepare_data(cfg, seed: int) -> PreparedData:
    """Load the corpus of `cfg` (a lash.config.DataConfig), cut the splits, build vocab and batches."""
    sizes = {"train": cfg.train_size, "validation": cfg.val_size, "test": cfg.test_size}
    entropy_rate = None
    if cfg.corpus == "wikitext2":
        full = load_wikitext2(cfg.source, cfg.data_dir)
        kind, path = _resolve_source(cfg.source, cfg.data_dir)
        source = f"local:{path}" if kind == "local" else "hub"
    elif cfg.corpus == "fallback":
        if cfg.level != "char":
            raise DataError("the fallback corpus is char-level only (it is what the original char-level "
                            "scripts used); set data.level=char or data.corpus=wikitext2")
        if cfg.train_size is None or cfg.val_size is None:
            raise DataError("the fallback corpus needs data.train_size and data.val_size in characters")
        full = fallback_texts(cfg.train_size, cfg.val_size)  # no test split: the original had none
        source = "fallback"
    elif cfg.corpus == "synthetic":
        wanted = {s: n for s, n in sizes.items() if n != 0}
        if any(n is None for n in wanted.values()):
            raise DataError("the synthetic corpus has no 'whole split'; set data.train_size, "
                            "data.val_size and data.test_size to numbers")
        # Each symbol renders to >= 3 chars, so n//3 + 1 symbols cover n chars.
        n_sym = wanted if cfg.level == "word" else {s: n // 3 + 1 for s, n in wanted.items()}
        full, _ = synthetic_markov(cfg.synthetic, n_sym)
        entropy_rate = markov_entropy_rate(cfg.synthetic, per="token" if cfg.level == "word" else "char")
        source = "generated"
    else:
        raise DataError(f"unknown data.corpus {cfg.corpus!r}; use wikitext2, fallback or synthetic")

    splits = [s for s in SPLITS if s in full and sizes[s] != 0]
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
        raise DataError(f"unknown data.vocab_from {cfg.vocab_from!r}")
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
                            f"{cfg.batch_size} x {cfg.seq_len}; raise its size (data.train_size/"
                            "val_size/test_size) or lower data.seq_len / data.batch_size")
        batches[split] = b

    digests = {"corpus": cfg.corpus, "source_digest_verified": cfg.corpus == "wikitext2"}
    for split in splits:  # of the token stream the model sees (after truncation and lowercasing)
        digests[split] = token_stream_digest(detokenize(tokens[split], cfg.level))
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
