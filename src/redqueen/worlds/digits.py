"""The digits world: scikit-learn's 1797 handwritten 8x8 digits as 64-dimensional points.

Real samples are images drawn with replacement. There is no exact density
(``log_prob`` is ``None``); the "alleles" for the diagnostics are the ten
digit classes, assigned to any point (real or generated) by a k-nearest-
neighbour classifier fitted once on the real images, so a model that stops
drawing 7s has lost the 7 allele. The world's distribution over types is the
true class frequency of the data set.
"""

from __future__ import annotations

import functools

import numpy as np

from redqueen.data import Points

PIXEL_MAX = 16.0


@functools.lru_cache(maxsize=4)
def _digits(scale: bool, neighbors: int):
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    bunch = load_digits()
    x = bunch.data.astype(np.float64) / (PIXEL_MAX if scale else 1.0)
    y = bunch.target.astype(np.int64)
    x.setflags(write=False)
    clf = KNeighborsClassifier(n_neighbors=neighbors, algorithm="brute").fit(x, y)
    return x, y, clf


class Digits:
    """scikit-learn's ``load_digits``: points of shape ``(n, 64)``, pixel values 0..16 (or 0..1 with ``scale``).

    ``neighbors`` is the k of the k-nearest-neighbour classifier that assigns
    digit classes (types) to points.
    """

    def __init__(self, *, scale: bool = False, neighbors: int = 5):
        if neighbors < 1:
            raise ValueError(f"digits world needs neighbors >= 1, got {neighbors}")
        self.scale = scale
        self.neighbors = neighbors
        self._x, self._y, self._clf = _digits(bool(scale), int(neighbors))
        self._probs = np.bincount(self._y, minlength=10) / self._y.size

    @property
    def data(self) -> np.ndarray:
        """All 1797 real images, shape (1797, 64), read-only."""
        return self._x

    @property
    def d(self) -> int:
        return self._x.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        """``n`` real images drawn uniformly with replacement; ``x`` has shape ``(n, 64)``."""
        return Points(self._x[rng.integers(0, self._x.shape[0], n)])

    def log_prob(self, data: Points) -> None:
        return None

    def classify(self, data: Points) -> np.ndarray:
        """The digit class (0..9) of each point; shape (n,)."""
        if len(data) == 0:
            return np.zeros(0, dtype=np.int64)
        return self._clf.predict(data.x).astype(np.int64)

    def type_probs(self) -> np.ndarray:
        """True class frequencies of the data set; shape (10,)."""
        return self._probs

    def types(self, data: Points) -> np.ndarray:
        """How many points the classifier puts in each class; shape (10,)."""
        return np.bincount(self.classify(data), minlength=10).astype(np.int64)

    @property
    def type_labels(self) -> tuple[str, ...]:
        return tuple(str(i) for i in range(10))

    def mean(self) -> np.ndarray:
        """Mean real image, shape (64,)."""
        return self._x.mean(axis=0)

    def cov(self) -> np.ndarray:
        """Covariance of the real images, shape (64, 64)."""
        return np.cov(self._x, rowvar=False)

    def describe(self) -> dict:
        return {"world": "digits", "d": self.d, "n_images": int(self._x.shape[0]), "scale": self.scale,
                "neighbors": self.neighbors}
