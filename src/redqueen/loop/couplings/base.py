"""The coupling protocol: what a population does between the phases of a generation.

A coupling is built fresh for each population (it may keep state across generations) and
bound to it once (:meth:`Coupling.bind`). Two hooks, both optional:

* ``act(pop, generation, rng) -> {member: [Parent, ...]}`` runs after every member is fitted
  and before any samples: it may replace members' models (merge, niches, quality-diversity)
  or whole members (island reset), and returns the genealogy edges of what it did -- the
  outcome, pyribs-style, rather than a hidden side effect;
* ``sources(pop, generation) -> (P, P) | None`` is a row-stochastic migration matrix for the
  emit phase: member ``i``'s items come from member ``j``'s model with probability ``[i, j]``;
* ``measure(pop, generation, rng) -> {member: (metrics, distributions)}`` runs in the measure
  phase: what the coupling measured this generation (an arena's detector AUC, say), merged into
  each member's record beside the diagnostics.

``state()`` returns ``(arrays, meta)`` -- numpy arrays for safetensors and JSON-able values --
and ``load_state(arrays, meta)`` restores them, so a killed population resumes bit for bit. It runs with
``self.pop.generation`` (and every member) at the checkpoint's generation, and raises ``ValueError`` for
state that no run writes (:mod:`redqueen.runtime.restored` checks shapes, types and ranges); the checkpoint
is then refused in one line and the population recomputed.
All randomness comes from the ``rng`` passed to ``act`` (the population's coupling stream).
"""

from __future__ import annotations

import numpy as np


class Coupling:
    """Base class with no-op hooks; subclasses override what they need. Hyperparameters keyword-only."""

    name = "coupling"

    def bind(self, pop) -> None:
        """Called once with the population this coupling belongs to (before generation 0)."""
        self.pop = pop

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        return {}

    def sources(self, pop, generation: int) -> np.ndarray | None:
        return None

    def measure(self, pop, generation: int, rng: np.random.Generator) -> dict[int, tuple[dict, dict]]:
        return {}

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        return {}, {}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        pass
