"""The batched migration path (one matrix product mixes every member's migrants) against the straightforward ones.

* bitwise: the per-member sum ``sum_j S_ij p_j`` a user would write, drawn with the same generator,
  gives the same items as the batched mixture, and whole population runs give the same records;
* in distribution: the split path (a multinomial over sources, then each source samples its share;
  what families without ``mix`` do) draws from the same distribution as the batched mixture. The
  check has power: the same test rejects a mixture whose migration rate is off by 0.1.
"""

import numpy as np
import pytest
from scipy import stats

import redqueen
from redqueen.data import Counts
from redqueen.loop import phases
from redqueen.loop.couplings import migration_matrix
from redqueen.models import CategoricalFamily
from redqueen.runtime.build import make_population, make_world, plan_arms


def _models(p, k, seed=0):
    rng = np.random.default_rng(seed)
    return [CategoricalFamily().fit(Counts(rng.multinomial(50 * k, rng.dirichlet(np.full(k, 0.3))))) for _ in range(p)]


def _naive(models, row):
    p = np.zeros_like(models[0].probs_)
    for w, m in zip(row, models):
        p += w * m.probs_
    return p / p.sum()


@pytest.mark.parametrize("topology", ["all", "ring", "stepping_stone"])
def test_mix_equals_the_per_member_sum_and_draws_the_same_items(topology):
    models = _models(6, 300)
    s = migration_matrix(6, 0.3, topology)
    mixed = models[0].mix(models, s)
    for i, m in enumerate(mixed):
        want = _naive(models, s[i])
        np.testing.assert_allclose(m.probs_, want, rtol=1e-13, atol=1e-300)
        got = m.sample(10_000, np.random.default_rng(i)).counts
        assert np.array_equal(got, np.random.default_rng(i).multinomial(10_000, want))
    # the orientation matters (rows receive): the transposed ring mixes other members and draws other items
    if topology == "ring":
        wrong = _naive(models, s.T[1])
        assert not np.array_equal(mixed[1].sample(10_000, np.random.default_rng(1)).counts,
                                  np.random.default_rng(1).multinomial(10_000, wrong))


def _population(rate=0.2, topology="all", members=4, seed=5):
    exp = redqueen.validate({"seed": seed, "generations": 4, "n": 400, "reference_size": 100,
                             "world": {"kind": "zipf", "k": 200}, "family": {"kind": "categorical"},
                             "arms": [{"name": "pop", "members": members,
                                       "couplings": [{"kind": "migration", "rate": rate, "topology": topology}]}]})
    world = make_world(exp.world)
    return make_population(exp, world, plan_arms(exp, world)[0], 0)


def _records(pop, gens=4):
    return [r for _ in range(gens + 1) for r in pop.step()]


def test_population_records_equal_those_of_the_per_member_sum(monkeypatch):
    fast = _records(_population(topology="stepping_stone"))

    def per_member(pop, sources):
        models = pop.models()
        return None if sources is None else [models[0]._with_probs(_naive(models, row)) for row in sources]

    monkeypatch.setattr(phases, "mixtures", per_member)
    slow = _records(_population(topology="stepping_stone"))
    assert len(fast) == len(slow) == 5 * 4
    for a, b in zip(fast, slow):
        assert (a.member, a.generation, a.parents) == (b.member, b.generation, b.parents)
        assert a.metrics.keys() == b.metrics.keys()
        assert all(np.array_equal(a.metrics[k], b.metrics[k], equal_nan=True) for k in a.metrics), a.generation


def _type_counts(pop, sources, mixed, draws, t):
    """Member 0's count of type ``t`` in ``draws`` emissions (fresh generator each)."""
    m = pop.member_list[0]
    out = np.empty(draws, np.int64)
    for d in range(draws):
        m.rng = np.random.default_rng([7, d])
        out[d] = phases.emit(pop, m, sources, mixed)[0].counts[t]
    return out


def _gof(counts, n, q):
    """Chi-square goodness of fit of counts to Binomial(n, q), tail bins pooled to expected >= 5."""
    expected = stats.binom.pmf(np.arange(n + 1), n, q) * counts.size
    observed = np.bincount(counts, minlength=n + 1).astype(float)
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp_ = np.append(expected[keep], expected[~keep].sum())
    if exp_[-1] == 0:
        obs, exp_ = obs[:-1], exp_[:-1]
    return stats.chisquare(obs, exp_ * obs.sum() / exp_.sum()).pvalue


def test_split_path_and_batched_mixture_draw_from_the_same_distribution():
    pop = _population(rate=0.5, topology="ring", members=3)
    pop.step()  # generation 0 fits the members; then give them disjoint supports, so origins are visible
    k = pop.member_list[0].model.probs_.shape[0]
    for j, m in enumerate(pop.member_list):
        m.model = m.model._with_probs(np.eye(k)[j])
    s = migration_matrix(3, 0.5, "ring")  # member 0 receives from member 2
    n = pop.n
    batched = _type_counts(pop, s, phases.mixtures(pop, s), 1500, t=2)
    split = _type_counts(pop, s, None, 1500, t=2)  # no mixture models: a multinomial over sources, then each samples
    assert _gof(batched, n, 0.5) > 1e-3
    assert _gof(split, n, 0.5) > 1e-3
    # power: migration at 0.4 instead of 0.5 is rejected, for either path's draws
    wrong = migration_matrix(3, 0.4, "ring")
    assert _gof(_type_counts(pop, wrong, phases.mixtures(pop, wrong), 1500, t=2), n, 0.5) < 1e-6
    assert _gof(_type_counts(pop, wrong, None, 1500, t=2), n, 0.5) < 1e-6
