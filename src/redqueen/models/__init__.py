"""Model families: fit, sample, log_prob."""

from redqueen.models.base import Family, type_probs
from redqueen.models.categorical import CategoricalFamily
from redqueen.models.decoding import decode_probs
from redqueen.models.gaussian import GaussianFamily
from redqueen.models.regression import LinearRegressionFamily
from redqueen.models.sklearn import SklearnDensity, gmm, kde, load_plugin

__all__ = [
    "CategoricalFamily", "Family", "GaussianFamily", "LinearRegressionFamily", "SklearnDensity", "decode_probs", "gmm", "kde", "load_plugin",
    "type_probs",
]
