"""The Red Queen arena: generators that evolve to evade a detector that has a regime of its own, feeding the web.

* :class:`Arena` -- the coupling (``kind = "arena"`` in ``[[arms.couplings]]``): selection on evasion under a
  fidelity constraint, merging and mutation in weight space, sampling genes, the detector's regime, the
  per-round measures and the CIAO matrix;
* :class:`DetectorRegime` -- frozen, adapting or history (with a capacity, remembering champions or whole generations);
* :class:`Web` -- the collapse coupling: what passed the detector trains the web model;
* :mod:`.ciao` -- the CIAO matrix of a stored run, and the arena as a layered graph (:mod:`.graph`).
"""

import importlib

#: public name -> (submodule, attribute); loaded on first use, so that reading a store's report (which only
#: needs :mod:`.ciao`) does not import the coupling, its detectors and scikit-learn (~3 s)
_LAZY = {"ciao_matrix": ("ciao", "ciao_matrix"), "plot_ciao": ("ciao", "plot_ciao"), "FPR": ("coupling", "FPR"),
         "Arena": ("coupling", "Arena"), "threshold": ("coupling", "threshold"), "arena_graph": ("graph", "arena_graph"),
         "arena_layout": ("graph", "arena_layout"), "draw_arena": ("graph", "draw_arena"),
         "REGIMES": ("regimes", "KINDS"), "DetectorRegime": ("regimes", "DetectorRegime"), "Web": ("web", "Web")}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'redqueen.arena' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(f"redqueen.arena.{module}"), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
