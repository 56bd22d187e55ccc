"""Every packaged reproduction, by name: one plain dict, in one place (nothing registers itself).

Not here yet (they need other work first): Feng et al. 2024 / Yi et al. 2026 (verifiers; the
provenance issue's verifier) and Sakana's M2N2 figures (``redqueen evolve`` on the run runtime);
either enters as one more :class:`~redqueen.reproduce.base.Reproduction` whose ``run`` calls its runner.
"""

from __future__ import annotations

from redqueen.reproduce import alemohammad, bertrand, gerstgrasser, kazdan, shumailov, suresh

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
    )
}
