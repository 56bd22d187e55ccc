"""One input set of an audit, read once: :func:`read_set` gives a :class:`TextSet` or a :class:`PointSet`.

A text input of any size is streamed: every token is counted (the whole-file type counts) while a
uniform reservoir sample of ``sample`` items is kept (Vitter's algorithm R, drawing from the given
generator in blocks), so memory grows with the vocabulary and the sample, not with the file. The
file's SHA-256 is computed on the same pass (a folder's from its files' hashes in path order).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from redqueen.io.points import ARRAY_SUFFIXES, IMAGE_SUFFIXES, TABLE_SUFFIXES, read_points
from redqueen.io.texts import JSONL_SUFFIXES, ReadError, _check_exists, is_hf_dataset, iter_texts, text_files, tokenize

KINDS = ("text", "table", "arrays", "images")


@dataclass(frozen=True, eq=False)
class TextSet:
    """A text input: ``items`` (a uniform sample of at most ``sample`` items, in input order),
    ``counts`` (every token of the whole input), ``n_items`` and ``n_tokens`` of the whole input."""

    path: str
    items: tuple[str, ...]
    counts: Counter
    n_items: int
    n_tokens: int
    sha256: str
    kind: str = "text"

    def describe(self) -> dict:
        return {"path": self.path, "kind": self.kind, "items": self.n_items, "tokens": self.n_tokens,
                "types": len(self.counts), "sampled": len(self.items), "sha256": self.sha256}


@dataclass(frozen=True, eq=False)
class PointSet:
    """A numeric input: ``x`` ``(m, d)`` (all rows, or a uniform sample of ``sample``), ``n_items`` in the input."""

    path: str
    x: np.ndarray
    n_items: int
    sha256: str
    kind: str
    detail: str = ""
    columns: tuple[str, ...] | None = None  # a table's columns, in the order of x's; None for arrays and images

    def describe(self) -> dict:
        return {"path": self.path, "kind": self.kind, "items": self.n_items, "dims": int(self.x.shape[1]),
                "sampled": int(self.x.shape[0]), "detail": self.detail, "sha256": self.sha256}


def detect_kind(path: str | Path) -> str:
    """``"text"``, ``"table"``, ``"arrays"`` or ``"images"`` from a path's suffix or a folder's contents."""
    p = Path(path)
    _check_exists(p)
    if p.is_dir():
        if is_hf_dataset(p):
            return "text"
        has_images = any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.rglob("*"))
        return "images" if has_images and not text_files(p) else "text"
    s = p.suffix.lower()
    if s in TABLE_SUFFIXES:
        return "table"
    if s in ARRAY_SUFFIXES:
        return "arrays"
    if s in IMAGE_SUFFIXES:
        raise ReadError(f"{p}: one image; give the folder that holds all the images of the set")
    return "text"


def file_digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (hash of their relative paths and hashes, sorted)."""
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(f.relative_to(path)).encode() + b"\0" + file_digest(f).encode())
        return h.hexdigest()
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise ReadError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    return h.hexdigest()


def _reservoir(items, k: int, rng: np.random.Generator, on_item: Callable[[str], None]) -> tuple[list[str], int]:
    """Algorithm R over an iterator: a uniform sample of ``k`` items, in input order, and the count."""
    kept: list[tuple[int, str]] = []
    u = np.empty(0)
    for i, item in enumerate(items):
        on_item(item)
        if i < k:
            kept.append((i, item))
            continue
        j = i - k
        if j % 65536 == 0:
            u = rng.random(65536)
        slot = int(u[j % 65536] * (i + 1))
        if slot < k:
            kept[slot] = (i, item)
    return [t for _, t in sorted(kept)], (i + 1 if kept else 0)


def read_text_set(path: str | Path, *, field: str | None = None, split: str = "train", sample: int = 10000,
                  rng: np.random.Generator, lowercase: bool = True,
                  on_bytes: Callable[[int], None] | None = None) -> TextSet:
    """Stream a text input (see :func:`redqueen.io.texts.iter_texts`) into a :class:`TextSet`."""
    path = Path(path)
    counts: Counter = Counter()
    n_tokens = 0

    def count(item: str) -> None:
        nonlocal n_tokens
        toks = tokenize(item, lowercase=lowercase)
        n_tokens += len(toks)
        counts.update(toks)

    items, n = _reservoir(iter_texts(path, field=field, split=split, on_bytes=on_bytes), sample, rng, count)
    if n_tokens == 0:
        raise ReadError(f"{path}: no words or punctuation in {n} item(s); give text")
    return TextSet(str(path), tuple(items), counts, n, n_tokens, file_digest(path))


def read_set(path: str | Path, *, kind: str | None = None, field: str | None = None, columns: list[str] | None = None,
             split: str = "train", sample: int = 10000, rng: np.random.Generator,
             on_bytes: Callable[[int], None] | None = None) -> TextSet | PointSet:
    """Read one audit input of ``kind`` (detected from the path when None); raises :class:`ReadError`."""
    path = Path(path)
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        raise ReadError(f"--kind {kind!r} is unknown; choose one of {', '.join(KINDS)}")
    if kind == "text":
        if path.suffix.lower() in TABLE_SUFFIXES + ARRAY_SUFFIXES:
            raise ReadError(f"{path}: a {path.suffix} file read as text; drop --kind text or give a text file")
        return read_text_set(path, field=field, split=split, sample=sample, rng=rng, on_bytes=on_bytes)
    if field is not None and path.suffix.lower() in JSONL_SUFFIXES:
        raise ReadError(f"{path}: a JSONL file read as {kind}; drop --kind {kind}")
    pts = read_points(path, columns=columns, key=field, max_rows=sample, rng=rng)
    found = pts.detail.split(",")[0]
    return PointSet(str(path), pts.x, pts.n_items, file_digest(path), "embeddings" if found == "embeddings" else kind,
                    pts.detail, pts.columns)
