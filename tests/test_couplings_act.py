"""What each selecting coupling does to a population, checked on members built to lose: the least fit member
is the one niches replaces, the worst island the one a reset re-seeds (from the best, every k generations only),
and quality-diversity replaces the member weakest at the task that leads this generation, alternating. Each
test would fail if the selection were inverted (the fittest replaced) or the schedule ignored."""

import numpy as np
import pytest

import redqueen
from redqueen.data import Counts
from redqueen.models import CategoricalFamily
from redqueen.runtime.build import make_population, make_world, plan_arms

K = 300


def _population(coupling, members=4, seed=3):
    exp = redqueen.validate({
        "seed": seed, "generations": 5, "n": 2000, "reference_size": 100,
        "world": {"kind": "zipf", "k": K, "s": 1.1}, "family": {"kind": "categorical"},
        "arms": [{"name": "pop", "members": members, "couplings": [coupling]}]})
    w = make_world(exp.world)
    pop = make_population(exp, w, plan_arms(exp, w)[0], 0)
    pop.step()  # generation 0: the real-data fits (and whatever the coupling does to them)
    return pop


def _model_on(types, pop):
    """A categorical model that gives mass only to ``types`` (uniformly): a member built to lose."""
    counts = np.zeros(K, dtype=np.int64)
    counts[types] = 10
    return CategoricalFamily().fit(Counts(counts), np.random.default_rng(0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_niches_replace_the_least_fit_member(seed):
    pop = _population({"kind": "niches", "children": 1, "reference": 500}, seed=seed)
    c = pop.coupling_list[0]
    loser = 2
    pop.member_list[loser].model = _model_on([0], pop)  # explains only the commonest type
    before = [m.model for m in pop.member_list]
    fitness = c.scorer_.quality(c.scorer_.scores(pop.models()))
    assert int(np.argmin(fitness)) == loser
    edges = c.act(pop, 1, np.random.default_rng(seed))
    assert c.outcomes_ == [loser] and list(edges) == [loser]
    assert [p.kind for p in edges[loser]] == ["merge", "merge"]
    assert pop.member_list[loser].model is not before[loser]
    assert all(m.model is b for i, (m, b) in enumerate(zip(pop.member_list, before)) if i != loser)
    rec = c.measure(pop, 1, np.random.default_rng(0))
    assert rec[0][0]["niche_accepted"] == 1.0
    assert rec[loser][0]["niche_fitness"] > 0 and len({round(r[0]["niche_fitness"], 12) for r in rec.values()}) > 1


def test_island_reset_reseeds_the_worst_from_the_best_every_k_generations():
    pop = _population({"kind": "island_reset", "every": 2, "fraction": 0.25, "reference": 500})
    c = pop.coupling_list[0]
    loser = 1
    pop.member_list[loser].model = _model_on([0, 1], pop)
    fitness = c.scorer_.quality(c.scorer_.scores(pop.models()))
    best = int(np.argmax(fitness))
    assert c.act(pop, 3, np.random.default_rng(0)) == {}  # not a reset generation: nothing happens
    assert np.count_nonzero(pop.member_list[loser].model.probs_) == 2
    edges = c.act(pop, 4, np.random.default_rng(0))
    assert list(edges) == [loser] and [(p.member, p.kind) for p in edges[loser]] == [(best, "copy")]
    assert np.array_equal(pop.member_list[loser].model.probs_, pop.member_list[best].model.probs_)
    assert pop.member_list[loser].model is not pop.member_list[best].model  # a copy, not a shared object
    assert pop.member_list[loser].pools is pop.member_list[best].pools


def test_quality_diversity_replaces_the_weakest_at_the_leading_task_and_the_lead_alternates(monkeypatch):
    """Task 0 (fit) leads at even generations, task 1 (tail) at odd: a member with only the head types is the
    weakest at the tail, one with only the tail types the weakest at the whole reference."""
    from redqueen.metrics.diversity import tail_set

    from redqueen.loop.couplings import quality_diversity

    pop = _population({"kind": "quality_diversity", "children": 1, "reference": 500, "cells": 5})
    c = pop.coupling_list[0]
    bred_from = []  # the two models each child is bred from, in the order its parents are named
    real = quality_diversity.genomes
    monkeypatch.setattr(quality_diversity, "genomes", lambda models: bred_from.append(list(models)) or real(models))
    tail = np.flatnonzero(tail_set(pop.world.type_probs(), 0.1))
    head_only, tail_only = 0, 3
    for g, weakest in ((2, tail_only), (3, head_only)):
        pop.member_list[head_only].model = _model_on(np.setdiff1d(np.arange(K), tail), pop)
        pop.member_list[tail_only].model = _model_on(tail, pop)
        before = [m.model for m in pop.member_list]
        edges = c.act(pop, g, np.random.default_rng(g))
        assert list(edges) == [weakest], g
        # the child names its two elites: a member of this generation (offered as ids start..start+P-1) or -1
        parents = edges[weakest]
        assert [p.kind for p in parents] == ["archive", "archive"] and sum(p.weight for p in parents) == pytest.approx(1)
        assert all(-1 <= p.member < len(before) for p in parents)
        for model, p in zip(bred_from[-1], parents):  # an elite named as member i is member i's model now
            assert p.member < 0 or model is before[p.member]
        assert any(p.member >= 0 for p in parents) or g == 3  # (what generation 2 draws, with these seeds)
        rec = c.measure(pop, g, np.random.default_rng(0))[0][0]
        assert 0 <= rec["archive_new_cells"] <= rec["archive_accepted"] <= 1 and 0 < rec["archive_coverage"] <= 1


def test_selecting_couplings_record_what_they_did_in_a_run():
    from redqueen.runtime.runner import run_experiment

    exp = redqueen.validate({
        "seed": 1, "generations": 3, "n": 200, "world": {"kind": "zipf", "k": 50}, "family": {"kind": "categorical"},
        "arms": [{"name": "q", "members": 3, "couplings": [{"kind": "quality_diversity", "reference": 50}]},
                 {"name": "n", "members": 3, "couplings": [{"kind": "niches", "reference": 50}]}]})
    recs = run_experiment(exp, checkpoints=False).records
    assert all({"archive_accepted", "archive_new_cells", "archive_coverage"} <= r.metrics.keys()
               for r in recs if r.arm == "q")
    assert all({"niche_accepted", "niche_fitness"} <= r.metrics.keys() for r in recs if r.arm == "n")
    # at generation 0 every elite is a member; later, children descend from members and from earlier elites
    qd = [(r.generation, p.member) for r in recs if r.arm == "q" for p in r.parents]
    assert qd and all(p.kind == "archive" for r in recs if r.arm == "q" for p in r.parents)
    assert all(m >= 0 for g, m in qd if g == 0) and all(-1 <= m < 3 for _, m in qd)
    assert any(m == -1 for g, m in qd if g > 0)
