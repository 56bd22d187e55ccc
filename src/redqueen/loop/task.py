"""Task populations: ``redqueen evolve`` on the population runtime.

How an evolution run maps onto the runtime (DESIGN: "evolve is a population whose coupling is
a strategy and whose world is a task"):

| evolve (before)                          | runtime                                                       |
| ---------------------------------------- | ------------------------------------------------------------- |
| the digits data (``DigitsTask``)         | a **task world** (``world.kind = "digits_task"``): it scores  |
|                                          | genomes per training point (``scores``) and on held-out       |
|                                          | points (``test_accuracy``) instead of drawing real samples    |
| the MLP genome and its initialisation    | the **family** ``mlp``: a model is one genome                 |
|                                          | (:class:`redqueen.evolve.digits.MLPGenome`)                   |
| M2N2 / GA / MAP-Elites / CMA-ES          | a **strategy coupling** (``m2n2``, ``ga``, ``map_elites``,    |
|                                          | ``cma``; :mod:`redqueen.loop.couplings.strategy`) with        |
|                                          | ``state()`` / ``load_state()``                                |
| ``archive_size``                         | the arm's ``members`` P: the archive's slots (M2N2, GA), the  |
|                                          | P best elites (MAP-Elites), CMA-ES's population size          |
| ``eval_every`` / ``budget``              | ``passes`` forward passes per generation / ``budget`` on the  |
|                                          | coupling; ``generations`` = ceil(budget / passes) - 1         |
| one ``EvolveRecord`` per report          | one record per member per generation; the population's        |
|                                          | ``best_train_acc``, ``best_test_acc`` (test accuracy of the   |
|                                          | best on train) and ``forward_passes`` in every member's record |
| no resume, no executors, own store rows  | :class:`redqueen.runtime.runner.Unit` s: checkpoints (members |
|                                          | and strategy state), SIGKILL + resume bitwise, executors,     |
|                                          | the store with members and parents, show/export/report        |

A generation of a task population has three of the phases of :mod:`redqueen.loop.phases`
(there is no self-consuming data, so no training sets, fitting, emission or curation):

1. **couple** -- the strategy coupling runs ask -> evaluate on the task -> tell until the
   generation's forward passes are spent (``tell`` answers where each child went), then
   writes the genomes it holds into the members (genealogy edges: what a child replaced);
2. **measure** -- each member's training and test accuracy, the population's best and, for P > 1, its
   ``fst``: F_ST across the members of their predicted class distributions (softmax) on the test split,
   each test point a locus and its ten classes the alleles (:func:`redqueen.metrics.popgen.fst_loci`): 0 when
   every member predicts alike, near 1 when members are confident and disagree;
3. **record** -- one immutable :class:`~redqueen.loop.record.GenerationRecord` per member.

Randomness: the initial genomes and every strategy draw come from the population's coupling
stream (:func:`redqueen.loop.member.population_seed` stream 2), so a seed replays a run and a
checkpoint (that stream's state, the members, the strategy's state) continues it bit for bit.
"""

from __future__ import annotations

import time

import numpy as np

from redqueen.loop.member import Member, member_seeds, population_seed
from redqueen.loop.phases import genealogy
from redqueen.loop.population import Population
from redqueen.loop.record import GenerationRecord
from redqueen.metrics.popgen import fst_loci


def is_task(world) -> bool:
    """Whether ``world`` is a task world: it scores genomes (``scores``) rather than models' samples."""
    return callable(getattr(world, "scores", None)) and callable(getattr(world, "test_accuracy", None))


class TaskPopulation(Population):
    """A population on a task world: ``members`` genome slots and one strategy coupling.

    Built like a :class:`Population` (``regime``, ``n`` and curation are unused); members hold
    ``make_family()`` models (genomes) and no data pools or diagnostics.
    """

    def __post_init__(self) -> None:
        self.oversample = 1.0
        self.member_list = [Member(i, np.random.default_rng(member_seeds(self.seed, self.replicate, i)[0]), None)
                            for i in range(self.members)]
        self.coupling_rng = np.random.default_rng(population_seed(self.seed, self.replicate, 2))
        self.population_diagnostics = None
        self.coupling_list = [make() for make in self.couplings]
        from redqueen.loop.couplings.strategy import StrategyCoupling

        if len(self.coupling_list) != 1 or not isinstance(self.coupling_list[0], StrategyCoupling):
            raise ValueError("a task population needs exactly one strategy coupling (m2n2, ga, map_elites or cma)")
        for c in self.coupling_list:
            c.bind(self)

    @property
    def strategy(self):
        """The strategy coupling (:class:`redqueen.loop.couplings.strategy.StrategyCoupling`)."""
        return self.coupling_list[0]

    def step(self, *, texts: bool = False) -> list[GenerationRecord]:
        """Run the next generation (its forward passes); one record per member."""
        return run_task_generation(self)


def run_task_generation(pop: TaskPopulation) -> list[GenerationRecord]:
    """Advance a task population one generation: couple, measure, record (see the module docstring)."""
    pop.generation += 1
    g = pop.generation
    members = pop.member_list
    t0 = time.perf_counter()
    # 1. couple
    coupling = pop.strategy
    edges = coupling.act(pop, g, pop.coupling_rng)
    for m in members:
        m.generation = g
    # 2. measure
    genomes = np.stack([m.model.genome_ for m in members])
    train = coupling.train_accuracy(genomes)
    test = np.asarray(pop.world.test_accuracy(genomes), dtype=np.float64)
    best, best_train = coupling.strategy_.best()
    shared = {"best_train_acc": float(best_train), "best_test_acc": float(pop.world.test_accuracy(best)),
              "forward_passes": float(coupling.passes_), **coupling.outcome_}
    if len(members) > 1 and callable(getattr(pop.world, "test_probs", None)):
        shared["fst"] = fst_loci(pop.world.test_probs(genomes))
    seconds = (time.perf_counter() - t0) / len(members)
    # 3. record
    return [
        GenerationRecord(
            arm=pop.arm, replicate=pop.replicate, generation=g, seconds=seconds,
            metrics={"train_acc": float(train[m.index]), "test_acc": float(test[m.index]), **shared},
            member=m.index, parents=genealogy(edges.get(m.index, ())),
        )
        for m in members
    ]


__all__ = ["TaskPopulation", "is_task", "run_task_generation"]
