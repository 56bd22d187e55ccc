"""Making a child from two members in weight space: one recombination operator, then an optional mutation.

The operators are :mod:`redqueen.evolve.operators` applied to the members' shared genomes
(:func:`redqueen.evolve.genome.genomes`): ``lerp``, ``slerp``, ``splitpoint`` (M2N2's split-point
SLERP: weight ``w`` before a random split, ``1 - w`` after), ``ties`` and ``dare`` (task-vector
merges against the population's centroid genome, the parents' common ancestor in effect).
Mutations: ``gaussian`` adds noise of standard deviation ``sigma`` times the genome's
root-mean-square (so one ``sigma`` means the same for probabilities and for weights), or times its
``unit`` where it has one (Gaussian and mixture genomes, in natural coordinates: 1);
``svd`` is CycleQD's SVD mutation of the child's difference from the centroid, on 2-D tensors.
The family's ``build`` then repairs what the operators break (probabilities clipped and
renormalised, counts clipped at 0, mixture weights renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.evolve import operators as ops
from redqueen.evolve.genome import Genomes

OPERATORS = ("lerp", "slerp", "splitpoint", "ties", "dare")
MUTATIONS = ("none", "gaussian", "svd")


@dataclass(frozen=True)
class Breeding:
    """How a coupling recombines two genomes; ``weight`` None draws it from U(0, 1) per child."""

    operator: str = "splitpoint"
    weight: float | None = None
    density: float = 0.2  # ties: share of each task vector kept
    drop: float = 0.5  # dare: drop probability
    mutation: str = "none"
    sigma: float = 0.0  # gaussian: relative to the genome's unit, or its RMS
    svd_rate: float = 0.1  # svd: singular values grow by up to this factor

    def child(self, g: Genomes, a: int, b: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """``(genome, w)``: a child of members ``a`` and ``b`` and the weight of ``b`` in it."""
        x, y = g.vectors[a], g.vectors[b]
        w = float(rng.random()) if self.weight is None else float(self.weight)
        if self.operator == "lerp":
            vec = ops.lerp(x, y, w)
        elif self.operator == "slerp":
            vec = ops.slerp(x, y, w)
        elif self.operator == "splitpoint":
            vec = ops.splitpoint_slerp(x, y, w, int(rng.integers(0, x.shape[0])))
        elif self.operator == "ties":
            vec, w = ops.ties(g.vectors.mean(axis=0), np.stack([x, y]), self.density), 0.5
        elif self.operator == "dare":
            vec, w = ops.dare(g.vectors.mean(axis=0), np.stack([x, y]), self.drop, rng), 0.5
        else:
            raise ValueError(f"unknown merge operator {self.operator!r}; choose {', '.join(OPERATORS)}")
        if self.mutation == "gaussian" and self.sigma > 0:
            unit = float(np.sqrt(np.mean(np.square(vec, dtype=np.float64)))) if g.unit is None else g.unit
            vec = ops.gaussian_mutation(vec, self.sigma * unit, rng)
        elif self.mutation == "svd":
            vec = ops.svd_mutation(vec, g.vectors.mean(axis=0), g.layout, self.svd_rate, rng)
        return vec, w
