"""Every packaged reproduction, by name: one plain dict, in one place (nothing registers itself).

Not here yet: Feng et al. 2024 / Yi et al. 2026 (the ``verifier`` curation step now exists,
loop/filters.py) and Sakana's M2N2 figures (evolution now runs on the same runtime: the
``m2n2``/``ga``/``map_elites``/``cma`` couplings); either enters as one more
:class:`~redqueen.reproduce.base.Reproduction` whose ``run`` runs its config through the runtime.
"""

from __future__ import annotations

from redqueen.reproduce import abrantes, alemohammad, bertrand, feng, gerstgrasser, kazdan, shumailov, suresh

REGISTRY = {
    r.name: r
    for r in (
        gerstgrasser.REGRESSION,
        shumailov.GMM,
        shumailov.VAE,
        shumailov.LM,
        kazdan.GAUSSIAN,
        kazdan.KDE,
        suresh.SURESH,
        bertrand.BERTRAND,
        alemohammad.MAD,
        feng.FENG,
        abrantes.SCRATCH_REP,
        abrantes.PRETRAINED_REP,
    )
}
