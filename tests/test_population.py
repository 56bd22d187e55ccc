"""Populations: couplings act as specified, runs are deterministic, and a checkpointed population resumes bitwise."""

import numpy as np
import pytest

import redqueen
from redqueen.loop.couplings import migration_matrix
from redqueen.runtime import checkpoint as ck
from redqueen.runtime.build import make_population, make_world, plan_arms
from redqueen.runtime.config import ConfigError
from redqueen.runtime.runner import run_experiment

COUPLINGS = {
    "migration": {"kind": "migration", "rate": 0.1},
    "stepping_stone": {"kind": "migration", "rate": 0.1, "topology": "stepping_stone"},
    "merge": {"kind": "merge", "children": 2, "mutation": "gaussian", "sigma": 0.05},
    "ties": {"kind": "merge", "operator": "ties"},
    "dare": {"kind": "merge", "operator": "dare"},
    "niches": {"kind": "niches", "children": 2, "reference": 200},
    "quality_diversity": {"kind": "quality_diversity", "children": 2, "reference": 200},
    "island_reset": {"kind": "island_reset", "every": 2, "reference": 200},
}
WORLDS = {
    "categorical": ({"kind": "zipf", "k": 300}, {"kind": "categorical"}),
    "gaussian": ({"kind": "gaussian", "d": 2}, {"kind": "gaussian"}),
    "gmm": ({"kind": "mixture", "components": 3}, {"kind": "gmm", "components": 3, "max_iter": 20}),
    "ngram": ({"kind": "text", "vocab_size": 300, "max_len": 16}, {"kind": "ngram", "smoothing": "kneser_ney"}),
}


def _exp(world, family, coupling, *, members=4, generations=5, n=150, seed=3):
    return redqueen.validate({
        "seed": seed, "generations": generations, "n": n, "reference_size": 100, "world": world, "family": family,
        "arms": [{"name": "pop", "members": members, "couplings": [coupling]}],
    })


def _metrics(recs):
    return [(r.member, r.generation, r.metrics, [(p.member, p.weight, p.kind) for p in r.parents]) for r in recs]


def _same(a, b):
    assert len(a) == len(b)
    for (m1, g1, x, p1), (m2, g2, y, p2) in zip(a, b):
        assert (m1, g1, p1) == (m2, g2, p2)
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k], equal_nan=True) for k in x), (m1, g1)


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("coupling", COUPLINGS)
def test_population_resumes_bitwise_from_a_checkpoint(tmp_path, world, coupling):
    exp = _exp(*WORLDS[world], COUPLINGS[coupling])
    w = make_world(exp.world)
    plan = plan_arms(exp, w)[0]
    full = make_population(exp, w, plan, 0)
    want = [r for _ in range(6) for r in full.step()]
    first = make_population(exp, w, plan, 0)
    got = [r for _ in range(3) for r in first.step()]
    ck.save(first, tmp_path / "p.safetensors")
    again = make_population(exp, w, plan, 0)
    ck.load(again, tmp_path / "p.safetensors")
    got += [r for _ in range(3) for r in again.step()]
    assert all(r.status == "ok" for r in want)
    _same(_metrics(got), _metrics(want))


def test_same_seed_same_population_other_seed_other():
    world, family = WORLDS["categorical"]
    a = run_experiment(_exp(world, family, COUPLINGS["niches"])).records
    b = run_experiment(_exp(world, family, COUPLINGS["niches"])).records
    c = run_experiment(_exp(world, family, COUPLINGS["niches"], seed=4)).records
    _same(_metrics(a), _metrics(b))
    assert [r.metrics for r in a] != [r.metrics for r in c]


def test_migration_matrices():
    m = migration_matrix(4, 0.2, "all")
    assert np.allclose(m.sum(axis=1), 1) and np.allclose(np.diag(m), 0.8) and np.allclose(m[0, 1:], 0.2 / 3)
    r = migration_matrix(4, 0.2, "ring")
    assert r[1, 0] == pytest.approx(0.2) and r[0, 3] == pytest.approx(0.2) and r[0, 1] == 0
    s = migration_matrix(5, 0.2, "stepping_stone")
    assert s[0, 1] == s[0, 4] == pytest.approx(0.1) and s[0, 2] == 0
    with pytest.raises(ValueError):
        migration_matrix(1, 0.1)


