"""The model-family protocol: what the loop needs from anything it retrains."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from redqueen.data import Data


class Degenerate(ValueError):
    """A family cannot take the next step because its model or its training data has degenerated
    (a language model's samples all empty, fewer rows than coefficients left after curation):
    the loop records the arm as ``diverged``, the end of collapse, not a bug. A plain
    ``ValueError`` raised by redqueen's own code during a run counts as a bug."""


@runtime_checkable
class Family(Protocol):
    """A generative model family, scikit-learn style.

    Hyperparameters are keyword-only constructor arguments stored as given;
    fitted state lives in attributes ending in ``_``.

    * ``fit(data, rng)`` learns from a :mod:`redqueen.data` container and
      returns ``self``; ``rng`` drives any randomness in training.
    * ``sample(n, rng)`` draws ``n`` items of the same container type.
    * ``log_prob(data)`` returns per-item log-probabilities aligned with
      ``data.weights()``.
    * ``state()`` returns the fitted state as a dict of numpy arrays (what a
      safetensors checkpoint holds) and ``load_state(state)`` restores it.
    """

    def fit(self, data: Data, rng: np.random.Generator) -> "Family": ...

    def sample(self, n: int, rng: np.random.Generator) -> Data: ...

    def log_prob(self, data: Data) -> np.ndarray: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: dict[str, np.ndarray]) -> "Family": ...


class WeightGenome:
    """A network family's genome: its trained parameters (``state()`` less ``fixed.`` keys, in order) as one float32
    vector, so that models fitted from one architecture merge, mutate and evolve in weight space
    (:mod:`redqueen.evolve.genome`). Mixed into the transformer, the VAE and the Hugging Face family."""

    def genome(self) -> np.ndarray:
        """All trained parameters, in ``state()`` order, as one float32 vector."""
        from redqueen.evolve.genome import family_genome

        return family_genome(self)[0]

    def genome_space(self, models: list):
        """Several fitted models' weights as one float32 genome each (:func:`redqueen.evolve.genome.state_genome_space`)."""
        from redqueen.evolve.genome import state_genome_space

        return state_genome_space(models)

    def set_genome(self, vec: np.ndarray):
        """Inverse of :meth:`genome` (through ``load_state``); raises ``ValueError`` if the length is wrong."""
        from redqueen.evolve.genome import family_genome, set_family_genome

        return set_family_genome(self, vec, family_genome(self)[1])


def translate(x: np.ndarray, shift, sign: float = 1.0) -> np.ndarray:
    """Points ``x`` ``(n, d)`` moved by ``sign * shift`` (one vector of ``d``), or ``x`` itself when ``shift`` is
    None: a point family's ``shift`` (the arena's ``shift`` gene) emits ``x + shift`` and scores ``x`` as its
    fit scores ``x - shift``, the exact density of the translated samples (a translation's Jacobian is 1)."""
    if shift is None:
        return x
    s = np.asarray(shift, dtype=np.float64)
    if s.shape != (x.shape[1],):
        raise ValueError(f"shift has {s.size} values for points of dimension {x.shape[1]}; give one per dimension")
    return x + sign * s


def type_probs(model: Family) -> np.ndarray | None:
    """The model's exact distribution over its world's types, where it has one (categorical families)."""
    fn = getattr(model, "type_probs", None)
    return fn() if callable(fn) else None
