"""Theory of filters on the mixed training set (redqueen.theory.filters), checked by simulation through Lineage.

The interval check here is one of the suite's INTERVAL_CHECKS (tests/test_theory.py), at its level.
"""

import numpy as np
import pytest

from redqueen import theory as th
from redqueen.data import REAL, Counts
from redqueen.loop import Fresh, Lineage, Web
from redqueen.loop.filters import Ideal
from redqueen.models import CategoricalFamily
from redqueen.worlds import zipf
from test_theory import all_inside, n_inside


def test_real_fraction_closed_form_and_its_limits():
    assert th.filtered_real_fraction(0.7, 1.0, 0.0) == 1.0  # a perfect filter leaves only real items
    assert th.filtered_real_fraction(0.7, 0.4, 0.4) == pytest.approx(0.3)  # a blind one changes nothing
    assert th.filtered_real_fraction(0.7, 0.8, 0.1) == pytest.approx(0.27 / (0.27 + 0.14))


def test_ideal_filter_keeps_exactly_what_theory_counts():
    rng = np.random.default_rng(0)
    world = zipf(30, 1.0)
    for n, frac, r, f in ((20, 0.3, 0.8, 0.1), (1000, 0.25, 0.95, 0.02), (7, 0.5, 0.5, 0.5)):
        m = Fresh(fraction=frac).real_size(n)
        mix = world.sample(n - m, rng).tag(0, 0).concat(world.sample(m, rng).tag(1, REAL))
        out = Ideal(recall=r, fpr=f).apply(mix, None, world, rng)
        c = out.composition()
        assert (c.items, c.real) == th.filtered_sizes(n, frac, r, f)
        assert isinstance(out, Counts) and np.array_equal(out.by_origin.sum(0), out.counts)


def test_filtered_fresh_heterozygosity_matches_the_loop_by_simulation():
    """Zipf(10), n = 20, fresh 30% real, a filter of recall 0.8 and fpr 0.1: N_eff = 8 items of which 5 real.
    400 lineages x 10 generations through Lineage. The no-filter theory (H* .744) and the theory with the
    effective fraction but the original size (H* .772) sit .04-.07 above the right one (.706): both are
    rejected at the suite's level (at most 2 of 11 generations inside), so the check has the power to tell
    the size effect from the fraction effect."""
    pi = zipf(10, 1.0).probs
    n, frac, r, f, T = 20, 0.3, 0.8, 0.1, 10
    sim = np.array([[rec.metrics["heterozygosity"] for rec in
                     (lambda lin: [lin.step() for _ in range(T + 1)])(
                         Lineage(world=zipf(10, 1.0), make_family=CategoricalFamily, regime=Fresh(fraction=frac), n=n,
                                 seed=11, replicate=rep, mixed_curation=(Ideal(recall=r, fpr=f),)))]
                    for rep in range(400)])
    t = np.arange(T + 1)
    pred = th.filtered_fresh_heterozygosity(t, world_probs=pi, n=n, fraction=frac, recall=r, fpr=f)
    assert all_inside(sim, pred)
    h_star = th.filtered_fresh_equilibrium(world_probs=pi, n=n, fraction=frac, recall=r, fpr=f)
    assert pred[-1] == pytest.approx(h_star, abs=1e-6)
    m = Fresh(fraction=frac).real_size(n)
    no_filter = th.fresh_data_heterozygosity(t, n=n, fraction=m / n, world_h=1 - pi @ pi, h0=pred[0])
    same_size = th.categorical_heterozygosity(t, world_probs=pi, n=n, regime=Fresh(fraction=5 / 8), h0=pred[0])
    assert n_inside(sim, no_filter) <= 2 and n_inside(sim, same_size) <= 2