def test_migration_moves_items_between_members_and_records_where_from():
    """With rate 1 on a one-way ring, member i trains only on member i-1's samples."""
    exp = _exp({"kind": "gaussian", "d": 1}, {"kind": "gaussian"},
               {"kind": "migration", "rate": 1.0, "topology": "ring"}, members=3, generations=1)
    recs = run_experiment(exp).records
    gen1 = [r for r in recs if r.generation == 1]
    assert [[(p.member, p.weight, p.kind) for p in r.parents] for r in gen1] == [
        [(2, 1.0, "migrant")], [(0, 1.0, "migrant")], [(1, 1.0, "migrant")]]


def test_p1_population_is_a_lineage():
    world, family = WORLDS["categorical"]
    exp = redqueen.validate({"seed": 2, "generations": 3, "n": 100, "world": world, "family": family,
                             "arms": [{"name": "a"}, {"name": "b", "members": 1}]})
    recs = run_experiment(exp).records
    assert [r.metrics for r in recs if r.arm == "a"] == [r.metrics for r in recs if r.arm == "b"]
    assert all("fst" not in r.metrics and r.member == 0 and not r.parents for r in recs)


def _isolated_and_mixed(world: str, *, members: int, generations: int, n: int):
    """A run of two populations of ``world``'s family: isolated members, and members migrating at m = 0.5."""
    world, family = WORLDS[world]
    return run_experiment(redqueen.validate({
        "seed": 2, "generations": generations, "n": n, "world": world, "family": family,
        "arms": [{"name": "isolated", "members": members},
                 {"name": "mixed", "members": members, "couplings": [{"kind": "migration", "rate": 0.5}]}]}))


def test_population_metrics_fst_and_pool():
    res = _isolated_and_mixed("categorical", members=6, generations=20, n=50)
    last = {a: [r for r in res.records if r.arm == a and r.generation == 20] for a in ("isolated", "mixed")}
    for recs in last.values():
        assert len({r.metrics["fst"] for r in recs}) == 1  # one number for the population, on every member
        assert recs[0].metrics["pool_hill0"] >= max(r.metrics["hill0"] for r in recs)
    # strong migration keeps the demes alike; isolated demes drift apart
    assert last["mixed"][0].metrics["fst"] < last["isolated"][0].metrics["fst"]


def test_members_without_types_get_fst_as_the_variance_between_them():
    """Points from a one-component Gaussian have no type distribution: F_ST is the share of the emitted samples'
    variance between members, which on one-hot coded types is exactly (H_T - H_S) / H_T; isolated Gaussian
    members drift apart, migrating ones stay alike."""
    from redqueen.metrics.suite import variance_fst

    rng = np.random.default_rng(0)
    members = [rng.choice(5, size=n, p=p) for n, p in [(40, [.5, .2, .1, .1, .1]), (60, [.1, .1, .1, .2, .5]),
                                                       (50, [.2, .2, .2, .2, .2])]]
    freqs = np.stack([np.bincount(x, minlength=5) / len(x) for x in members])
    h_s = np.mean(1 - (freqs**2).sum(axis=1))
    h_t = 1 - (freqs.mean(axis=0) ** 2).sum()
    assert variance_fst([np.eye(5)[x] for x in members]) == pytest.approx((h_t - h_s) / h_t, rel=1e-12)
    same = rng.standard_normal((30, 3))
    assert variance_fst([same, same.copy()]) == 0.0
    assert variance_fst([same, same + 100.0]) > 0.99
    assert np.isnan(variance_fst([same, same[:1]]))
    res = _isolated_and_mixed("gaussian", members=5, generations=30, n=30)
    assert all("fst" in r.metrics and "pool_hill0" not in r.metrics for r in res.records)
    fst = {a: res.trajectory(a, "fst")[0] for a in ("isolated", "mixed")}
    late = slice(20, None)  # each value is one draw of samples: compare the last ten generations' means
    assert fst["isolated"][late].mean() > 2 * fst["isolated"][0]
    assert fst["mixed"][late].mean() < fst["isolated"][late].mean() / 2


