"""Neural model families (need torch): a small causal transformer language model and a VAE."""

from redqueen.models.neural.lm import TransformerLMFamily
from redqueen.models.neural.vae import VAEFamily
from redqueen.models.warm import warm_start

__all__ = ["TransformerLMFamily", "VAEFamily", "warm_start"]
