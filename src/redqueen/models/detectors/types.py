"""A detector for categorical items: the Bayes classifier of an item's type, real against synthetic.

An i.i.d. categorical item carries no evidence but its type ``k``. Fitted on
real and synthetic :class:`~redqueen.data.Counts`, the detector estimates both
type distributions with add-``alpha`` smoothing and scores type ``k`` with
``q_k / (q_k + r_k)``: P(synthetic | k) at balanced classes (the likelihood
ratio test, hence the most powerful per-item test when the estimates are
right). ``score`` is per type, aligned with ``Counts.weights()``.
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Counts
from redqueen.models.detectors.base import check_kind, pack_meta, unpack_meta
from redqueen.runtime import restored


class TypeDetector:
    """``alpha`` (> 0): add-alpha smoothing of both type distributions."""

    def __init__(self, *, alpha: float = 0.5):
        self.alpha = alpha

    def fit(self, real: Counts, synthetic: Counts, rng: np.random.Generator) -> "TypeDetector":
        """No randomness; ``rng`` is the protocol's. Raises ``ValueError`` if the two have different ``K``."""
        check_kind(real, (Counts,), "TypeDetector")
        check_kind(synthetic, (Counts,), "TypeDetector")
        if real.k != synthetic.k:
            raise ValueError(f"real has {real.k} types, synthetic {synthetic.k}")
        r = (real.counts + self.alpha) / (len(real) + self.alpha * real.k)
        q = (synthetic.counts + self.alpha) / (len(synthetic) + self.alpha * synthetic.k)
        self.p_synthetic_ = q / (q + r)
        return self

    def score(self, data: Counts) -> np.ndarray:
        """P(synthetic) per type; (K,) float64."""
        check_kind(data, (Counts,), "TypeDetector")
        if data.k != self.p_synthetic_.shape[0]:
            raise ValueError(f"fitted on {self.p_synthetic_.shape[0]} types, asked to score {data.k}")
        return self.p_synthetic_.copy()

    def state(self) -> dict[str, np.ndarray]:
        return {"p_synthetic": self.p_synthetic_, "meta": pack_meta({"alpha": self.alpha})}

    def load_state(self, state: dict[str, np.ndarray]) -> "TypeDetector":
        self.alpha = restored.number(unpack_meta(state["meta"]), "alpha", positive=True)
        self.p_synthetic_ = restored.array(state, "p_synthetic", shape=(None,), lo=0.0, hi=1.0).astype(np.float64)
        return self
