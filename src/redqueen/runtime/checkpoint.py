"""Lineage checkpoints: safetensors for arrays, JSON in its header for the rest.

A checkpoint holds everything a lineage needs to continue bit for bit: the
generation, both random generators' states, the model's state, the regime's
pools, the pending synthetic sample and the diagnostics' reference. Nothing
is ever unpickled: a file that is not a readable safetensors checkpoint of
this format raises :class:`CheckpointError` with a one-line reason.
Writes go to a temporary file renamed over the old one, so a kill at any
moment leaves either the previous checkpoint or the new one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from redqueen.data import Counts, Data, Points, Sequences
from redqueen.runtime.files import atomic_path

FORMAT = "redqueen-lineage-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the fix."""


def _contiguous(v) -> np.ndarray:
    v = np.asarray(v)
    return v if v.flags.c_contiguous else np.ascontiguousarray(v)  # ascontiguousarray would make 0-d arrays 1-d


def _data_arrays(prefix: str, data: Data | None, arrays: dict, kinds: dict) -> None:
    if data is None:
        return
    kinds[prefix] = type(data).__name__
    for k, v in data.to_arrays().items():
        arrays[f"{prefix}.{k}"] = _contiguous(v)


def _data_from(prefix: str, kinds: dict, arrays: dict, world) -> Data | None:
    kind = kinds.get(prefix)
    if kind is None:
        return None
    if kind == "Counts":
        return Counts(arrays[f"{prefix}.counts"], getattr(world, "labels", None))
    if kind == "Points":
        return Points(arrays[f"{prefix}.x"])
    if kind == "Sequences":
        return Sequences(arrays[f"{prefix}.tokens"], arrays[f"{prefix}.offsets"], world.vocab)
    raise CheckpointError(f"unknown data kind {kind!r} in checkpoint")


def save(lineage, path: str | Path) -> Path:
    """Write ``lineage``'s state after its current generation to ``path`` atomically."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for k, v in lineage.model.state().items():
        arrays[f"model.{k}"] = _contiguous(v)
    _data_arrays("bank", lineage.pools.bank, arrays, kinds)
    if lineage.pools.accumulated is not lineage.pools.bank:
        _data_arrays("accumulated", lineage.pools.accumulated, arrays, kinds)
    _data_arrays("pending", lineage.pending, arrays, kinds)
    diag_arrays, diag_meta = lineage.diagnostics.state()
    for k, v in diag_arrays.items():
        arrays[f"diagnostics.{k}"] = _contiguous(v)
    meta = {
        "format": FORMAT,
        "arm": lineage.arm,
        "replicate": lineage.replicate,
        "generation": lineage.generation,
        "rng": lineage.rng.bit_generator.state,
        "diagnostics": diag_meta,
        "kinds": kinds,
    }
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={"redqueen": json.dumps(meta)})
    return path


def load(lineage, path: str | Path) -> None:
    """Restore ``lineage`` (freshly built from the same config and seed) from ``path``.

    Raises :class:`CheckpointError` if the file is missing, truncated, not
    safetensors, of another format, or belongs to another lineage.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint; the run cannot be resumed from here")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("redqueen", "null"))
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for damaged files
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}); delete it to restart that lineage") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a redqueen lineage checkpoint; delete it to restart that lineage")
    if meta["arm"] != lineage.arm or meta["replicate"] != lineage.replicate:
        raise CheckpointError(f"{path}: belongs to arm {meta['arm']!r} replicate {meta['replicate']}, not this lineage")
    world = lineage.world
    from redqueen.loop.regimes import Pools

    try:
        model = lineage.make_family()
        model.load_state({k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")})
        bank = _data_from("bank", meta["kinds"], arrays, world)
        acc = _data_from("accumulated", meta["kinds"], arrays, world) or bank
        pending = _data_from("pending", meta["kinds"], arrays, world)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: checkpoint does not fit this lineage's model or data ({type(e).__name__}: {e}); "
                              "delete it to restart that lineage") from None
    if isinstance(bank, Counts) and hasattr(model, "labels_"):
        model.labels_ = bank.labels  # type names are the world's, not part of the model's arrays
    lineage.model = model
    lineage.pools = Pools(bank=bank, accumulated=acc)
    lineage.pending = pending
    lineage.generation = int(meta["generation"])
    lineage.rng.bit_generator.state = meta["rng"]
    lineage.diagnostics.load_state(
        {k[len("diagnostics."):]: v for k, v in arrays.items() if k.startswith("diagnostics.")}, meta["diagnostics"]
    )


def generation_of(path: str | Path) -> int | None:
    """The generation stored in a checkpoint, or None if there is no usable one."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("redqueen", "null"))
        return int(meta["generation"]) if isinstance(meta, dict) and meta.get("format") == FORMAT else None
    except Exception:
        return None
