"""Values read back from a checkpoint, checked before anything uses them.

A checkpoint's checksum catches a file damaged or edited by hand; these catch one written with values a run
never writes (a crafted file, or one from a broken build): each ``load_state`` takes its arrays and JSON
values through these, so that a wrong shape, type or range is a ``ValueError`` naming the field, which
:func:`redqueen.runtime.checkpoint.load` turns into a one-line ``CheckpointError`` and a clean restart --
never a resumed run that records wrong numbers or ends in a "bug in redqueen".
"""

from __future__ import annotations

import math

import numpy as np

_KINDS = {"f": "floats", "i": "integers", "b": "booleans"}


def array(arrays: dict, key: str, *, shape: tuple | None = None, kind: str = "f", finite: bool = True,
          lo: float | None = None, hi: float | None = None, positive: bool = False) -> np.ndarray:
    """``arrays[key]`` as an array of ``kind`` ('f' floats, 'i' integers, 'b' booleans) whose shape matches
    ``shape`` (``None`` entries match any length) and whose values are finite (``finite = False``: or NaN, a
    value not measured), within ``[lo, hi]`` and, where ``positive``, above 0."""
    if key not in arrays:
        raise ValueError(f"{key} is missing")
    a = np.asarray(arrays[key])
    ok_kind = a.dtype.kind in ("iu" if kind == "i" else "fiu" if kind == "f" else "b")
    if not ok_kind:
        raise ValueError(f"{key} holds {a.dtype}, not {_KINDS[kind]}")
    if shape is not None and (a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape))):
        want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{key} has shape {a.shape}, not {want}")
    known = a[~np.isnan(a)] if a.dtype.kind == "f" and not finite else a
    if known.size and kind != "b":
        if not np.isfinite(known).all():
            raise ValueError(f"{key} holds {'non-finite values' if finite else 'infinities'}")
        if lo is not None and known.min() < lo:
            raise ValueError(f"{key} holds {known.min()}, below {lo}")
        if hi is not None and known.max() > hi:
            raise ValueError(f"{key} holds {known.max()}, above {hi}")
        if positive and known.min() <= 0:
            raise ValueError(f"{key} holds {known.min()}, not above 0")
    return a


def covariance(arrays: dict, key: str, d: int) -> np.ndarray:
    """``arrays[key]``, a ``(d, d)`` covariance: finite, symmetric, positive semi-definite (a collapsed direction,
    variance 0, is a state a run reaches; a negative variance is not)."""
    c = array(arrays, key, shape=(d, d)).astype(np.float64)
    scale = max(float(np.abs(np.diag(c)).max(initial=0.0)), np.finfo(float).tiny)
    if not np.allclose(c, c.T, rtol=1e-9, atol=1e-12 * scale):
        raise ValueError(f"{key} is not symmetric")
    if d and np.linalg.eigvalsh(c).min() < -1e-8 * scale:
        raise ValueError(f"{key} has a negative variance (not positive semi-definite)")
    return c


def whole(meta: dict, key: str, *, lo: int = 0, hi: int | None = None) -> int:
    """``meta[key]``, an integer (not a bool) within ``[lo, hi]``."""
    return as_whole(meta.get(key) if isinstance(meta, dict) else None, key, lo=lo, hi=hi)


def wholes(meta: dict, key: str, *, lo: int = 0, hi: int | None = None, distinct: bool = False) -> list[int]:
    """``meta[key]``, a list of integers within ``[lo, hi]`` (each at most once where ``distinct``)."""
    out = [as_whole(v, f"an entry of {key}", lo=lo, hi=hi) for v in items(meta, key)]
    if distinct and len(set(out)) != len(out):
        raise ValueError(f"{key} lists a value twice")
    return out


def as_whole(v, what: str, *, lo: int = 0, hi: int | None = None) -> int:
    """``v``, an integer (not a bool) within ``[lo, hi]``; ``what`` names it in the error."""
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{what} is {v!r}, not a whole number {span}")
    return v


def number(meta: dict, key: str, *, lo: float = -math.inf, hi: float = math.inf, none: bool = False,
           finite: bool = True, positive: bool = False) -> float | None:
    """``meta[key]``, a finite number within ``[lo, hi]`` (above 0 where ``positive``; or None where ``none``;
    any float where not ``finite``)."""
    v = as_number(meta.get(key) if isinstance(meta, dict) else None, key, lo=lo, hi=hi, none=none, finite=finite)
    if positive and v is not None and not v > 0:
        raise ValueError(f"{key} is {v!r}, not above 0")
    return v


def as_number(v, what: str, *, lo: float = -math.inf, hi: float = math.inf, none: bool = False,
              finite: bool = True) -> float | None:
    """``v``, a finite number within ``[lo, hi]`` (or None where ``none``; any float, NaN and infinities included,
    where not ``finite``); ``what`` names it in the error."""
    if v is None and none:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ValueError(f"{what} is {v!r}, not a number")
    if finite and not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{what} is {v!r}, not a number in [{lo}, {hi}]")
    return float(v)


def flag(meta: dict, key: str) -> bool:
    """``meta[key]``, a bool."""
    v = meta.get(key) if isinstance(meta, dict) else None
    if not isinstance(v, bool):
        raise ValueError(f"{key} is {v!r}, not true or false")
    return v


def table(meta, key: str) -> dict:
    """``meta[key]``, a JSON object (``meta`` itself where ``key`` is empty)."""
    v = meta if not key else (meta.get(key) if isinstance(meta, dict) else None)
    if not isinstance(v, dict):
        raise ValueError(f"{key or 'the state'} is {v!r}, not a table")
    return v


def items(meta: dict, key: str) -> list:
    """``meta[key]``, a JSON list."""
    v = meta.get(key) if isinstance(meta, dict) else None
    if not isinstance(v, list):
        raise ValueError(f"{key} is {v!r}, not a list")
    return v
