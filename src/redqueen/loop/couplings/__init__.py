"""Couplings: how the members of a population act on each other (see :mod:`.base` for the protocol)."""

from redqueen.loop.couplings.base import Coupling

__all__ = ["Coupling"]
