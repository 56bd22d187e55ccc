"""Every packaged reproduction, by name: one plain dict, in one place (nothing registers itself).

A new one is one more :class:`~redqueen.reproduce.base.Reproduction` whose ``run`` runs its config
through the runtime, added to the dict below.
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
