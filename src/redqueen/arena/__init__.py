"""The Red Queen arena: generators that evolve to evade a detector that has a regime of its own, feeding the web.

* :class:`Arena` -- the coupling (``kind = "arena"`` in ``[[arms.couplings]]``): selection on evasion under a
  fidelity constraint, merging and mutation in weight space, sampling genes, the detector's regime, the
  per-round measures and the CIAO matrix;
* :class:`DetectorRegime` -- frozen, adapting or history (with a capacity);
* :class:`Web` -- the collapse coupling: what passed the detector trains the web model;
* :mod:`.ciao` -- the CIAO matrix of a stored run, and the arena as a layered graph (:mod:`.graph`).
"""

from redqueen.arena.ciao import ciao_matrix, plot_ciao
from redqueen.arena.coupling import FPR, Arena, threshold
from redqueen.arena.graph import arena_graph, arena_layout, draw_arena
from redqueen.arena.regimes import KINDS as REGIMES, DetectorRegime
from redqueen.arena.web import Web

__all__ = ["Arena", "DetectorRegime", "FPR", "REGIMES", "Web", "arena_graph", "arena_layout", "ciao_matrix",
           "draw_arena", "plot_ciao", "threshold"]
