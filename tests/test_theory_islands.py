"""Wright's island model against simulated populations of categorical members (>= 200 replicates).

Each check compares the replicate means (a replicate's value is the mean over its members:
members of one population are not independent) with the closed form inside simultaneous 99%
intervals (Bonferroni over generations), and shows that a wrong formula -- migration ignored,
or half the rate -- falls outside, i.e. the check has the power to tell.
"""

import numpy as np
import pytest

import redqueen
from redqueen import theory
from redqueen.loop.couplings import migration_matrix
from redqueen.runtime.runner import run_experiment

N, P, T, REPS, K = 40, 4, 30, 240, 20


def _simulate(topology: str, rate: float):
    exp = redqueen.validate({
        "seed": 77, "generations": T, "n": N, "replicates": REPS, "reference_size": 50,
        "world": {"kind": "zipf", "k": K, "s": 1.0}, "family": {"kind": "categorical"},
        "arms": [{"name": "islands", "members": P,
                  "couplings": [{"kind": "migration", "rate": rate, "topology": topology}]}],
    })
    res = run_experiment(exp)
    world = redqueen.worlds.zipf(K, 1.0)
    return res, world


def _inside(sim, pred):
    return all(r.inside for r in theory.compare(sim, pred, 0.99)[1:])  # generation 0 is the observed start


@pytest.mark.slow
@pytest.mark.parametrize("topology, rate", [("all", 0.1), ("ring", 0.2)])
def test_island_model_heterozygosity_within_and_total(topology, rate):
    res, world = _simulate(topology, rate)
    within = res.trajectory("islands", "heterozygosity")
    total = res.trajectory("islands", "pool_heterozygosity")
    h0 = float(within[:, 0].mean())
    m = migration_matrix(P, rate, topology)
    mom = theory.island_heterozygosity(np.arange(T + 1), n=N, migration=m, world_probs=world.type_probs(), h0=h0)
    assert _inside(within, mom.within)
    assert _inside(total, mom.total)
    # power: ignoring migration, or half the rate, is rejected by the same check
    alone = theory.island_heterozygosity(np.arange(T + 1), n=N, migration=np.eye(P), world_probs=world.type_probs(), h0=h0)
    half = theory.island_heterozygosity(np.arange(T + 1), n=N, migration=migration_matrix(P, rate / 2, topology),
                                        world_probs=world.type_probs(), h0=h0)
    assert not _inside(total, alone.total)
    assert not (_inside(total, half.total) and _inside(within, half.within))
    # F_ST: the ratio of the means follows 1 - H_S / H_T
    fst = 1 - within.mean(axis=0) / total.mean(axis=0)
    assert np.allclose(fst[5:], mom.fst[5:], atol=0.03)
    # predict() gives the same curves for the arm
    pred = theory.predict("pool_heterozygosity", family=redqueen.models.CategoricalFamily,
                          regime=redqueen.loop.Replace(), world=world, n=N, generations=T, h0=h0, members=P, migration=m)
    assert np.allclose(pred, mom.total)


def test_island_fst_equilibrium_is_the_classical_island_model_for_small_m():
    for n, m, p in [(1000, 0.0005, 200), (500, 0.002, 100)]:
        eq = theory.island_fst_equilibrium_all(n=n, rate=m, members=p)
        assert eq == pytest.approx(theory.island_fst_approximation(n=n, rate=m, members=p), rel=0.01)
    # the general eigenvector agrees with the two-state form, and with iterating the expectations long enough
    for n, m, p in [(100, 0.02, 8), (60, 0.1, 5)]:
        general = theory.island_fst_equilibrium(n=n, migration=migration_matrix(p, m))
        assert general == pytest.approx(theory.island_fst_equilibrium_all(n=n, rate=m, members=p), rel=1e-8)
        late = theory.island_heterozygosity([3000], n=n, migration=migration_matrix(p, m), world_probs=np.ones(50))
        assert late.fst[0] == pytest.approx(general, rel=1e-4)
    # more gene flow, less differentiation
    a = theory.island_fst_equilibrium(n=100, migration=migration_matrix(8, 0.01))
    b = theory.island_fst_equilibrium(n=100, migration=migration_matrix(8, 0.05))
    assert a > b > 0


def test_isolated_members_drift_like_single_lineages():
    """M = I: each member's heterozygosity is Wright-Fisher's and the pooled one stays higher."""
    t = np.arange(20)
    mom = theory.island_heterozygosity(t, n=50, migration=np.eye(5), world_probs=np.ones(10), h0=0.8)
    assert np.allclose(mom.within, theory.wright_fisher_heterozygosity(t, n=50, h0=0.8))
    assert np.all(mom.total[1:] > mom.within[1:])
