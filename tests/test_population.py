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
        assert "pool_tail_mass_kept" not in recs[0].metrics  # it would be the members' mean: a row saying nothing new
    # strong migration keeps the demes alike; isolated demes drift apart
    assert last["mixed"][0].metrics["fst"] < last["isolated"][0].metrics["fst"]


def _phi_st_from_distances(groups):
    """AMOVA as Excoffier et al. wrote it, from the matrix of squared distances between all points: SSD of a set
    is the sum of its squared distances over twice its size; among = total - within."""
    x = np.concatenate(groups)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    sizes = np.array([len(g) for g in groups])
    edges = np.concatenate([[0], np.cumsum(sizes)])
    total, p = len(x), len(groups)
    ssd_total = d2.sum() / (2 * total)
    ssd_within = sum(d2[a:b, a:b].sum() / (2 * (b - a)) for a, b in zip(edges[:-1], edges[1:]))
    n0 = (total - (sizes**2).sum() / total) / (p - 1)
    sigma_w = ssd_within / (total - p)
    sigma_a = ((ssd_total - ssd_within) / (p - 1) - sigma_w) / n0
    return sigma_a / (sigma_a + sigma_w)


def test_members_without_types_get_fst_as_amova_phi_st():
    """Points from a one-component Gaussian have no type distribution: F_ST is AMOVA's Phi_ST of the emitted
    samples -- the same number as the distance-matrix formulation, about 0 for groups drawn from one
    distribution whatever their sizes (the plain between/total ratio reads about (1 - 1/P)/n there), near 1 for
    groups apart; isolated Gaussian members drift apart, migrating ones stay alike; a regression has none."""
    from redqueen.metrics import phi_st

    rng = np.random.default_rng(0)
    groups = [rng.normal(size=(n, 3)) + shift for n, shift in [(7, 0.0), (20, 0.5), (13, -1.0)]]
    assert phi_st(groups) == pytest.approx(_phi_st_from_distances(groups), rel=1e-10)
    same = np.array([phi_st([rng.normal(size=(n, 2)) for n in (10, 30, 60)]) for _ in range(400)])
    assert abs(same.mean()) < 0.005  # unbiased components; their ratio is off by ~0.001 here
    naive = np.mean([np.var(np.stack([g.mean(0) for g in gs]), axis=0).sum()
                     / np.var(np.concatenate(gs), axis=0).sum()
                     for gs in ([rng.normal(size=(n, 2)) for n in (10, 30, 60)] for _ in range(400))])
    assert naive > 0.02  # the plain ratio reads ~0.03 for these alike groups
    x = rng.standard_normal((30, 3))
    assert phi_st([x, x + 100.0]) > 0.99 and np.isnan(phi_st([x, x[:1]])) and np.isnan(phi_st([x]))
    res = _isolated_and_mixed("gaussian", members=5, generations=30, n=30)
    assert all("fst" in r.metrics and "pool_hill0" not in r.metrics for r in res.records)
    fst = {a: res.trajectory(a, "fst")[0] for a in ("isolated", "mixed")}
    late = slice(20, None)  # each value is one draw of samples: compare the last ten generations' means
    assert fst["isolated"][late].mean() > 0.3 and fst["isolated"][late].mean() > 3 * fst["isolated"][0]
    assert fst["mixed"][late].mean() < fst["isolated"][late].mean() / 4
    reg = run_experiment(redqueen.validate({
        "seed": 2, "generations": 2, "n": 30, "world": {"kind": "regression", "d": 3}, "family": {"kind": "regression"},
        "arms": [{"name": "isolated", "members": 3}]}))
    assert not any("fst" in r.metrics for r in reg.records)


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
