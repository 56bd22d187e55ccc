"""Warm start: fine-tune the previous generation's model instead of training from scratch."""

from __future__ import annotations


def warm_start(family, previous):
    """An unfitted copy of ``family`` whose ``fit`` starts from ``previous``'s weights.

    ``family`` is a freshly made neural family (anything with ``get_params()``
    and an ``init_state`` hyperparameter); ``previous`` is the last generation's
    fitted model, or ``None`` at generation 0 (then ``family`` is returned as is).
    Raises ``TypeError`` if ``family`` has no ``init_state`` hyperparameter.
    """
    if previous is None:
        return family
    params = family.get_params()
    if "init_state" not in params:
        raise TypeError(f"{type(family).__name__} cannot warm start: it has no init_state hyperparameter")
    return type(family)(**{**params, "init_state": previous.state()})
