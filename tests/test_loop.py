import numpy as np
import pytest

from redqueen.data import Counts, Points
from redqueen.loop import Accumulate, Filter, Fresh, Lineage, Noise, Pools, Replace, Subsample, make_regime
from redqueen.models import CategoricalFamily, GaussianFamily
from redqueen.worlds import gaussian, zipf


def _run(regime, *, curation=(), seed=3, gens=5, n=400, world=None, family=CategoricalFamily):
    lin = Lineage(world=world or zipf(100, 1.1), make_family=family, regime=regime, n=n, seed=seed, curation=curation)
    return [lin.step() for _ in range(gens + 1)], lin


def test_replace_trains_on_exactly_n_synthetic():
    recs, lin = _run(Replace())
    assert [r.train_size for r in recs] == [400] * 6
    assert [r.generation for r in recs] == list(range(6))


def test_accumulate_grows_and_subsample_keeps_budget():
    recs, lin = _run(Accumulate())
    assert [r.train_size for r in recs] == [400 * (g + 1) for g in range(6)]
    assert len(lin.pools.accumulated) == 400 * 6
    recs, lin = _run(Subsample(budget=300))
    assert [r.train_size for r in recs[1:]] == [300] * 5
    assert len(lin.pools.accumulated) == 400 * 6


def test_fresh_mixes_real_fraction(rng):
    world = zipf(10, 1.0)
    bank = world.sample(100, rng)
    syn = Counts(np.zeros(10, int) + 0)
    regime = Fresh(fraction=0.25)
    assert regime.synthetic_size(100) == 75
    train, pools = regime.training_set(Counts(np.r_[75, np.zeros(9, int)]), Pools(bank, bank), 100, world, rng)
    assert len(train) == 100 and train.counts[0] >= 75
    banked = Fresh(fraction=0.25, source="bank")
    train, _ = banked.training_set(syn, Pools(bank, bank), 100, world, rng)
    assert len(train) == 25 and np.all(train.counts <= bank.counts)


def test_make_regime_rejects_unknown():
    with pytest.raises(ValueError, match="unknown regime"):
        make_regime("bogus")


def test_same_seed_same_records_other_seed_differs():
    a, _ = _run(Replace(), seed=5)
    b, _ = _run(Replace(), seed=5)
    c, _ = _run(Replace(), seed=6)
    assert [r.metrics for r in a] == [r.metrics for r in b]
    assert [r.metrics for r in a] != [r.metrics for r in c]


def test_arms_share_generation_zero():
    a, _ = _run(Replace(), seed=9)
    b, _ = _run(Accumulate(), seed=9)
    assert a[0].metrics == b[0].metrics
    assert a[-1].metrics != b[-1].metrics


def test_types_lost_never_recover_under_replace():
    recs, _ = _run(Replace(), gens=30, n=200, world=zipf(300, 1.0))
    lost = [r.metrics["types_lost"] for r in recs]
    assert lost == sorted(lost) and lost[-1] > 0


def test_noise_moves_items_and_keeps_size(rng):
    """Each item independently moves to a uniform type with probability r: from 1000 items of type 0 with
    r = 0.5 and K = 10, type 0 keeps Binomial(1000, 0.55) and each other type gets Binomial(1000, 0.05).
    Over 400 seeded draws the means sit within 4 standard errors and the variances within 20%."""
    c = Counts(np.r_[1000, np.zeros(9, int)])
    draws = np.array([Noise(rate=0.5).apply(c, None, None, rng).counts for _ in range(400)])
    assert np.all(draws.sum(axis=1) == 1000)
    for col, q in ((draws[:, 0], 0.55), (draws[:, 1:].ravel(), 0.05)):
        var = 1000 * q * (1 - q)
        assert abs(col.mean() - 1000 * q) < 4 * np.sqrt(var / col.size)
        assert abs(col.var(ddof=1) / var - 1) < 0.2
    # the rate as a probability of moving, not of leaving: q = 0.5 for type 0 would be 35 standard errors off
    assert abs(draws[:, 0].mean() - 500) > 20 * np.sqrt(250 / 400)
    p = Points(np.zeros((500, 2)))
    assert np.std(Noise(scale=2.0).apply(p, None, None, rng).x) == pytest.approx(2.0, rel=0.1)


def test_filter_keeps_most_likely_types(rng):
    model = CategoricalFamily().fit(Counts(np.array([50, 30, 20])))
    out = Filter(keep=0.6).apply(Counts(np.array([50, 30, 20])), model, None, rng)
    assert list(out.counts) == [50, 10, 0]


def test_filter_oversamples_then_trims(monkeypatch):
    from redqueen.models import CategoricalFamily as Cat

    drawn = []
    real_sample = Cat.sample
    monkeypatch.setattr(Cat, "sample", lambda self, n, rng: drawn.append(n) or real_sample(self, n, rng))
    recs, lin = _run(Replace(), curation=(Filter(keep=0.5),), gens=3)
    assert [r.train_size for r in recs] == [400] * 4
    assert drawn == [800] * 4  # each model draws 1/keep times what the next generation trains on
    assert len(lin.pending) == 400  # the pending data are curated: the filter kept half


def test_selection_collapses_faster_than_drift():
    drift, _ = _run(Replace(), gens=10, n=1000, seed=1)
    select, _ = _run(Replace(), curation=(Filter(keep=0.5),), gens=10, n=1000, seed=1)
    assert select[-1].metrics["heterozygosity"] < 0.5 * drift[-1].metrics["heterozygosity"]


def test_gaussian_lineage_has_continuous_metrics():
    recs, _ = _run(Replace(), world=gaussian(2), family=GaussianFamily, gens=3, n=100)
    for k in ("w1", "var_ratio", "mean_sq_error", "fitted_var_ratio", "loglik", "nll_real"):
        assert np.isfinite(recs[-1].metrics[k])


def test_filter_breaks_ties_at_random(rng):
    model = CategoricalFamily().fit(Counts(np.ones(6, int)))
    kept = [Filter(keep=0.5).apply(Counts(np.full(6, 10)), model, None, rng).counts for _ in range(200)]
    assert all(k.sum() == 30 for k in kept)
    share = np.mean(kept, axis=0)
    assert np.all(np.abs(share - 5) < 1.0)  # every tied type keeps about half, not the first three
