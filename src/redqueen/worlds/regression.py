"""A linear-regression world: ``x ~ N(0, I_d)``, ``y = x . w + N(0, sigma^2)``.

Items are :class:`~redqueen.data.Points` of ``d + 1`` columns, the label ``y``
last (the layout :class:`~redqueen.models.regression.LinearRegressionFamily`
reads). ``(x, y)`` is jointly Gaussian, so :meth:`mean` and :meth:`cov` are
exact and any Points family (a Gaussian, a KDE) can model it too.
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Points

_LOG_2PI = float(np.log(2 * np.pi))


class RegressionWorld:
    """``d`` standard-normal inputs, true coefficients ``coef`` (``(d,)``), label noise ``sigma``."""

    def __init__(self, d: int = 10, *, sigma: float = 1.0, coef: float | np.ndarray = 1.0):
        if d < 1 or sigma <= 0:
            raise ValueError("regression world needs d >= 1 and sigma > 0")
        self.d = int(d)
        self.sigma = float(sigma)
        self.coef = np.broadcast_to(np.asarray(coef, dtype=np.float64), (self.d,)).copy()

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        x = rng.standard_normal((n, self.d))
        y = x @ self.coef + self.sigma * rng.standard_normal(n)
        return Points(np.column_stack([x, y]))

    def log_prob(self, data: Points) -> np.ndarray:
        """Joint ``log N(x; 0, I) + log N(y; x . w, sigma^2)`` per row; shape ``(N,)``."""
        x, y = data.x[:, :-1], data.x[:, -1]
        r = (y - x @ self.coef) / self.sigma
        return -0.5 * (np.einsum("ij,ij->i", x, x) + r * r + (self.d + 1) * _LOG_2PI) - np.log(self.sigma)

    def input_cov(self) -> np.ndarray:
        """Covariance of the inputs, ``(d, d)``: the weighting of the test error."""
        return np.eye(self.d)

    def mean(self) -> np.ndarray:
        return np.zeros(self.d + 1)

    def cov(self) -> np.ndarray:
        w = self.coef
        out = np.zeros((self.d + 1, self.d + 1))
        out[: self.d, : self.d] = np.eye(self.d)
        out[: self.d, -1] = out[-1, : self.d] = w
        out[-1, -1] = w @ w + self.sigma**2
        return out

    def type_probs(self) -> None:
        return None

    def types(self, data: Points) -> None:
        return None

    def describe(self) -> dict:
        return {"world": "regression", "d": self.d, "sigma": self.sigma, "coef": self.coef.tolist()}
