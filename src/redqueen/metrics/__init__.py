"""Diagnostics: pure functions of samples, models and worlds."""

from redqueen.metrics.detection import FilterQuality, auc, filter_quality, tpr_at_fpr
from redqueen.metrics.divergence import js, kl, regression_test_error, tv, variance_ratio, wasserstein1
from redqueen.metrics.diversity import (
    DiversityProfile, heterozygosity, hill, richness, tail_mass_kept, tail_set, types_lost,
)
from redqueen.metrics.fidelity import frechet_distance, prdc
from redqueen.metrics.popgen import EffectiveSize, effective_size, effective_size_interval, fst, inbreeding, phi_st
from redqueen.metrics.profile import CollapseProfile, collapse_profile
from redqueen.metrics.suite import Diagnostics

__all__ = [
    "CollapseProfile", "Diagnostics", "DiversityProfile", "EffectiveSize", "collapse_profile", "frechet_distance",
    "prdc", "effective_size", "effective_size_interval", "fst", "heterozygosity", "hill", "inbreeding", "phi_st", "js", "kl",
    "FilterQuality", "auc", "filter_quality", "tpr_at_fpr", "regression_test_error",
    "richness", "tail_mass_kept", "tail_set", "tv", "types_lost", "variance_ratio", "wasserstein1",
]
