"""Diagnostics: pure functions of samples, models and worlds."""

from redqueen.metrics.divergence import js, kl, tv, variance_ratio, wasserstein1
from redqueen.metrics.diversity import (
    DiversityProfile, heterozygosity, hill, richness, tail_mass_kept, tail_set, types_lost,
)
from redqueen.metrics.popgen import EffectiveSize, effective_size, effective_size_interval, fst, inbreeding
from redqueen.metrics.suite import Diagnostics

__all__ = [
    "Diagnostics", "DiversityProfile", "EffectiveSize", "effective_size", "effective_size_interval", "fst", "heterozygosity", "hill", "inbreeding", "js", "kl",
    "richness", "tail_mass_kept", "tail_set", "tv", "types_lost", "variance_ratio", "wasserstein1",
]
