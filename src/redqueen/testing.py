"""The public contract checks, as scikit-learn's ``check_estimator``: run them on your own world or
model family before plugging it into the loop.

>>> from redqueen.testing import check_family, check_world
>>> check_world(my_world)                                   # doctest: +SKIP
>>> check_family(MyFamily, my_world.sample(300, rng))       # doctest: +SKIP

Each check raises :class:`ContractError` (an ``AssertionError``) with one line naming the broken
promise; it returns nothing when every promise holds. The test suite runs them over every world
and family redqueen ships, the scikit-learn plug-in adapter included, and ``redqueen run`` runs
:func:`check_family` on a ``kind = "plugin"`` family before the run starts.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from redqueen.data import Counts, Data, Points, Sequences

__all__ = ["ContractError", "check_family", "check_world"]


class ContractError(AssertionError):
    """A world or family breaks the protocol; the message names the promise."""


def _require(ok, what: str) -> None:
    if not ok:
        raise ContractError(what)


def _arrays(data: Data) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in data.to_arrays().items()}


def _same(a: Data, b: Data) -> bool:
    x, y = _arrays(a), _arrays(b)
    return x.keys() == y.keys() and all(
        x[k].shape == y[k].shape and np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f") for k in x)


def _items(data: Data) -> int:
    """What ``World.types`` counts: items for counts and points, tokens for sequences."""
    return int(data.lengths().sum()) if isinstance(data, Sequences) else len(data)


def check_world(world, *, n: int = 200, seed: int = 0) -> None:
    """Check a world against :class:`redqueen.worlds.base.World`.

    Promises: ``sample(n, rng)`` returns ``n`` items of a :mod:`redqueen.data` container, the same
    for the same seed and different for another; ``log_prob`` is ``None`` or one finite-or--inf
    value per item (shape of ``weights()``), never NaN; ``type_probs`` is ``None`` or a probability
    vector (K,), and then ``types(sample)`` counts every item (tokens for text) over those K types;
    ``describe()`` is a JSON-able dict. Raises :class:`ContractError`.
    """
    from redqueen.worlds.base import World

    name = type(world).__name__
    _require(isinstance(world, World), f"{name} lacks a World method (sample, log_prob, type_probs, types, describe)")
    a = world.sample(n, np.random.default_rng(seed))
    _require(isinstance(a, (Counts, Points, Sequences)), f"{name}.sample returned {type(a).__name__}, not a data container")
    _require(len(a) == n, f"{name}.sample({n}) returned {len(a)} items")
    _require(_same(a, world.sample(n, np.random.default_rng(seed))), f"{name}.sample differs for the same seed")
    _require(not _same(a, world.sample(n, np.random.default_rng(seed + 1))), f"{name}.sample ignores its generator")
    lp = world.log_prob(a)
    if lp is not None:
        lp = np.asarray(lp)
        _require(lp.shape == a.weights().shape, f"{name}.log_prob has shape {lp.shape}, not {a.weights().shape}")
        _require(not np.isnan(lp).any() and not (lp == np.inf).any(), f"{name}.log_prob has NaN or +inf")
        _require(np.isfinite(lp[a.weights() > 0]).all(), f"{name}.log_prob gives its own samples zero probability")
    tp = world.type_probs()
    if tp is not None:
        tp = np.asarray(tp, dtype=np.float64)
        _require(tp.ndim == 1 and np.all(tp >= 0) and np.isclose(tp.sum(), 1.0), f"{name}.type_probs is not a distribution")
        t = np.asarray(world.types(a))
        _require(t.shape == tp.shape, f"{name}.types has shape {t.shape}, not type_probs' {tp.shape}")
        _require(np.all(t >= 0) and t.sum() == _items(a), f"{name}.types counts {t.sum()} items of {_items(a)}")
    desc = world.describe()
    _require(isinstance(desc, dict), f"{name}.describe() returned {type(desc).__name__}, not a dict")
    try:
        json.dumps(desc)
    except TypeError as e:
        raise ContractError(f"{name}.describe() is not JSON-able: {e}") from None


def check_family(make_family: Callable[[], object], data: Data, *, n: int = 50, seed: int = 0,
                 zero_probability: bool = False, finite: bool = True) -> None:
    """Check a model family against :class:`redqueen.models.base.Family` on real ``data``.

    ``make_family`` builds a fresh unfitted instance (a class or a zero-argument factory). Promises:
    ``fit(data, rng)`` returns the fitted family and leaves ``data`` unchanged; ``sample(n, rng)``
    returns ``n`` items of ``data``'s container, the same for the same seed and different for another,
    and the model gives them non-zero probability; ``log_prob`` has one value per item (shape of
    ``weights()``), never NaN or +inf, finite on ``data`` unless ``zero_probability`` (truncated
    sampling, e.g. top-k, gives unseen types zero probability); fitting twice with one seed gives the
    same state; ``state()`` is a dict of numeric numpy arrays (what a safetensors checkpoint holds)
    and ``load_state`` of it into a fresh instance gives the same log-probabilities and samples.
    ``finite=False`` leaves the values alone (NaN samples, NaN log-probabilities): a model that blows
    up numerically is the loop's business -- its arm ends 'diverged' -- not a broken protocol; this
    is how a plug-in is checked before a run. Raises :class:`ContractError`.
    """
    from redqueen.models.base import Family

    before = {k: v.copy() for k, v in _arrays(data).items()}
    fresh = make_family()
    name = type(fresh).__name__
    _require(isinstance(fresh, Family), f"{name} lacks a Family method (fit, sample, log_prob, state, load_state)")
    model = fresh.fit(data, np.random.default_rng(seed))
    _require(model is not None and hasattr(model, "sample"), f"{name}.fit returned {model!r}, not the fitted family")
    after = _arrays(data)
    _require(all(np.array_equal(before[k], after[k]) for k in before), f"{name}.fit changed its training data")
    s1 = model.sample(n, np.random.default_rng(seed + 7))
    _require(type(s1) is type(data), f"{name}.sample returned {type(s1).__name__}, not {type(data).__name__}")
    _require(len(s1) == n, f"{name}.sample({n}) returned {len(s1)} items")
    _require(_same(s1, model.sample(n, np.random.default_rng(seed + 7))), f"{name}.sample differs for the same seed")
    blown_up = any(v.dtype.kind == "f" and not np.isfinite(v).all() for v in _arrays(s1).values())
    if finite or not blown_up:  # NaN samples look alike for every seed
        _require(not _same(s1, model.sample(n, np.random.default_rng(seed + 8))), f"{name}.sample ignores its generator")
    for what, d in (("its training data", data), ("its own samples", s1)):
        lp = np.asarray(model.log_prob(d), dtype=np.float64)
        _require(lp.shape == d.weights().shape, f"{name}.log_prob of {what} has shape {lp.shape}, not {d.weights().shape}")
        if not finite:
            continue
        _require(not np.isnan(lp).any() and not (lp == np.inf).any(), f"{name}.log_prob of {what} has NaN or +inf")
        if d is s1 or not zero_probability:
            _require(np.isfinite(lp[d.weights() > 0]).all(), f"{name}.log_prob gives {what} zero probability")
    state = model.state()
    _require(isinstance(state, dict) and state, f"{name}.state() returned {type(state).__name__}, not a dict of arrays")
    for k, v in state.items():
        _require(isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype.kind in "biuf",
                 f"{name}.state()[{k!r}] is {type(v).__name__}, not a numeric numpy array (safetensors holds only those)")
    again = make_family().fit(data, np.random.default_rng(seed)).state()
    _require(again.keys() == state.keys()
             and all(np.array_equal(state[k], again[k], equal_nan=state[k].dtype.kind == "f") for k in state),
             f"{name}: fitting twice with the same seed gives different states")
    restored = make_family().load_state({k: v.copy() for k, v in state.items()})
    _require(restored is not None, f"{name}.load_state returned None, not the restored family")
    a = np.asarray(restored.log_prob(data), dtype=np.float64)
    b = np.asarray(model.log_prob(data), dtype=np.float64)
    _require(a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=not finite),
             f"{name}: load_state(state()) gives other log-probabilities")
    _require(_same(restored.sample(n, np.random.default_rng(seed + 3)), model.sample(n, np.random.default_rng(seed + 3))),
             f"{name}: load_state(state()) samples differently")
