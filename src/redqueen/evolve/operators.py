"""Recombination (merging) and mutation of genomes: pure functions.

Every operator takes ``(d,)`` float genomes (see :mod:`redqueen.evolve.genome`) and
returns a new ``(d,)`` genome of the same precision -- float64 when the inputs are float64
(the loop's categorical and Gaussian genomes), float32 otherwise (weights, M2N2's digits
MLP); random ones take an explicit
``numpy.random.Generator``. Merges against a base model take the base
genome and a ``(k, d)`` stack (or sequence) of fine-tuned genomes; their
differences from the base are the task vectors.

* :func:`lerp` -- linear interpolation.
* :func:`slerp` -- spherical interpolation along the great circle through the
  two flattened genomes (falls back to :func:`lerp` when they are parallel).
* :func:`splitpoint_slerp` -- M2N2's crossover: SLERP with weight ``w`` for
  positions before ``split`` and ``1 - w`` from ``split`` on.
* :func:`task_arithmetic`, :func:`ties`, :func:`dare` -- merges of task vectors.
* :func:`gaussian_mutation` -- add isotropic Gaussian noise.
* :func:`svd_mutation` -- CycleQD's mutation: per 2-D tensor, scale up the
  singular values of the task vector by random factors ``1 + rate * U(0, 1)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from redqueen.evolve.genome import Layout

PARALLEL_EPS = 1e-6  # below this sin(angle), SLERP is linear interpolation (as in M2N2)


def _f32(x: np.ndarray, *like: np.ndarray) -> np.ndarray:
    """``x`` as float64 if it (or every array in ``like``) is float64, else as float32."""
    x = np.asarray(x)
    wide = x.dtype == np.float64 and all(np.asarray(o).dtype == np.float64 for o in like)
    return x if wide else x.astype(np.float32, copy=False)


def _stack(tasks: np.ndarray | Sequence[np.ndarray], dtype) -> np.ndarray:
    t = np.asarray(tasks, dtype=dtype)
    return t[None] if t.ndim == 1 else t


def lerp(x: np.ndarray, y: np.ndarray, w: float) -> np.ndarray:
    """``(1 - w) x + w y``; ``x``, ``y`` of shape ``(d,)``."""
    x, y = _f32(x, y), _f32(y, x)
    return ((1.0 - w) * x + w * y).astype(x.dtype)


def slerp_angle(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(omega, sin(omega))``: the angle between ``x`` and ``y``; ``(0, 0)`` if either is zero.

    The three dot products are float32 BLAS dots (M2N2's code also works in
    float32); the rest is float64.
    """
    xx, yy = float(np.dot(x, x)), float(np.dot(y, y))
    if xx == 0.0 or yy == 0.0:
        return 0.0, 0.0
    omega = float(np.arccos(np.clip(float(np.dot(x, y)) / np.sqrt(xx * yy), -1.0, 1.0)))
    return omega, float(np.sin(omega))


def _slerp_scales(w: float, omega: float, sin_omega: float) -> tuple[float, float]:
    if sin_omega > PARALLEL_EPS:
        return np.sin((1.0 - w) * omega) / sin_omega, np.sin(w * omega) / sin_omega
    return 1.0 - w, w


def slerp(x: np.ndarray, y: np.ndarray, w: float) -> np.ndarray:
    """Spherical interpolation: ``w = 0`` gives ``x``, ``w = 1`` gives ``y``; shapes ``(d,)``."""
    x, y = _f32(x, y), _f32(y, x)
    a, b = _slerp_scales(w, *slerp_angle(x, y))
    return (x.dtype.type(a) * x + x.dtype.type(b) * y).astype(x.dtype)


