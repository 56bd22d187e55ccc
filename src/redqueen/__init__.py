"""redqueen: model collapse as population genetics."""

__version__ = "0.1.0"
