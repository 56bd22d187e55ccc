"""A CMA-ES baseline on the ``cma`` package (Hansen's pycma).

Maximises the mean per-datapoint score. With ``diagonal=True`` (default)
it is separable CMA-ES (``CMA_diagonal=True``): linear time and memory.
The full-covariance variant M2N2 ran needs a ``d x d`` matrix (2.9 GB for
the 19,210-parameter MLP) and is left to callers who pass
``diagonal=False``. Sampling draws from the strategy's own numpy
``Generator`` (pycma's ``randn`` option), never numpy's global state.

pycma's state is a large object that only pickling would save, and
checkpoints never unpickle; so :meth:`CMAES.state` is the log of every
told fitness vector and :meth:`CMAES.load_state` replays it (``ask``, then
``tell`` the logged values) from the generator's state at construction:
no forward pass is repeated, and the replayed strategy is the original bit
for bit (its samples come from the same generator draws).
"""

from __future__ import annotations

import warnings

import numpy as np

from redqueen.evolve.base import as_rng, check_told
from redqueen.runtime import restored


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
        self.x0 = np.asarray(x0, dtype=np.float64)
        self.sigma0 = sigma0
        self.popsize = popsize
        self.diagonal = diagonal
        self.rng_ = as_rng(rng)
        self.rng0_ = self.rng_.bit_generator.state  # where the replay of load_state starts
        self.es_ = self._start()
        self.asked_: list[np.ndarray] | None = None
        self.best_: tuple[np.ndarray, float] | None = None
        self.told_: list[np.ndarray] = []  # every told fitness vector (what load_state replays)
        self.last_: tuple[np.ndarray, np.ndarray] | None = None  # the last told population and its scores

    def _start(self):
        import cma

        rng_ = self.rng_
        opts = {
            "popsize": self.popsize,
            "randn": lambda *shape: rng_.standard_normal(shape),
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
            "CMA_diagonal": True if self.diagonal else 0,
        }
        return cma.CMAEvolutionStrategy(self.x0, self.sigma0, opts)

    def ask(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """``(popsize, d)`` float32 samples. ``rng`` is ignored: pycma samples from the constructor's generator."""
        self.asked_ = self.es_.ask()
        return np.asarray(self.asked_, dtype=np.float32)

    def tell(self, genomes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Tell a full population as asked; raises ``ValueError`` on another batch size.

        Returns ``(B,)`` int: each genome's rank in this population (0 = best), which is all pycma uses."""
        g, s = check_told(genomes, scores)
        if self.asked_ is None or len(self.asked_) != len(g):
            raise ValueError(f"CMAES.tell() needs the {self.popsize} genomes of the last ask(), got {len(g)}")
        acc = s.mean(axis=1)
        self._told(g, acc)
        ranks = np.empty(len(acc), dtype=np.int64)
        ranks[np.argsort(-acc, kind="stable")] = np.arange(len(acc))
        return ranks

    def _told(self, g: np.ndarray, acc: np.ndarray) -> None:
        """Tell pycma the last ask's mean scores ``acc`` of genomes ``g`` (that ask as float32); log them."""
        _tell(self.es_, self.asked_, acc)
        self.told_.append(acc.astype(np.float64))
        self.last_ = (g.copy(), acc.astype(np.float64))
        self.asked_ = None
        i = int(np.argmax(acc))
        if self.best_ is None or acc[i] > self.best_[1]:
            self.best_ = (g[i].copy(), float(acc[i]))

    def best(self) -> tuple[np.ndarray, float]:
        """Best genome evaluated so far (pycma's ``xbest``), and its mean score."""
        return self.best_[0].copy(), self.best_[1]

    def members(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best genome so far, then the last told population best first; their mean scores."""
        if self.best_ is None:
            return np.zeros((0, self.x0.shape[0]), np.float32), np.zeros(0)
        order = np.argsort(-self.last_[1], kind="stable")
        g = np.concatenate([self.best_[0][None], self.last_[0][order]])[:k]
        return g, np.concatenate([[self.best_[1]], self.last_[1][order]])[:k]

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        told = np.stack(self.told_) if self.told_ else np.zeros((0, self.popsize))
        arrays = {"told": told}
        if self.best_ is not None:
            arrays |= {"best": self.best_[0], "last": self.last_[0], "last_scores": self.last_[1]}
        return arrays, {"rng0": self.rng0_, "best_score": None if self.best_ is None else self.best_[1]}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Replay the logged tells from the generator's starting state (see the module docstring); the best and
        last populations follow from the replay, and stored ones that differ are refused (``ValueError``)."""
        told = restored.array(arrays, "told", shape=(None, self.popsize)).astype(np.float64)
        self.rng_.bit_generator.state = meta["rng0"]
        self.es_ = self._start()
        self.told_, self.best_, self.last_ = [], None, None
        for acc in told:
            self.asked_ = self.es_.ask()
            self._told(np.asarray(self.asked_, dtype=np.float32), acc)
        stored = (arrays.get("best"), meta.get("best_score"), arrays.get("last"), arrays.get("last_scores"))
        replayed = (None,) * 4 if self.best_ is None else (*self.best_, *self.last_)
        if not all(a is None and b is None or a is not None and b is not None and np.array_equal(a, b)
                   for a, b in zip(stored, replayed)):
            raise ValueError("the best or last population disagrees with the replayed tells")


def _tell(es, asked, acc: np.ndarray) -> None:
    """``es.tell`` of the scores ``acc`` (maximised), without pycma's warning that an evolution path or sample is
    beyond 7.4 standard deviations of the diagonal step sizes ("elements of z2[k] are larger than 55", once per
    distinct value: a hundred lines on a long run, again on every replay). pycma bounds that update itself; it
    says only that the mean moves steadily along some coordinates. Every other warning passes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="elements of z2", category=UserWarning, module="cma")
        es.tell(asked, (-acc).tolist())
