"""The linear-regression family (Gerstgrasser et al. 2024; Dey & Donoho 2024).

Data are :class:`~redqueen.data.Points` whose **last column is the label**
``y`` and whose other ``d`` columns are the inputs ``x`` (what
:class:`~redqueen.worlds.regression.RegressionWorld` draws). ``fit`` is
ordinary least squares of ``y`` on ``x`` (no intercept) plus a residual
variance; ``sample(n)`` returns the model's own labels for the inputs it was
trained on: the first ``n`` training inputs, in order (tiled when ``n`` is
larger), each with ``y = x . coef_ + N(0, s^2)``. That is the *fixed design*
of both papers' analyses: under ``replace`` every generation relabels the
generation-0 inputs, and under ``accumulate`` the pool starts with them, so
the first ``n`` inputs of every training set are generation 0's.

The family models ``y`` given ``x`` only, so :meth:`log_prob` is the
conditional log-density ``log N(y; x . coef_, s^2)`` (the diagnostics'
``nll_real`` is then the test loss on real data).
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Points
from redqueen.models.base import Degenerate
from redqueen.runtime import restored


class LinearRegressionFamily:
    """OLS with a fitted (or fixed) label noise; synthetic labels on the fixed training design.

    ``variance``: ``"unbiased"`` (residual variance ``RSS / (N - d)``) or ``"mle"``
    (``RSS / N``). ``noise_std``: when given, synthetic labels use this noise
    standard deviation instead of the fitted one (the known-noise setting of
    Gerstgrasser et al.'s Theorem; the fitted value is still reported).
    ``fit`` raises ``ValueError`` for data with fewer than 2 columns or fewer
    rows than the degrees of freedom need.
    """

    def __init__(self, *, variance: str = "unbiased", noise_std: float | None = None):
        if variance not in ("unbiased", "mle"):
            raise ValueError(f"variance={variance!r} is not 'unbiased' or 'mle'")
        self.variance = variance
        self.noise_std = noise_std

    def fit(self, data: Points, rng: np.random.Generator | None = None) -> "LinearRegressionFamily":
        """Least squares on ``data.x[:, :-1]`` (``(N, d)``) against ``data.x[:, -1]`` (``(N,)``); no randomness."""
        if data.x.shape[1] < 2:
            raise ValueError("regression data need at least one input column and the label as the last column")
        x, y = data.x[:, :-1], data.x[:, -1]
        n, d = x.shape
        dof = n - d if self.variance == "unbiased" else n
        if dof < 1:
            raise Degenerate(f"{n} rows cannot fit {d} coefficients with variance={self.variance!r}; give more than {d} rows")
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        self.coef_ = coef
        self.noise_var_ = float(resid @ resid) / dof
        self.inputs_ = x
        return self

    def _label_std(self) -> float:
        return float(np.sqrt(self.noise_var_)) if self.noise_std is None else float(self.noise_std)

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        """The first ``n`` training inputs (tiled if needed) with fresh labels; shape ``(n, d + 1)``."""
        m = self.inputs_.shape[0]
        x = self.inputs_[np.arange(n) % m] if n != m else self.inputs_
        y = x @ self.coef_ + self._label_std() * rng.standard_normal(n)
        return Points(np.column_stack([x, y]))

    def log_prob(self, data: Points) -> np.ndarray:
        """``log N(y; x . coef_, s^2)`` per row, ``s^2`` the fitted noise variance; shape ``(N,)``."""
        x, y = data.x[:, :-1], data.x[:, -1]
        var = max(self.noise_var_, np.finfo(float).tiny)
        r = y - x @ self.coef_
        return -0.5 * (r * r / var + np.log(2 * np.pi * var))

    def state(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_, "noise_var": np.array([self.noise_var_]), "inputs": self.inputs_}

    def load_state(self, state: dict[str, np.ndarray]) -> "LinearRegressionFamily":
        self.coef_ = restored.array(state, "coef", shape=(None,)).astype(np.float64)
        self.noise_var_ = float(restored.array(state, "noise_var", shape=(1,), lo=0.0)[0])
        self.inputs_ = restored.array(state, "inputs", shape=(None, self.coef_.shape[0])).astype(np.float64)
        return self
