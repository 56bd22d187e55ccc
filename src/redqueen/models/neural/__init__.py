"""Neural model families (need torch): a small causal transformer language model and a VAE."""

from redqueen.models.neural.lm import TransformerLMFamily

__all__ = ["TransformerLMFamily"]
