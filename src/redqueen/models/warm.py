"""Warm start: fine-tune the previous generation's model instead of training from scratch."""

from __future__ import annotations


def warm_start(family, previous):
    """An unfitted copy of ``family`` whose ``fit`` starts from ``previous``'s weights.

    ``family`` is a freshly made family with ``warm_from(previous)`` (Gaussian mixtures: EM started from the
    previous weights, means and precisions) or a neural one (``get_params()`` and an ``init_state``
    hyperparameter); ``previous`` is the last generation's fitted model, or ``None`` at generation 0 (then
    ``family`` is returned as is). Raises ``TypeError`` if ``family`` can do neither.
    """
    if previous is None:
        return family
    if callable(getattr(family, "warm_from", None)):
        return family.warm_from(previous)
    params = family.get_params() if callable(getattr(family, "get_params", None)) else {}
    if "init_state" not in params:
        raise TypeError(f"{type(family).__name__} cannot warm start: it has no init_state hyperparameter")
    return type(family)(**{**params, "init_state": previous.state()})
