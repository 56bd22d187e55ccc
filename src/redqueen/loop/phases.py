"""One generation of a population, phase by phase, top to bottom.

1. **training sets** -- generation 0 draws ``n`` real items per member; later generations
   let the regime mix the member's curated synthetic items with real data and its pools, and the
   mixed-stage curation steps edit the mix (with provenance: every item tagged with its origin
   and the training set's composition, and what the mixed stage removed, recorded);
2. **fit** -- a fresh model of the family per member (or the previous one fine-tuned);
3. **couple** -- the couplings act on the fitted population (merge, niches, quality-diversity,
   island reset); what they do is what the later phases see;
4. **emit** -- each member samples what its next training set needs (with migration, each item
   comes from another member's model with the coupling's probability);
5. **curate** -- noise and filters edit the emitted items into the member's pending data (with
   provenance, tagged as synthetic items of this generation and of the member whose model emitted
   them: a migrant keeps its source's tag);
6. **measure** -- the diagnostics score each model and its own raw samples (and, with P > 1,
   the population: F_ST and the pooled model); couplings add what they measured (``measure``);
7. **record** -- one immutable :class:`GenerationRecord` per member.

"Since generation 0" (types lost, F, the pooled types lost) counts, for a family with an exact type
distribution, from each member's real-data fit at generation 0, fixed before the couplings act
(:func:`anchor`), so every arm of a replicate counts from the same start.

Randomness: training sets, fitting, sampling and curation draw from the member's own loop
generator, in that order; couplings from the population's coupling generator; measuring from
each member's diagnostics generator. So a P = 1 population without couplings draws exactly
what a plain lineage always drew.
"""

from __future__ import annotations

import math
import time

import numpy as np

from redqueen.data import REAL, Counts, Data
from redqueen.loop.provenance import Tagged, mixed_stage, radioactivity_metrics, training_metrics
from redqueen.loop.record import GenerationRecord, Parent, pack_distribution
from redqueen.loop.regimes import Pools
from redqueen.metrics.suite import sample_texts
from redqueen.models.warm import warm_start as continue_from


