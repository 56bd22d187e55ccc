"""Selection of generators on evasion under a fidelity constraint.

A generator is *feasible* when its fidelity -- the mean log-likelihood (per token for text) it
gives held-out real data -- is no more than ``slack`` below generation 0's mean fidelity. Feasible
generators rank above infeasible ones; feasible ones by evasion (the mean of ``1 - P(synthetic)``
the current detector gives their samples: smooth, unlike the thresholded evasion rate), infeasible
ones by fidelity. Each round, in each group of members (the trained-on generators, and the
held-out ones apart), the ``children`` lowest-ranked are replaced by children of two parents drawn
uniformly from the rest (truncation selection with elitism: the best are never replaced).
"""

from __future__ import annotations

import numpy as np


def ranking(evasion: np.ndarray, fidelity: np.ndarray, floor: float) -> np.ndarray:
    """Member indices best first (see the module docstring); ties keep index order."""
    feasible = fidelity >= floor
    key = np.where(feasible, evasion, fidelity)
    return np.lexsort((np.arange(evasion.size), -key, ~feasible))


def replacements(group: np.ndarray, evasion: np.ndarray, fidelity: np.ndarray, floor: float, children: int,
                 rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """``(replaced, parent_a, parent_b)`` for one group of member indices; empty for a group of fewer than 2
    or nothing to keep. Parents are two distinct survivors (one survivor is its own partner)."""
    if group.size < 2:
        return []
    order = group[ranking(evasion[group], fidelity[group], floor)]
    k = min(children, group.size - 1)
    survivors, losers = order[:group.size - k], order[group.size - k:]
    out = []
    for lost in losers:
        if survivors.size == 1:
            a = b = int(survivors[0])
        else:
            a, b = (int(x) for x in rng.choice(survivors, size=2, replace=False))
        out.append((int(lost), a, b))
    return out
