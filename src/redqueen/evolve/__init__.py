"""Populations of models that recombine (merge) and mutate in weight space.

Genomes (:mod:`.genome`), merge and mutation operators (:mod:`.operators`),
ask/tell strategies (:mod:`.m2n2`, :mod:`.map_elites`, :mod:`.cma_es`),
the digits task and its MLP genomes (:mod:`.digits`) and the ``redqueen evolve`` config
(:mod:`.runner`), which runs on the population runtime (:mod:`redqueen.loop.task`).
"""

from redqueen.evolve.base import Strategy
from redqueen.evolve.digits import DigitsTask, mlp_correct, mlp_layout
from redqueen.evolve.genome import Layout, flatten, unflatten
from redqueen.evolve.m2n2 import M2N2, attraction, niche_fitness
from redqueen.evolve.operators import (
    dare,
    gaussian_mutation,
    lerp,
    random_splitpoint_slerp,
    slerp,
    splitpoint_slerp,
    svd_mutation,
    task_arithmetic,
    ties,
)
from redqueen.evolve.runner import EvolveConfig, EvolveRecord, run_evolve, to_experiment

__all__ = [
    "CMAES",
    "DigitsTask",
    "EvolveConfig",
    "EvolveRecord",
    "Layout",
    "M2N2",
    "MapElites",
    "Strategy",
    "attraction",
    "dare",
    "flatten",
    "gaussian_mutation",
    "lerp",
    "mlp_correct",
    "mlp_layout",
    "niche_fitness",
    "random_splitpoint_slerp",
    "run_evolve",
    "to_experiment",
    "slerp",
    "splitpoint_slerp",
    "svd_mutation",
    "task_arithmetic",
    "ties",
    "unflatten",
]


def __getattr__(name: str):  # ribs and cma load only when their strategies are used
    if name == "MapElites":
        from redqueen.evolve.map_elites import MapElites

        return MapElites
    if name == "CMAES":
        from redqueen.evolve.cma_es import CMAES

        return CMAES
    raise AttributeError(f"module 'redqueen.evolve' has no attribute {name!r}")
