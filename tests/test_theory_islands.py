"""Wright's island model against simulated populations of categorical members (>= 200 replicates).

Each check compares the replicate means (a replicate's value is the mean over its members:
members of one population are not independent) with the closed form inside simultaneous 99%
intervals (Bonferroni over generations), and shows that a wrong formula -- migration ignored,
or half the rate -- falls outside, i.e. the check has the power to tell. F_ST, a ratio of means, is
tested the same way through a per-replicate linear statistic (see ``_fst_inside``).
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


def _inside(sim, pred, start=1):
    return all(r.inside for r in theory.compare(sim, pred, 0.99)[start:])  # generation 0 is the observed start


def _fst_inside(within, total, fst, start=1):
    """F_ST is a ratio of expectations, 1 - E H_S / E H_T, so it is tested through a mean: the curve is right
    exactly when E[H_S - (1 - F_ST) H_T] = 0 (Fieller's construction), a per-replicate statistic whose mean the
    same simultaneous 99% intervals test against zero."""
    d = within - (1 - np.asarray(fst)) * total
    return _inside(d, np.zeros(d.shape[1]), start)


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
    # F_ST = 1 - E H_S / E H_T, tested inside the same simultaneous intervals, and wrong F_ST curves rejected
    assert _fst_inside(within, total, mom.fst)
    assert not _fst_inside(within, total, alone.fst)
    assert not _fst_inside(within, total, half.fst)
    # at migration-drift equilibrium (within 1% of it from generation 15 at these rates) F_ST is the eigenvector's
    eq = theory.island_fst_equilibrium(n=N, migration=m)
    assert np.allclose(mom.fst[15:], eq, rtol=0.01)
    late = slice(15, None)
    assert _fst_inside(within[:, late], total[:, late], np.full(T + 1 - 15, eq), start=0)
    assert not _fst_inside(within[:, late], total[:, late], np.full(T + 1 - 15, 1.5 * eq), start=0)
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


def test_theory_covers_migration_only():
    """A population's theory is Wright's island model: migration given as couplings is the same curve as its
    matrix; any other coupling (members that merge, compete in niches, are reset) has no closed form, so every
    metric is None rather than one lineage's drift; and a coupled member of a family with no island model is None
    while uncoupled members drift like single lineages."""
    from redqueen.loop.couplings import IslandReset, Merge, Migration, Niches

    world = redqueen.worlds.zipf(K, 1.0)
    common = dict(family=redqueen.models.CategoricalFamily, regime=redqueen.loop.Replace(), world=world, n=N,
                  generations=T, h0=0.8, members=P)
    m = migration_matrix(P, 0.1, "all")
    for metric in ("heterozygosity", "pool_heterozygosity", "fst", "inbreeding"):
        by_matrix = theory.predict(metric, **common, migration=m)
        by_coupling = theory.predict(metric, **common, couplings=[Migration(rate=0.1, topology="all")])
        assert by_matrix is not None and np.allclose(by_matrix, by_coupling)
        for other in (Merge(), Niches(), IslandReset()):
            assert theory.predict(metric, **common, couplings=[Migration(rate=0.1), other]) is None
    one = theory.predict("heterozygosity", **{**common, "members": 1})
    assert np.allclose(theory.predict("heterozygosity", **common), one)  # uncoupled members: one lineage each
    for regime in (redqueen.loop.Accumulate(), redqueen.loop.Fresh(fraction=0.2)):  # not only under replace
        alone = theory.predict("heterozygosity", **{**common, "members": 1, "regime": regime})
        assert alone is not None and np.allclose(theory.predict("heterozygosity", **{**common, "regime": regime}), alone)
        assert theory.predict("heterozygosity", **{**common, "regime": regime}, couplings=[Migration(rate=0.1)]) is None
    g = dict(family=redqueen.models.GaussianFamily, regime=redqueen.loop.Replace(), world=redqueen.worlds.gaussian(2),
             n=N, generations=T, members=P)
    alone = theory.predict("var_ratio", **{**g, "members": 1})
    assert alone is not None and np.allclose(theory.predict("var_ratio", **g), alone)
    assert theory.predict("var_ratio", **g, couplings=[Migration(rate=0.1)]) is None
    assert theory.predict("var_ratio", **g, couplings=[Merge()]) is None


def test_no_example_population_gets_a_curve_theory_does_not_cover():
    """Through the report's and `redqueen theory`'s path (the stored config's arm plans): an arm whose members
    merge, compete or are reset has no prediction for any metric; a migrating arm has its island curves."""
    from pathlib import Path

    from redqueen.runtime import config as C
    from redqueen.runtime.predictions import _Arms

    examples = Path(__file__).resolve().parent.parent / "examples"
    covered = uncovered = 0
    for path in sorted(examples.glob("*.toml")):
        if "couplings" not in path.read_text():
            continue
        try:
            exp = C.load(path)
        except C.ConfigError:  # an `evolve` or arena config: not a collapse experiment
            continue
        if exp.family.kind == "plugin":
            continue
        arms = _Arms(exp)
        for arm in exp.arms:
            kinds = {c.kind for c in arm.couplings}
            curves = [arms.predict(arm.name, metric, 10, 0.5) for metric in theory.PREDICTED_METRICS]
            if kinds - {"migration"}:
                uncovered += 1
                assert all(c is None for c in curves), (path.name, arm.name)
            elif kinds and exp.family.kind == "categorical" and not arm.curation:
                covered += 1
                assert any(c is not None for c in curves), (path.name, arm.name)
    assert covered and uncovered
