"""Packaged published experiments, each one command, checked against the paper's own numbers.

``REGISTRY`` maps names to :class:`Reproduction` s; ``reproduce(name, scale=...)`` runs one into a
results store and returns its :class:`Outcome` (rows of published | ours | verdict). The command
line is ``redqueen reproduce --list`` and ``redqueen reproduce NAME [--scale quick|paper]``.
"""

from redqueen.reproduce.base import (
    Check, Claim, Context, Measured, Outcome, Reproduction, ReproductionError, Row, at_least, at_most, between, close,
)
from redqueen.reproduce.command import reproduce
from redqueen.reproduce.registry import REGISTRY

__all__ = [
    "Check", "Claim", "Context", "Measured", "Outcome", "REGISTRY", "Reproduction", "ReproductionError", "Row",
    "at_least", "at_most", "between", "close", "reproduce",
]