@pytest.mark.parametrize("arm, message", [
    ({"name": "x", "couplings": [{"kind": "migration"}]}, "members >= 2"),
    ({"name": "x", "members": 2, "couplings": [{"kind": "merge", "mutation": "svd"}]}, "svd mutation"),
    ({"name": "x", "members": 2, "couplings": [{"kind": "niches", "score": "coverage"}]}, "categorical world"),
    ({"name": "x", "members": 2, "couplings": [{"kind": "migration", "rate": 2}]}, "rate"),
])
def test_bad_coupling_configs_are_one_line(arm, message):
    with pytest.raises(ConfigError, match=message) as e:
        redqueen.validate({"world": {"kind": "gaussian"}, "family": {"kind": "gaussian"}, "arms": [arm]})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("family", [{"kind": "kde"}, {"kind": "plugin", "cls": "sklearn.mixture:GaussianMixture"}])
def test_families_that_cannot_merge_say_so(family):
    exp = redqueen.validate({"world": {"kind": "mixture"}, "family": family,
                             "arms": [{"name": "x", "members": 2, "couplings": [{"kind": "niches"}]}]})
    with pytest.raises(ConfigError, match="cannot be merged") as e:
        plan_arms(exp, make_world(exp.world))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["categorical", "ngram"])
def test_since_generation_0_counts_from_the_real_data_fits_whatever_the_couplings_do_at_generation_0(name):
    """A merge at generation 0 replaces members before they are measured; for a family with an exact type
    distribution, types lost, F and the pooled types lost still count from each member's real-data fit -- the fit
    every arm of the replicate makes first -- so arms compare: a merged arm's reference equals the isolated arm's,
    member by member and pooled. A family measured on samples keeps generation 0's measured sample."""
    world, family = WORLDS[name]
    exp = redqueen.validate({
        "seed": 3, "generations": 1, "n": 150, "reference_size": 100, "world": world, "family": family,
        "arms": [{"name": "isolated", "members": 4},
                 {"name": "merge", "members": 4, "couplings": [{"kind": "merge", "children": 2}]}]})
    w = make_world(exp.world)
    plans = plan_arms(exp, w)
    iso, mer = (make_population(exp, w, plan, 0) for plan in plans)
    iso_recs, mer_recs = iso.step(), mer.step()
    assert any(r.parents for r in mer_recs)  # members were replaced at generation 0
    for a, b in zip(iso.member_list, mer.member_list):
        if name == "categorical":  # the reference is the real-data fit: the same fit in both arms
            assert np.array_equal(b.diagnostics.profile.reference_present, a.model.probs_ > 0)
        assert b.diagnostics.h0 > 0
    if name == "categorical":
        assert np.array_equal(mer.population_diagnostics.profile.reference_present,
                              iso.population_diagnostics.profile.reference_present)
        # a merged child holds both parents' types: counted from it, the slot would start with more to lose
        refs = [int(m.diagnostics.profile.reference_present.sum()) for m in mer.member_list]
        assert any(r.metrics["hill0"] > refs[r.member] for r in mer_recs if r.parents)
        assert all(r.metrics["types_lost"] == 0 for r in iso_recs + mer_recs)  # the child keeps its parent's types
    else:  # measured on samples: the reference is the sample measured at generation 0, as in a lineage
        for m in mer.member_list:
            assert np.array_equal(m.diagnostics.profile.reference_present, m.diagnostics.types_ > 0)


def test_under_migration_a_member_is_measured_on_as_many_of_its_own_samples_as_an_isolated_one():
    """Without a mixture model (points, text) migration splits the emitted items among the sources; what is measured
    is still the member's own model at the full draw (a smaller sample shows fewer types), and the items it emits
    of its own are the first of those."""
    from redqueen.loop.phases import draw_size, emit

    world, family = WORLDS["gaussian"]
    exp = _exp(world, family, {"kind": "migration", "rate": 0.3}, generations=1)
    w = make_world(exp.world)
    pop = make_population(exp, w, plan_arms(exp, w)[0], 0)
    pop.step()
    sources = pop.coupling_list[0].sources(pop, pop.generation)
    for m in pop.member_list:
        raw, own, edges = emit(pop, m, sources)
        assert len(own) == len(raw) == draw_size(pop) and edges
        k = int(round((1 - sum(e.weight for e in edges)) * len(raw)))  # this member's share of what it emitted
        assert 0 < k < len(raw) and np.array_equal(raw.x[:k], own.x[:k])
