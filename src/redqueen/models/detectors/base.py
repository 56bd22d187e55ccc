"""The detector protocol: tell synthetic items from real ones, and keep the fitted state as arrays.

A detector is fitted on labelled examples of both kinds and scores any data of
the kind it was fitted on. ``score`` returns, per entry aligned with
``data.weights()`` (per item for :class:`~redqueen.data.Points` and
:class:`~redqueen.data.Sequences`, per type for
:class:`~redqueen.data.Counts`), a number in [0, 1] that grows with the
evidence that the entry is synthetic; for the classifiers it is their estimate
of P(synthetic) at the class balance they were fitted on. Fitted state is a
dict of numpy arrays (safetensors-able; nothing is pickled): hyperparameters
come from the constructor, as for families, and small metadata travels as a
JSON string in a ``uint8`` array (:func:`pack_meta`).
"""

from __future__ import annotations

import json
from typing import Protocol, runtime_checkable

import numpy as np

from redqueen.data import Data


@runtime_checkable
class Detector(Protocol):
    """``fit(real, synthetic, rng) -> self``; ``score(data) -> (n,) in [0, 1]``; ``state()`` / ``load_state(state)``."""

    def fit(self, real: Data, synthetic: Data, rng: np.random.Generator) -> "Detector": ...

    def score(self, data: Data) -> np.ndarray: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: dict[str, np.ndarray]) -> "Detector": ...


def pack_meta(meta: dict) -> np.ndarray:
    """JSON-able ``meta`` as a uint8 array (UTF-8 bytes of its JSON, keys sorted)."""
    return np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8).copy()


def unpack_meta(arr: np.ndarray) -> dict:
    """Inverse of :func:`pack_meta`."""
    return json.loads(bytes(np.asarray(arr, dtype=np.uint8)).decode("utf-8"))


def seed_from(rng: np.random.Generator) -> int:
    """One integer seed for a scikit-learn ``random_state`` from the caller's generator."""
    return int(rng.integers(2**31 - 1))


def logistic(z: np.ndarray) -> np.ndarray:
    """The logistic function, as scikit-learn's ``LogisticRegression.predict_proba`` applies it (scipy's expit)."""
    from scipy.special import expit

    return expit(np.asarray(z, dtype=np.float64))


def fit_logistic(x_real, x_synthetic, rng: np.random.Generator, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """``LogisticRegression(class_weight="balanced", **kwargs)`` on real (0) and synthetic (1) feature rows
    (dense arrays or sparse matrices); returns ``coef`` (d,) and ``intercept`` (1,), float64."""
    from scipy.sparse import issparse, vstack
    from sklearn.linear_model import LogisticRegression

    x = vstack([x_real, x_synthetic]).tocsr() if issparse(x_real) else np.concatenate([x_real, x_synthetic])
    y = np.r_[np.zeros(x_real.shape[0]), np.ones(x_synthetic.shape[0])]
    lr = LogisticRegression(class_weight="balanced", random_state=seed_from(rng), **kwargs).fit(x, y)
    return lr.coef_[0].astype(np.float64), lr.intercept_.astype(np.float64)


def check_kind(data: Data, kinds: tuple[type, ...], who: str) -> None:
    """``TypeError`` naming the detector and the data kinds it reads, when ``data`` is another kind."""
    if not isinstance(data, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{who} reads {names}, not {type(data).__name__}")
