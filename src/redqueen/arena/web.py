"""The collapse coupling: what gets past the detector enters the web, and the next model trains on the web.

Each round a model of the generators' family is trained from scratch on ``real`` fresh real items
plus every generator item the detector let through (scored at or below the threshold that flags 1%
of real text), and measured by the ordinary diagnostics (types lost, ``ppl_real``, ...), stored with
the prefix ``web_``. A detector that stops adapting lets more -- and more evolved -- synthetic data
through, so the web model's diagnostics show how the detector regime changes the speed of collapse.
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Data
from redqueen.loop.member import population_seed
from redqueen.metrics.suite import Diagnostics

#: the population stream of the web model's diagnostics (2: couplings, 3: reference set, 4: the arena's real test set)
STREAM = 5


class Web:
    """The web model of one arena; ``round`` trains and measures it, ``state`` / ``load_state`` keep its diagnostics."""

    def __init__(self, pop, real: int):
        self.real = real
        self.make_family = pop.make_family
        rng = np.random.default_rng(population_seed(pop.seed, pop.replicate, STREAM))
        self.diagnostics = Diagnostics(pop.world, rng, reference_size=pop.reference_size, make_family=pop.make_family)

    def round(self, world, generation: int, passed: Data | None, rng: np.random.Generator) -> dict[str, float]:
        """Train on ``real`` real items and ``passed``; the web model's diagnostics, ``web_``-prefixed, with
        ``web_synthetic_share`` (the share of its training set that is synthetic)."""
        train = world.sample(self.real, rng)
        n_syn = 0 if passed is None else len(passed)
        if n_syn:
            train = train.concat(passed)
        model = self.make_family().fit(train, rng)
        metrics, _ = self.diagnostics(generation, model, model.sample(len(train), rng))
        out = {f"web_{k}": float(v) for k, v in metrics.items()}
        out["web_synthetic_share"] = n_syn / len(train)
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        return self.diagnostics.state()

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.diagnostics.load_state(arrays, meta)
