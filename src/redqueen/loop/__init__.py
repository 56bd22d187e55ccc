"""The self-consuming loop: regimes, curation and the lineage that steps them."""

from redqueen.loop.curation import Curation, Filter, Noise, make_curation
from redqueen.loop.lineage import GenerationRecord, Lineage, lineage_seeds
from redqueen.loop.regimes import Accumulate, Fresh, Pools, Regime, Replace, Subsample, make_regime

__all__ = [
    "Accumulate", "Curation", "Filter", "Fresh", "GenerationRecord", "Lineage", "Noise", "Pools", "Regime",
    "Replace", "Subsample", "lineage_seeds", "make_curation", "make_regime",
]
