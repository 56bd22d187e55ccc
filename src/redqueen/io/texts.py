"""Text items from the files people keep them in, streamed.

:func:`iter_texts` yields one item (a string) at a time from

* a UTF-8 text file: one item per non-empty line;
* a JSON Lines file (``.jsonl``, ``.ndjson``): one object per line, the item its ``field`` (default ``"text"``);
* a folder of ``.txt`` / ``.jsonl`` files (sorted by path, recursively): their items in turn;
* a Hugging Face ``datasets`` folder written by ``save_to_disk`` (``datasets`` imported lazily): the
  ``field`` column of the dataset, or of its ``split`` (default ``"train"``) for a ``DatasetDict``.

Nothing is read whole: a file is read line by line (memory does not grow with its size). Every bad
input raises :class:`ReadError`, a ``ValueError`` whose message is one line naming the file, the
problem and the fix: a missing or unreadable file, binary or non-UTF-8 bytes, malformed JSON, a
missing or non-string field, an empty input.

:func:`tokenize` is the word tokenizer of the text world (lowercase words, punctuation marks as
tokens of their own), so audits and loops count the same types.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Callable, Iterator

#: a word (with inner apostrophes) or one punctuation mark: the text world's word tokens
WORD = r"\w+(?:'\w+)*|[^\w\s]"
_WORD = re.compile(WORD)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt", ".text", ".md", "")
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


class ReadError(ValueError):
    """An input file that cannot be read as asked; the message is one line with the fix."""


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """The word tokens of ``text``: words and punctuation marks, lowercased by default."""
    return _WORD.findall(text.lower() if lowercase else text)


def is_hf_dataset(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``datasets``' ``save_to_disk``."""
    p = Path(path)
    return p.is_dir() and any((p / m).is_file() for m in HF_MARKERS)


def _check_exists(path: Path) -> None:
    """A file or folder to read: it must exist and be a regular file or a folder (a pipe, socket or device such
    as /dev/zero would be read forever, or block)."""
    if not path.exists():
        raise ReadError(f"{path}: no such file or folder; check the path")
    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ReadError(f"{path}: not a regular file (a pipe, socket or device); give a file or folder")


def _decode(raw: bytes, path: Path, lineno: int) -> str:
    if b"\x00" in raw:
        raise ReadError(f"{path}: not UTF-8 text (binary: a NUL byte on line {lineno}); convert it to UTF-8 plain text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ReadError(f"{path}: not UTF-8 text (line {lineno}, {e.reason}); convert it to UTF-8") from None


def iter_lines(path: str | Path, *, on_bytes: Callable[[int], None] | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file, stripped, empty lines skipped; a BOM is dropped.

    ``on_bytes(n)`` is called with the bytes read since its last call (for a progress bar), about
    every megabyte and at the end. Raises :class:`ReadError` for a missing, unreadable or binary file.
    """
    path = Path(path)
    _check_exists(path)
    pending = 0
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                pending += len(raw)
                if on_bytes is not None and pending >= 1 << 20:
                    on_bytes(pending)
                    pending = 0
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                line = _decode(raw, path, lineno).strip()
                if line:
                    yield lineno, line
    except IsADirectoryError:
        raise ReadError(f"{path}: is a folder of neither .txt files nor a saved dataset; give a file") from None
    except OSError as e:
        raise ReadError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    if on_bytes is not None and pending:
        on_bytes(pending)


def _jsonl(path: Path, field: str, on_bytes) -> Iterator[str]:
    for lineno, line in iter_lines(path, on_bytes=on_bytes):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ReadError(f"{path}: line {lineno} is not JSON ({e.msg}); a .jsonl file holds one JSON object "
                            "per line") from None
        if not isinstance(obj, dict):
            raise ReadError(f"{path}: line {lineno} is a JSON {type(obj).__name__}, not an object; "
                            "write one object per line")
        if field not in obj:
            have = ", ".join(sorted(map(str, obj))[:10]) or "none"
            raise ReadError(f"{path}: line {lineno} has no field {field!r} (fields: {have}); pass --field NAME")
        value = _text(obj[field], f"{path}: line {lineno}: field {field!r} is a")
        if value:
            yield value


def _text(value, where: str) -> str:
    """``value`` stripped; :class:`ReadError` (``where`` + its type) when it is not a string."""
    if not isinstance(value, str):
        raise ReadError(f"{where} {type(value).__name__}, not a string; pass the --field that holds the text")
    return value.strip()


def _hf_dataset(path: Path, field: str, split: str) -> Iterator[str]:
    try:
        import datasets
    except ImportError:
        raise ReadError(f"{path}: a saved Hugging Face dataset needs the datasets package; pip install datasets") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # the library raises many kinds for a damaged folder
        raise ReadError(f"{path}: cannot load the saved dataset ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                        "write it again with save_to_disk") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ReadError(f"{path}: the dataset has no split {split!r} (splits: {', '.join(ds)}); pass the split")
        ds = ds[split]
    if field not in ds.column_names:
        raise ReadError(f"{path}: the dataset has no column {field!r} (columns: {', '.join(ds.column_names)}); "
                        "pass --field NAME")
    for i in range(0, len(ds), 1024):
        for value in ds[i : i + 1024][field]:
            value = _text(value, f"{path}: column {field!r} holds a")
            if value:
                yield value


def text_files(folder: Path) -> list[Path]:
    """The ``.txt`` / ``.jsonl`` files under ``folder``, sorted; hidden files and folders skipped."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            p = Path(root) / name
            if not name.startswith(".") and p.suffix.lower() in (".txt", *JSONL_SUFFIXES):
                out.append(p)
    return out


def iter_texts(path: str | Path, *, field: str | None = None, split: str = "train",
               on_bytes: Callable[[int], None] | None = None) -> Iterator[str]:
    """Every non-empty item of a text file, JSONL file, folder of them or saved dataset (see the module).

    ``field`` names the JSONL key or dataset column (default ``"text"``); giving it for a plain text
    file raises :class:`ReadError`. Raises :class:`ReadError` when the input yields no item at all.
    """
    path = Path(path)
    _check_exists(path)
    key = field or "text"
    if is_hf_dataset(path):
        items = _hf_dataset(path, key, split)
    elif path.is_dir():
        files = text_files(path)
        if not files:
            raise ReadError(f"{path}: a folder without .txt or .jsonl files; give a text file, a folder of them "
                            "or a saved dataset")

        def chained():
            for f in files:
                yield from (_jsonl(f, key, on_bytes) if f.suffix.lower() in JSONL_SUFFIXES
                            else (line for _, line in iter_lines(f, on_bytes=on_bytes)))

        items = chained()
    elif path.suffix.lower() in JSONL_SUFFIXES:
        items = _jsonl(path, key, on_bytes)
    else:
        if field is not None:
            raise ReadError(f"{path}: --field {field!r} is for JSONL files and datasets, but this is a plain text "
                            "file (one item per line); drop --field or give a .jsonl file")
        items = (line for _, line in iter_lines(path, on_bytes=on_bytes))
    empty = True
    for item in items:
        empty = False
        yield item
    if empty:
        raise ReadError(f"{path}: no text (every line is empty); give a non-empty input")
