"""Quality-diversity: an archive of models over what they are good at (CycleQD, Kuroki et al. 2024).

Two tasks, each a number in [0, 1] from the real reference set (:mod:`.scoring`): ``fit``, a
member's mean relative likelihood of the whole reference, and ``tail``, the same on the
reference's rarest part. CycleQD keeps one archive per task, with that task as the quality and
the other as the descriptor (pyribs ``GridArchive`` s of ``cells`` bins), and cycles which task
leads: at generation ``g`` task ``g mod 2``. Every generation every member is offered to both
archives (pyribs' add status says where it went: new cell, improved cell, or rejected); then
``children`` children are bred from two elites of the leading archive (drawn uniformly) and
replace the members weakest at the leading task. The archives hold models, so elites of
earlier generations can re-enter the population: a gene bank of models, not of data. A child's genealogy
names its two elites: the member an elite is this generation, or the archive (-1) for one of an earlier one. Recorded on
every member: ``archive_accepted`` and ``archive_new_cells``, the shares of this generation's children that
entered an archive and that filled an empty cell (pyribs' add status), and ``archive_coverage``, the share of
cells filled (mean over the two archives).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from redqueen.evolve.genome import genomes
from redqueen.loop.couplings.base import Coupling
from redqueen.loop.couplings.breeding import Breeding
from redqueen.loop.couplings.scoring import ReferenceScores
from redqueen.loop.record import Parent
from redqueen.runtime import restored

if TYPE_CHECKING:  # pyribs loads torch and numba (seconds): imported where an archive is made
    from ribs.archives import GridArchive

TASKS = ("fit", "tail")


class QualityDiversity(Coupling):
    name = "quality_diversity"

    def __init__(self, *, cells: int = 10, children: int = 1, reference: int = 1000,
                 breeding: Breeding = Breeding(operator="slerp")):
        self.cells = cells
        self.children = children
        self.reference = reference
        self.breeding = breeding

    def bind(self, pop) -> None:
        super().bind(pop)
        self.scorer_ = ReferenceScores(pop, size=self.reference)
        self.archives_ = [self._archive() for _ in TASKS]
        self.models_: dict[int, object] = {}  # archived models by id
        self.next_id_ = 0
        self.children_added_: list[int] = []  # the last generation's children's pyribs add statuses (0, 1, 2 new)

    def _archive(self) -> GridArchive:
        from ribs.archives import GridArchive

        return GridArchive(solution_dim=1, dims=[self.cells], ranges=[(0.0, 1.0)])

    def _tasks(self, models) -> np.ndarray:
        s = self.scorer_.scores(models)
        return np.stack([self.scorer_.quality(s), self.scorer_.quality(s, tail=True)], axis=1)  # (P, 2)

    def _offer(self, models, values: np.ndarray) -> list[int]:
        ids = np.arange(self.next_id_, self.next_id_ + len(models), dtype=np.float64)
        self.next_id_ += len(models)
        statuses = np.zeros(len(models), dtype=np.int64)
        for t, archive in enumerate(self.archives_):
            res = archive.add(ids[:, None], values[:, t], values[:, 1 - t : 2 - t])
            statuses = np.maximum(statuses, res["status"])
        for i, m in zip(ids.astype(int), models):
            self.models_[int(i)] = m
        self._forget()
        return statuses.tolist()

    def _forget(self) -> None:
        alive = {int(i) for a in self.archives_ for i in a.data("solution")[:, 0]}
        for i in list(self.models_):
            if i not in alive:
                del self.models_[i]

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        members = pop.member_list
        lead = generation % len(TASKS)
        values = self._tasks(pop.models())
        self._offer(pop.models(), values)
        start = self.next_id_ - len(members)  # this generation's members were offered as ids start, start + 1, ...

        def parent(elite: int, weight: float) -> Parent:
            """An elite that is a member now is that member; one of an earlier generation is the archive (-1)."""
            i = int(elite) - start
            return Parent(i if 0 <= i < len(members) else -1, weight, "archive")

        elites = np.sort(self.archives_[lead].data("solution")[:, 0].astype(int))  # by id: independent of pyribs' order
        edges: dict[int, list] = {}
        weakest = np.argsort(values[:, lead], kind="stable")
        children = []
        for _ in range(min(self.children, len(members))):
            a, b = rng.choice(elites, size=2, replace=elites.size < 2)
            g = genomes([self.models_[int(a)], self.models_[int(b)]])
            vec, w = self.breeding.child(g, 0, 1, rng)
            children.append((g.build(vec), [parent(a, 1.0 - w), parent(b, w)]))
        for slot, (child, parents) in zip(weakest, children):
            members[int(slot)].model = child
            edges[int(slot)] = parents  # bred from two archived elites
        self.children_added_ = (self._offer([c for c, _ in children], self._tasks([c for c, _ in children]))
                                if children else [])
        return edges

    def measure(self, pop, generation: int, rng: np.random.Generator) -> dict[int, tuple[dict, dict]]:
        status = np.asarray(self.children_added_)
        out = {"archive_accepted": float(np.mean(status > 0)) if status.size else float("nan"),
               "archive_new_cells": float(np.mean(status == 2)) if status.size else float("nan"),
               "archive_coverage": float(np.mean([len(a) / self.cells for a in self.archives_]))}
        return {m.index: (dict(out), {}) for m in pop.member_list}

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {}
        for t, archive in enumerate(self.archives_):
            d = archive.data()
            arrays[f"archive{t}.id"] = d["solution"][:, 0].astype(np.int64)
            arrays[f"archive{t}.objective"] = d["objective"].astype(np.float64)
            arrays[f"archive{t}.measure"] = d["measures"][:, 0].astype(np.float64)
        for i, m in self.models_.items():
            for k, v in m.state().items():
                arrays[f"model{i}.{k}"] = np.asarray(v)
        return arrays, {"next_id": self.next_id_, "models": sorted(self.models_)}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore :meth:`state`'s output; ``ValueError`` for archives that no run makes (ids of models not held,
        two elites in one cell, task values outside [0, 1])."""
        next_id = restored.whole(meta, "next_id")
        held = restored.wholes(meta, "models", hi=next_id - 1, distinct=True)
        models = {}
        for i in held:
            p = f"model{i}."
            model = self.pop.make_family().load_state({k[len(p):]: v for k, v in arrays.items() if k.startswith(p)})
            if hasattr(model, "labels_"):
                model.labels_ = getattr(self.pop.world, "labels", None)  # type names are the world's
            models[i] = model
        archives, elites = [], set()
        for t in range(len(TASKS)):
            archive = self._archive()
            ids = restored.array(arrays, f"archive{t}.id", shape=(None,), kind="i", lo=0, hi=next_id - 1)
            n = ids.shape[0]
            objective = restored.array(arrays, f"archive{t}.objective", shape=(n,), lo=0.0, hi=1.0)
            measure = restored.array(arrays, f"archive{t}.measure", shape=(n,), lo=0.0, hi=1.0)
            if n:
                archive.add(ids[:, None].astype(np.float64), objective, measure[:, None])
            if len(archive) != n or len(set(ids.tolist())) != n:
                raise ValueError(f"archive{t} holds two elites in one cell or one id twice")
            elites.update(ids.tolist())
            archives.append(archive)
        if elites != set(held):
            raise ValueError("the archived ids and the models held disagree")
        self.next_id_, self.models_, self.archives_ = next_id, models, archives
