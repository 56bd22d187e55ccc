"""Worlds: where real data comes from."""

from redqueen.worlds.base import World
from redqueen.worlds.categorical import Categorical, wordfreq_world, zipf
from redqueen.worlds.gaussian import GaussianMixture, gaussian, ring_mixture
from redqueen.worlds.regression import RegressionWorld

__all__ = ["Categorical", "GaussianMixture", "RegressionWorld", "World", "gaussian", "ring_mixture", "wordfreq_world", "zipf"]
