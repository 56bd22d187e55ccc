"""Pre-trained weights in a safetensors file, with the vocabulary they were trained on.

A family's ``state()`` (numpy arrays keyed as its torch ``state_dict``) is written with
``safetensors.numpy``; the metadata holds the vocabulary (``tokens``, JSON) and its ``joiner``
plus any string metadata given, so a loader can refuse weights trained on another vocabulary.
No pickle is involved in either direction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Pretrained:
    """Weights (``state``), the vocabulary's tokens they index and the file's other metadata."""

    state: dict[str, np.ndarray]
    tokens: tuple[str, ...] | None
    meta: dict[str, str]


def vocabulary_digest(tokens) -> str:
    """A short hash of a token list (what error messages and cache keys show)."""
    return hashlib.sha256(json.dumps(list(tokens)).encode()).hexdigest()[:12]


def save(family, path: str | Path, **meta: str) -> Path:
    """Write a fitted family's ``state()`` and vocabulary to ``path`` atomically; returns the path."""
    from safetensors.numpy import save_file

    from redqueen.runtime.files import atomic_path

    vocab = getattr(family, "vocab_", None)
    info = {k: str(v) for k, v in meta.items()}
    if vocab is not None:
        info["tokens"] = json.dumps(list(vocab.tokens))
        info["joiner"] = vocab.joiner
    from redqueen.evolve.genome import parameters

    state = {k: np.ascontiguousarray(v) for k, v in parameters(family.state()).items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=info)
    return Path(path)


def load(path: str | Path) -> Pretrained:
    """Read weights written by :func:`save` (or any safetensors file); ``ValueError`` with the fix if unreadable."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file; give the path of a .safetensors file of pre-trained weights")
    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for a damaged or foreign file
        raise ValueError(f"{p}: not a readable safetensors file ({str(e).splitlines()[0][:120]}); "
                         "write it with redqueen.models.neural.pretrained.save") from None
    tokens = tuple(json.loads(meta.pop("tokens"))) if "tokens" in meta else None
    return Pretrained(state, tokens, meta)
