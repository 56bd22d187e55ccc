"""The self-consuming loop: regimes, curation, couplings, and the population that steps them in phases."""

from redqueen.loop.curation import Curation, Filter, Noise, make_curation
from redqueen.loop.member import Member, lineage_seeds, member_seeds
from redqueen.loop.population import Lineage, Population
from redqueen.loop.record import GenerationRecord, Parent, pack_distribution
from redqueen.loop.regimes import Accumulate, Fresh, Pools, Regime, Replace, Subsample, Web, make_regime

__all__ = [
    "Accumulate", "Curation", "Filter", "Fresh", "GenerationRecord", "Lineage", "Member", "Noise", "Parent",
    "Pools", "Population", "Regime", "Replace", "Subsample", "Web", "lineage_seeds", "make_curation", "make_regime",
    "member_seeds", "pack_distribution",
]
