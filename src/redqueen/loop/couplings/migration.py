"""Migration: gene flow between members (Wright's island model and its relatives).

Each item a member trains on next comes, with probability ``rate``, from another member's
model instead of its own, the donor drawn by the topology:

* ``all`` -- all-to-all, each other member with ``rate / (P - 1)`` (Wright's island model);
* ``ring`` -- one-way circle: member ``i`` receives from ``i - 1``;
* ``stepping_stone`` -- both neighbours on a circle, ``rate / 2`` each (Kimura's 1-D stepping stone).

The matrix is the emit phase's ``sources``; with the categorical family each member then draws
once from the mixed distribution, which is exactly that process (and costs one multinomial).
"""

from __future__ import annotations

import numpy as np

from redqueen.loop.couplings.base import Coupling

TOPOLOGIES = ("all", "ring", "stepping_stone")


def migration_matrix(p: int, rate: float, topology: str = "all") -> np.ndarray:
    """Row-stochastic ``(P, P)``: ``[i, j]`` is the chance an item of member ``i`` comes from member ``j``.

    Raises ``ValueError`` for an unknown topology, a rate outside [0, 1], or ``P < 2``.
    """
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown topology {topology!r}; choose {', '.join(TOPOLOGIES)}")
    if not 0 <= rate <= 1:
        raise ValueError(f"migration rate must be in [0, 1], got {rate}")
    if p < 2:
        raise ValueError("migration needs at least two members")
    m = np.zeros((p, p))
    i = np.arange(p)
    if topology == "all":
        m[:] = rate / (p - 1)
    elif topology == "ring":
        m[i, (i - 1) % p] = rate
    else:
        m[i, (i - 1) % p] += rate / 2
        m[i, (i + 1) % p] += rate / 2
    m[i, i] = 0.0
    m[i, i] = 1.0 - m.sum(axis=1)
    return m


class Migration(Coupling):
    """Gene flow at ``rate`` per generation along ``topology`` (see the module docstring)."""

    name = "migration"

    def __init__(self, *, rate: float = 0.01, topology: str = "all"):
        self.rate = rate
        self.topology = topology

    def bind(self, pop) -> None:
        super().bind(pop)
        self.matrix_ = migration_matrix(len(pop.member_list), self.rate, self.topology)

    def sources(self, pop, generation: int) -> np.ndarray:
        return self.matrix_
