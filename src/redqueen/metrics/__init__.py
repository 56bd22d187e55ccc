"""Diagnostics: pure functions of samples, models and worlds."""

from redqueen.metrics.divergence import js, kl, regression_test_error, tv, variance_ratio, wasserstein1
from redqueen.metrics.diversity import (
    DiversityProfile, heterozygosity, hill, richness, tail_mass_kept, tail_set, types_lost,
)
from redqueen.metrics.popgen import effective_size, fst, inbreeding
from redqueen.metrics.suite import Diagnostics

__all__ = [
    "Diagnostics", "DiversityProfile", "effective_size", "fst", "heterozygosity", "hill", "inbreeding", "js", "kl",
    "regression_test_error", "richness", "tail_mass_kept", "tail_set", "tv", "types_lost", "variance_ratio", "wasserstein1",
]