def run_generation(pop, *, texts: bool = False) -> list[GenerationRecord]:
    """Advance ``pop`` (a :class:`redqueen.loop.population.Population`) one generation; one record per member."""
    pop.generation += 1
    g = pop.generation
    members = pop.member_list
    clock = np.zeros(len(members))

    def timed(i, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        clock[i] += time.perf_counter() - t0
        return out

    # 1. training sets
    trains = [timed(m.index, training_set, pop, m) for m in members]
    # 2. fit
    for m, train in zip(members, trains):
        m.model = timed(m.index, fit, pop, m, train)
        m.generation = g
    # 3. couple (at generation 0, first fix what "since generation 0" counts from: the real-data fits)
    t0 = time.perf_counter()
    if g == 0 and pop.coupling_list:
        anchor(pop)
    parents: dict[int, list[Parent]] = {}
    for coupling in pop.coupling_list:
        for i, edges in coupling.act(pop, g, pop.coupling_rng).items():
            parents.setdefault(i, []).extend(edges)
    sources = None
    for coupling in pop.coupling_list:
        s = coupling.sources(pop, g)
        if s is not None:  # a coupling without a migration matrix leaves the others' alone
            sources = s if sources is None else sources @ s
    # with provenance every migrant must know its source: draw per source, not from the mixture
    mixed = None if pop.provenance else mixtures(pop, sources)
    clock += (time.perf_counter() - t0) / len(members)
    # 4. emit
    emitted = [timed(m.index, emit, pop, m, sources, mixed) for m in members]
    for m, (_, _, edges) in zip(members, emitted):
        parents.setdefault(m.index, []).extend(edges)
    # 5. curate
    for m, (raw, _, _) in zip(members, emitted):
        m.pending = timed(m.index, curate, pop, m, raw)
    # 6. measure
    want_texts = texts or bool(pop.texts_every and g % pop.texts_every == 0)
    measured = []
    for m, (_, own, _) in zip(members, emitted):
        metrics, per_item = timed(m.index, m.diagnostics, g, m.model, own)
        metrics.update(m.provenance)
        shown = sample_texts(m.model, own, m.diagnostics.rng) if want_texts else ()
        measured.append((metrics, per_item, shown))
    if pop.population_diagnostics is not None:
        t0 = time.perf_counter()
        shared = pop.population_diagnostics(g, [m.diagnostics.types_ for m in members], [own for _, own, _ in emitted])
        clock += (time.perf_counter() - t0) / len(members)
        for metrics, _, _ in measured:
            metrics.update(shared)
    for coupling in pop.coupling_list:
        t0 = time.perf_counter()
        for i, (metrics, per_item) in coupling.measure(pop, g, pop.coupling_rng).items():
            measured[i][0].update(metrics)
            measured[i][1].update(per_item)
        clock += (time.perf_counter() - t0) / len(members)
    # 7. record
    return [
        GenerationRecord(
            arm=pop.arm, replicate=pop.replicate, generation=g, metrics=metrics, samples=shown,
            seconds=float(clock[m.index]), train_size=len(train),
            distributions=tuple((k, pack_distribution(v)) for k, v in per_item.items()),
            member=m.index, parents=genealogy(parents.get(m.index, ())),
        )
        for m, train, (metrics, per_item, shown) in zip(members, trains, measured)
    ]


def genealogy(edges: list[Parent]) -> tuple[Parent, ...]:
    """A member's parents in one canonical form: one edge per (parent, kind), weights summed, sorted."""
    summed: dict[tuple[int, str], float] = {}
    for e in edges:
        summed[(e.member, e.kind)] = summed.get((e.member, e.kind), 0.0) + e.weight
    return tuple(Parent(m, w, k) for (m, k), w in sorted(summed.items()))


def training_set(pop, member) -> Data:
    """Generation 0: ``n`` real items (and the pools start); later: the regime's mix of the member's pending data."""
    if member.pools is None:
        train = pop.world.sample(pop.n, member.rng)
        if pop.provenance:
            train = train.tag(pop.generation, REAL)
            member.provenance = training_metrics(train, None, None, pop.generation)
            if pop.radioactivity:
                member.provenance.update(radioactivity_metrics(pop, member, train))
        member.pools = Pools(bank=train, accumulated=train)
        return train
    world = Tagged(pop.world, pop.generation) if pop.provenance else pop.world
    pending = member.pending
    if getattr(pop.regime, "shared", False):  # a shared web: every member's output is published to every web
        pending = _published(pop)
    train, member.pools = pop.regime.training_set(pending, member.pools, pop.n, world, member.rng)
    if not pop.provenance:
        return train
    mixed = train
    train = mixed_stage(pop.mixed_curation, mixed, member.model, pop.world, member.rng)
    pool = member.pools.accumulated if getattr(pop.regime, "needs_provenance", False) else None
    member.provenance = training_metrics(train, mixed if pop.mixed_curation else None, pool, pop.generation)
    if pop.radioactivity:
        member.provenance.update(radioactivity_metrics(pop, member, train))
    return train


def _published(pop) -> Data:
    """All members' pending items joined, once per generation (every member's web reads the same)."""
    cached = getattr(pop, "_published_at", None)
    if cached is None or cached[0] != pop.generation:
        pending = pop.member_list[0].pending
        for other in pop.member_list[1:]:
            pending = pending.concat(other.pending)
        pop._published_at = cached = (pop.generation, pending)
    return cached[1]


def fit(pop, member, train: Data):
    """A fresh model of the family fitted to ``train`` (with warm start, the member's last model fine-tuned)."""
    family = pop.make_family()
    if pop.warm_start and member.model is not None:
        family = continue_from(family, member.model)
    return family.fit(train, member.rng)


def anchor(pop) -> None:
    """Generation 0's reference for ``types_lost``, ``inbreeding`` and ``pool_types_lost``, fixed on each member's
    real-data fit before the couplings act (:meth:`redqueen.metrics.suite.Diagnostics.anchor`): every arm of a
    replicate fits the same real data first, so all count from the same types. Families with an exact type
    distribution only (categorical); one measured on samples keeps generation 0's measured sample, drawn after
    the couplings acted. Draws nothing."""
    types = [m.diagnostics.anchor(m.model) for m in pop.member_list]
    if pop.population_diagnostics is not None:
        pop.population_diagnostics.anchor(types)


def draw_size(pop) -> int:
    """How many items a member emits a generation: the regime's synthetic items, oversampled for the curation's
    filters (``n`` when the regime needs none: they are still drawn, to be measured)."""
    want = pop.regime.synthetic_size(pop.n)
    return int(math.ceil(want * pop.oversample - 1e-9)) or pop.n


def mixtures(pop, sources: np.ndarray | None) -> list | None:
    """Each member's mixture of its sources' models as one model (row ``i`` of ``sources``), all at once,
    when the family can express a mixture as a model of itself (``mix``, e.g. categorical: one matrix
    product for the whole population); None without migration or for other families."""
    if sources is None:
        return None
    first = pop.member_list[0].model
    mix = getattr(first, "mix", None)
    return mix(pop.models(), sources) if callable(mix) else None


def emit(pop, member, sources: np.ndarray | None, mixed: list | None = None) -> tuple[Data, Data, list[Parent]]:
    """``(emitted, own, parents)``: the items the member's next training set draws on (oversampled for its
    filters), the part its own model produced (what is measured), and where the rest came from.

    An arm that needs no synthetic item (all real data) still draws ``n`` samples, to be measured.
    With ``sources`` (a row-stochastic ``(P, P)`` migration matrix) each item comes from member ``j``'s
    model with probability ``sources[i, j]``: one draw from the member's mixture model ``mixed[i]``
    (:func:`mixtures`) when the family has one, otherwise by splitting the count among the sources.
    With provenance on, the emitted items are tagged ``(generation, source member)`` (``own`` is not).
    """
    draw = draw_size(pop)
    row = None if sources is None else sources[member.index]
    g = pop.generation
    if row is None or row[member.index] >= 1.0:
        raw = member.model.sample(draw, member.rng)
        return (raw.tag(g, member.index) if pop.provenance else raw), raw, []
    models = pop.models()
    if mixed is not None:
        raw = mixed[member.index].sample(draw, member.rng)
        edges = [Parent(j, float(w), "migrant") for j, w in enumerate(row) if j != member.index and w > 0]
        return raw, raw, edges
    counts = member.rng.multinomial(draw, row)
    order = [member.index] + [j for j in range(len(models)) if j != member.index]
    # what is measured is the member's own model at the size every arm measures (a smaller sample shows fewer
    # types): its own model draws all ``draw`` items and the first ``counts[i]`` of them are emitted (i.i.d.
    # draws, so any fixed part of them is a sample too); counts, measured on the exact model, draw their share
    own = None if isinstance(member.pools.bank, Counts) else member.model.sample(draw, member.rng)
    drawn = [(j, own.subset(np.arange(int(counts[j]))) if j == member.index and own is not None
              else models[j].sample(int(counts[j]), member.rng)) for j in order if counts[j] > 0]
    parts = [part.tag(g, j) if pop.provenance else part for j, part in drawn]
    raw = parts[0]
    for part in parts[1:]:
        raw = raw.concat(part)
    if own is None:
        own = drawn[0][1] if counts[member.index] > 0 else raw.untracked()  # none of its own: measure what it emits
    edges = [Parent(j, float(counts[j]) / draw, "migrant") for j in order[1:] if counts[j] > 0]
    return raw, own, edges


def curate(pop, member, raw: Data) -> Data:
    """The curation steps in order, then at most the regime's number of synthetic items (a random subset)."""
    want = pop.regime.synthetic_size(pop.n)
    data = raw  # with provenance, tagged by emit
    for step in pop.curation:
        data = step.apply(data, member.model, pop.world, member.rng)
    return data.take(want, member.rng) if len(data) > want else data