def splitpoint_slerp(x: np.ndarray, y: np.ndarray, w: float, split: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """M2N2 crossover: SLERP with weight ``w`` on ``[:split]`` and ``1 - w`` on ``[split:]``.

    The angle is that of the whole genomes. ``split`` in ``[0, d]``; M2N2
    draws it uniformly from ``[0, d)`` and ``w`` from ``U(0, 1)``. ``out``, a
    ``(d,)`` float32 array not aliasing ``x`` or ``y``, receives the result if given.
    """
    x, y = _f32(x, y), _f32(y, x)
    f = x.dtype.type
    omega, s = slerp_angle(x, y)
    a0, b0 = _slerp_scales(w, omega, s)
    a1, b1 = _slerp_scales(1.0 - w, omega, s)
    out = np.empty_like(x) if out is None else out
    np.multiply(x[:split], f(a0), out=out[:split])
    out[:split] += f(b0) * y[:split]
    np.multiply(x[split:], f(a1), out=out[split:])
    out[split:] += f(b1) * y[split:]
    return out


def random_splitpoint_slerp(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`splitpoint_slerp` with ``split ~ U{0..d-1}`` and ``w ~ U(0, 1)``, as M2N2 draws them."""
    split = int(rng.integers(0, x.shape[0]))
    return splitpoint_slerp(x, y, float(rng.random()), split)


def task_arithmetic(base: np.ndarray, tasks: np.ndarray | Sequence[np.ndarray], lam: float = 1.0) -> np.ndarray:
    """``base + lam * sum_i (tasks[i] - base)``; ``tasks`` has shape ``(k, d)``."""
    base = _f32(base, *np.atleast_2d(tasks))
    tau = _stack(tasks, base.dtype) - base
    return (base + base.dtype.type(lam) * tau.sum(axis=0)).astype(base.dtype)


def trim_top(tau: np.ndarray, density: float) -> np.ndarray:
    """Keep the ``ceil(density * d)`` largest-magnitude entries of each row of ``(k, d)`` ``tau``; zero the rest."""
    k, d = tau.shape
    keep = int(np.ceil(density * d))
    if keep >= d:
        return tau.copy()
    out = np.zeros_like(tau)
    if keep <= 0:
        return out
    idx = np.argpartition(-np.abs(tau), keep - 1, axis=1)[:, :keep]
    rows = np.arange(k)[:, None]
    out[rows, idx] = tau[rows, idx]
    return out


def ties(base: np.ndarray, tasks: np.ndarray | Sequence[np.ndarray], density: float = 0.2, lam: float = 1.0) -> np.ndarray:
    """TIES merging (Yadav et al. 2023): trim, elect sign, disjoint mean.

    Each task vector keeps its top ``density`` fraction of entries by
    magnitude; each coordinate's sign is the sign of the sum of the trimmed
    values; the merged value is the mean of the trimmed values that agree
    with that sign (zero where none do). Returns ``base + lam * merged``.
    """
    base = _f32(base, *np.atleast_2d(tasks))
    tau = trim_top(_stack(tasks, base.dtype) - base, density)
    sign = np.sign(tau.sum(axis=0))
    agree = (np.sign(tau) == sign) & (tau != 0)
    count = agree.sum(axis=0)
    merged = np.where(agree, tau, 0).sum(axis=0) / np.maximum(count, 1)
    return (base + base.dtype.type(lam) * merged).astype(base.dtype)


def dare(
    base: np.ndarray,
    tasks: np.ndarray | Sequence[np.ndarray],
    p: float,
    rng: np.random.Generator,
    lam: float = 1.0,
) -> np.ndarray:
    """DARE (Yu et al. 2024): drop each task-vector entry with probability ``p``, rescale survivors by ``1/(1-p)``, add.

    Returns ``base + lam * sum_i rescaled_i``. Raises ``ValueError`` unless ``0 <= p < 1``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"DARE drop probability p={p} must be in [0, 1)")
    base = _f32(base, *np.atleast_2d(tasks))
    tau = _stack(tasks, base.dtype) - base
    keep = rng.random(tau.shape) >= p
    return (base + base.dtype.type(lam / (1.0 - p)) * np.where(keep, tau, 0).sum(axis=0)).astype(base.dtype)


def gaussian_mutation(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``x + sigma * N(0, I)``; shape ``(d,)`` (or any shape), in ``x``'s precision."""
    x = _f32(x)
    return x + x.dtype.type(sigma) * rng.standard_normal(x.shape, dtype=x.dtype)


def svd_mutation(
    x: np.ndarray,
    base: np.ndarray,
    layout: Layout,
    rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """CycleQD's SVD mutation of the task vector ``x - base``, tensor by tensor.

    For each 2-D tensor with task vector ``T = U diag(s) V^T`` (thin SVD), add
    ``U diag(s * rate * u) V^T`` with ``u ~ U(0, 1)^r``: each singular value of
    the task vector grows by a random factor in ``[1, 1 + rate]``. Other
    tensors (biases, norms) are copied unchanged.
    """
    x, base = _f32(x, base), _f32(base, x)
    out = x.copy()
    for _, shape, sl in layout.items():
        if len(shape) != 2:
            continue
        tau = (x[sl] - base[sl]).reshape(shape).astype(np.float64)
        u, s, vt = np.linalg.svd(tau, full_matrices=False)
        scale = rate * rng.random(s.shape[0])
        out[sl] += ((u * (s * scale)) @ vt).astype(out.dtype).ravel()
    return out