def test_web_training_share_after_an_ideal_filter_is_the_closed_form():
    """The web's pool share after t generations is exact (t p / (n + t (p + r))); the scrape's share is
    hypergeometric around it, and the filter's real fraction lambda(s) is then met to first order (the
    ratio's bias is O(1/n)). 30 lineages x generations 1-4 at n = 1000: the mean's sd is ~.002, so a
    4-sd band (.008) plus .005 for the ratio bias rejects a filter read as blind (1 - s, > .1 away)."""
    web, r, f = Web(real_rate=300, publish=1000), 0.9, 0.05
    got, want, blind = [], [], []
    for rep in range(30):
        lin = Lineage(world=zipf(50, 1.1), make_family=CategoricalFamily, regime=web, n=1000, seed=5, replicate=rep,
                      mixed_curation=(Ideal(recall=r, fpr=f),))
        lin.step()
        for t in range(1, 5):
            m = lin.step().metrics
            s = web.synthetic_share(t, 1000)
            assert m["pool_synthetic_share"] == pytest.approx(s, abs=1e-12)
            got.append(1 - m["train_synthetic_share"])
            want.append(th.filtered_real_fraction(s, r, f))
            blind.append(1 - s)
    gap = np.mean(got) - np.mean(want)
    assert abs(gap) < 0.008 + 0.005
    assert abs(np.mean(blind) - np.mean(want)) > 0.1


def test_predict_and_redqueen_theory_use_the_filter_closed_form(tmp_path):
    """An arm with a mixed-stage ideal filter gets the closed form through ``theory.predict`` (and so through
    `redqueen theory` and the report's curves); combinations the closed form does not cover get None."""
    from redqueen.loop import Replace
    from redqueen.loop.curation import Noise
    from redqueen.runtime import config as C
    from redqueen.runtime.predictions import _Arms, comparisons
    from redqueen.runtime.runner import run_experiment

    world, t = zipf(10, 1.0), np.arange(8)
    pi = world.probs
    ideal = (Ideal(recall=0.8, fpr=0.1),)
    common = dict(family=CategoricalFamily(), world=world, n=20, generations=t, h0=0.7)
    got = th.predict("heterozygosity", regime=Fresh(fraction=0.3), mixed=ideal, **common)
    want = th.filtered_fresh_heterozygosity(t, world_probs=pi, n=20, fraction=0.3, recall=0.8, fpr=0.1, h0=0.7)
    assert np.array_equal(got, want)
    plain = th.predict("heterozygosity", regime=Fresh(fraction=0.3), **common)
    assert np.abs(got[1:] - plain[1:]).min() > 0.015  # the filter changes the prediction
    inbreeding = th.predict("inbreeding", regime=Fresh(fraction=0.3), mixed=ideal, **common)
    assert np.allclose(inbreeding, 1 - want / want[0])
    for regime, mixed, extra in ((Web(real_rate=6), ideal, {}), (Fresh(fraction=0.3, source="bank"), ideal, {}),
                                 (Replace(), ideal, {}), (Fresh(fraction=0.3), ideal * 2, {}),
                                 (Fresh(fraction=0.3), ideal, {"curation": (Noise(rate=0.1),)}),
                                 (Fresh(fraction=0.3), ideal, {"members": 2})):
        assert th.predict("heterozygosity", regime=regime, mixed=mixed, **common, **extra) is None, (regime, mixed, extra)
    assert th.predict("heterozygosity", family=CategoricalFamily(alpha=0.5), regime=Fresh(fraction=0.3), mixed=ideal,
                      world=world, n=20, generations=t) is None
    exp = C.validate({"name": "f", "seed": 3, "generations": 6, "n": 20, "replicates": 60,
                      "world": {"kind": "zipf", "k": 10, "s": 1.0}, "family": {"kind": "categorical"},
                      "arms": [{"name": "filtered", "regime": "fresh", "real_fraction": 0.3,
                                "curation": [{"kind": "ideal", "recall": 0.8, "fpr": 0.1, "stage": "mixed"}]},
                               {"name": "web", "regime": "web", "web_real_rate": 6,
                                "curation": [{"kind": "ideal", "recall": 0.8, "fpr": 0.1, "stage": "mixed"}]}]})
    checked = {(arm.name, metric) for arm, metric, rows, _ in comparisons(exp, run_experiment(exp), arms=_Arms(exp))}
    assert checked == {("filtered", "heterozygosity"), ("filtered", "inbreeding")}
