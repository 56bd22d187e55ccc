"""A CMA-ES baseline on the ``cma`` package (Hansen's pycma).

Maximises the mean per-datapoint score. With ``diagonal=True`` (default)
it is separable CMA-ES (``CMA_diagonal=True``): linear time and memory.
The full-covariance variant M2N2 ran needs a ``d x d`` matrix (2.9 GB for
the 19,210-parameter MLP) and is left to callers who pass
``diagonal=False``. Sampling draws from the strategy's own numpy
``Generator`` (pycma's ``randn`` option), never numpy's global state.
"""

from __future__ import annotations

import numpy as np

from redqueen.evolve.base import as_rng, check_told


class CMAES:
    """CMA-ES from ``x0`` ``(d,)`` with step size ``sigma0`` and ``popsize`` genomes per ask."""

    def __init__(
        self,
        *,
        x0: np.ndarray,
        sigma0: float = 0.01,
        popsize: int = 20,
        diagonal: bool = True,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        import cma

        self.x0 = np.asarray(x0, dtype=np.float64)
        self.sigma0 = sigma0
        self.popsize = popsize
        self.diagonal = diagonal
        self.rng_ = as_rng(rng)
        rng_ = self.rng_
        opts = {
            "popsize": popsize,
            "randn": lambda *shape: rng_.standard_normal(shape),
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
            "CMA_diagonal": True if diagonal else 0,
        }
        self.es_ = cma.CMAEvolutionStrategy(self.x0, sigma0, opts)
        self.asked_: list[np.ndarray] | None = None
        self.best_: tuple[np.ndarray, float] | None = None

    def ask(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """``(popsize, d)`` float32 samples. ``rng`` is ignored: pycma samples from the constructor's generator."""
        self.asked_ = self.es_.ask()
        return np.asarray(self.asked_, dtype=np.float32)

    def tell(self, genomes: np.ndarray, scores: np.ndarray) -> None:
        """Tell a full population as asked; raises ``ValueError`` on another batch size."""
        g, s = check_told(genomes, scores)
        if self.asked_ is None or len(self.asked_) != len(g):
            raise ValueError(f"CMAES.tell() needs the {self.popsize} genomes of the last ask(), got {len(g)}")
        acc = s.mean(axis=1)
        self.es_.tell(self.asked_, (-acc).tolist())
        self.asked_ = None
        i = int(np.argmax(acc))
        if self.best_ is None or acc[i] > self.best_[1]:
            self.best_ = (g[i].copy(), float(acc[i]))

    def best(self) -> tuple[np.ndarray, float]:
        """Best genome evaluated so far (pycma's ``xbest``), and its mean score."""
        return self.best_[0].copy(), self.best_[1]
