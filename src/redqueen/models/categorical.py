"""The categorical family: maximum likelihood with optional additive smoothing."""

from __future__ import annotations

import numpy as np

from redqueen.data import Counts, multinomial
from redqueen.models.decoding import decode_probs
from redqueen.runtime import restored
from redqueen.watermark.scheme import as_watermark


class CategoricalFamily:
    """MLE over ``K`` types: ``p = (counts + alpha) / (N + K alpha)``.

    Fitting it to its own samples under the replace regime is exactly the
    Wright-Fisher process with population size ``N``; ``alpha > 0`` acts as
    mutation towards the uniform distribution. ``temperature``, ``top_k`` and
    ``top_p`` bias sampling; the model's distribution is the biased one.

    ``watermark`` (a :class:`~redqueen.watermark.Watermark` or a dict of its
    fields, ``context = 0``): i.i.d. items have no previous token to hash, so
    the watermark is one fixed green list of ``int(K gamma)`` types keyed by
    ``key`` alone, and the (biased) distribution is tilted towards it:
    ``p_w ∝ p e^(delta green)``, after temperature/top-k/top-p as Hugging Face
    orders it. It is detected over a document of items (a whole
    :class:`~redqueen.data.Counts`, :func:`redqueen.watermark.detect_counts`),
    with power growing like sqrt(n); a single item carries one bit (its
    colour), and the tilt is a plain change of the type frequencies that any
    refit copies. ``fit`` raises ``ValueError`` for ``context != 0``.
    """

    def __init__(self, *, alpha: float = 0.0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 watermark=None):
        self.alpha = alpha
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.watermark = watermark

    def fit(self, data: Counts, rng: np.random.Generator | None = None) -> "CategoricalFamily":
        c = data.counts
        self.labels_ = data.labels
        total = c.sum()
        p = (c + self.alpha) / (total + self.alpha * c.shape[0]) if self.alpha else c / total
        if self.temperature != 1.0 or self.top_k or self.top_p < 1.0:
            p = decode_probs(p, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        wm = as_watermark(self.watermark)
        if wm is not None:
            if wm.context != 0:
                raise ValueError("i.i.d. categorical items have no previous token: set the watermark's context = 0")
            green = wm.greens(p.shape[0]).mask(np.ones(1, np.int64))[0]
            p = p * np.where(green, np.exp(wm.delta), 1.0)
            p = p / p.sum()
        self.probs_ = p
        return self

    def sample(self, n: int, rng: np.random.Generator) -> Counts:
        return Counts(multinomial(n, self.probs_, rng), self.labels_)

    def log_prob(self, data: Counts) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.probs_)

    def type_probs(self) -> np.ndarray:
        return self.probs_

    def genome_space(self, models: list["CategoricalFamily"]):
        """The models' probability vectors (float64, ``(P, K)``); a merged or mutated vector is clipped at 0
        and renormalised (all zero: the first model's distribution)."""
        from redqueen.evolve.genome import Genomes, Layout

        vectors = np.stack([m.probs_ for m in models]).astype(np.float64)
        template = self

        def build(vec: np.ndarray) -> "CategoricalFamily":
            p = np.clip(np.asarray(vec, dtype=np.float64), 0.0, None)
            total = p.sum()
            return template._with_probs(p / total if total > 0 and np.isfinite(total) else template.probs_.copy())

        return Genomes(vectors, Layout.from_shapes({"probs": (vectors.shape[1],)}), build)

    def _with_probs(self, p: np.ndarray) -> "CategoricalFamily":
        """A fitted model of this family's hyperparameters and labels with distribution ``p`` (K,)."""
        child = CategoricalFamily(alpha=self.alpha, temperature=self.temperature, top_k=self.top_k,
                                  top_p=self.top_p, watermark=self.watermark)
        child.probs_ = p
        child.labels_ = self.labels_
        return child

    def mix(self, models: list["CategoricalFamily"], weights: np.ndarray) -> list["CategoricalFamily"]:
        """Row ``i`` of ``weights`` (``(M, P)``, non-negative, rows summing to 1) as one model: the mixture
        ``sum_j weights[i, j] models[j]``, which for categoricals is a categorical. All ``M`` rows in one
        matrix product ``weights @ probs`` (``(M, P) @ (P, K)``), so a population of P members mixes its
        migrants in one BLAS call instead of ``P^2`` vector updates."""
        probs = np.asarray(weights, dtype=np.float64) @ np.stack([m.probs_ for m in models])
        probs /= probs.sum(axis=1, keepdims=True)
        return [self._with_probs(p) for p in probs]

    def sample_mixture(self, models: list["CategoricalFamily"], weights: np.ndarray, n: int,
                       rng: np.random.Generator) -> Counts:
        """``n`` items, each from ``models[j]`` with probability ``weights[j]`` (P,): one multinomial draw from
        the mixed distribution (:meth:`mix`), which is exactly that (the migration of Wright's island model)."""
        return self.mix(models, np.asarray(weights, dtype=np.float64)[None])[0].sample(n, rng)

    def state(self) -> dict[str, np.ndarray]:
        return {"probs": self.probs_}

    def load_state(self, state: dict[str, np.ndarray]) -> "CategoricalFamily":
        p = restored.array(state, "probs", shape=(None,), lo=0.0).astype(np.float64)
        if not p.size or abs(p.sum() - 1.0) > 1e-6:
            raise ValueError(f"probs sum to {p.sum()}, not 1")
        self.probs_ = p
        self.labels_ = getattr(self, "labels_", None)
        return self
