"""Run an experiment: one population per arm and replicate, generation by generation, into the store."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from redqueen.loop import GenerationRecord, Population
from redqueen.runtime import config as C
from redqueen.runtime import checkpoint, threads
from redqueen.runtime.build import make_population, make_world, plan_arms
from redqueen.runtime.executors import SerialExecutor
from redqueen.runtime.failures import MUST_NOT_BE_NAN, classify, failure_line
from redqueen.runtime.provenance import data_files


@dataclass(frozen=True)
class RunResult:
    run_id: str | None
    folder: Path | None
    records: tuple[GenerationRecord, ...]
    status: dict[str, str] = field(default_factory=dict)

    def _arm_records(self, arm: str, metric: str) -> list[GenerationRecord]:
        """The records of ``arm``; KeyError naming what exists for an unknown arm, or a metric no record of it has."""
        recs = [r for r in self.records if r.arm == arm]
        if not recs:
            arms = list(dict.fromkeys(r.arm for r in self.records))
            raise KeyError(f"no arm {arm!r} in run {self.run_id}; its arms are {arms}")
        if not any(metric in r.metrics for r in recs):
            names = sorted({k for r in recs for k in r.metrics})
            raise KeyError(f"arm {arm!r} has no metric {metric!r}; its metrics are {names}")
        return recs

    def final(self, arm: str, metric: str) -> np.ndarray:
        """The last generation's value of ``metric`` for each replicate of ``arm`` (the mean over a
        population's members at that generation); shape (replicates,).

        Raises KeyError (listing what exists) for an unknown arm or metric.
        """
        last: dict[int, tuple[int, list[float]]] = {}
        for r in self._arm_records(arm, metric):
            if metric in r.metrics:
                g, values = last.get(r.replicate, (-1, []))
                if r.generation > g:
                    last[r.replicate] = (r.generation, [r.metrics[metric]])
                elif r.generation == g:
                    values.append(r.metrics[metric])
        return np.array([float(np.mean(v)) for _, (_, v) in sorted(last.items())])

    def trajectory(self, arm: str, metric: str) -> np.ndarray:
        """``metric`` by (replicate, generation) for ``arm``, averaged over a population's members;
        shape (replicates, generations + 1), NaN where missing. Replicates are independent; the members
        of one population are not, which is why they are averaged rather than listed.

        Raises KeyError (listing what exists) for an unknown arm or a metric no record of the arm has.
        """
        recs = self._arm_records(arm, metric)
        reps = max(r.replicate for r in recs) + 1
        gens = max(r.generation for r in recs) + 1
        total = np.zeros((reps, gens))
        count = np.zeros((reps, gens))
        for r in recs:
            v = r.metrics.get(metric, np.nan)
            if not np.isnan(v):
                total[r.replicate, r.generation] += v
                count[r.replicate, r.generation] += 1
        with np.errstate(invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def to_frame(self):
        """The records as a pandas DataFrame, a row per arm x replicate x member x generation (see :mod:`redqueen.frames`)."""
        from redqueen.frames import records_frame

        return records_frame(self.records, run_id=self.run_id)


def _finite_state(model) -> bool:
    try:
        return all(np.all(np.isfinite(v)) for v in model.state().values() if np.asarray(v).dtype.kind in "fc")
    except Exception:
        return True


def step_safely(pop: Population, *, texts: bool) -> list[GenerationRecord]:
    """One generation of every member; a failure becomes records with its status instead of an exception.

    What went wrong decides the status (:func:`redqueen.runtime.failures.classify`): a model
    blowing up numerically is ``diverged``; a plug-in raising, or memory running out, is
    ``failed``; anything else is a bug in redqueen, ``error``. Either way the population stops
    and the other arms go on. A model with NaN/Inf parameters or NaN log-likelihoods is
    ``diverged`` too.
    """
    t0 = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            recs = pop.step(texts=texts)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - classified, not swallowed: see failures.classify
        status, reason = classify(e)
        if status is None:
            raise
        g = pop.generation
        return [GenerationRecord(pop.arm, pop.replicate, g, {}, (), time.perf_counter() - t0, 0, status, reason,
                                 member=m.index) for m in pop.member_list]
    bad = nonfinite(pop, recs)
    if bad:
        return [replace(r, status="diverged", reason=bad) for r in recs]
    return recs


def nonfinite(pop: Population, recs: list[GenerationRecord]) -> str:
    """Why a generation counts as diverged though nothing raised ('' if it does not)."""
    several = len(pop.member_list) > 1
    for m, rec in zip(pop.member_list, recs):
        who = f"member {m.index}: " if several else ""
        if not _finite_state(m.model):
            return who + "the fitted model has NaN or Inf parameters"
        nan = [k for k in MUST_NOT_BE_NAN if k in rec.metrics and np.isnan(rec.metrics[k])]
        if nan:
            return who + f"the model's {nan[0]} is NaN (its log-likelihoods are not numbers)"
    return ""


@dataclass(frozen=True)
class Unit:
    """One population (arm x replicate) to run: picklable, so a process pool or Ray can take it."""

    config: str  # the experiment as canonical JSON
    arm: str
    replicate: int
    checkpoint: str | None = None  # save after generations here
    resume: bool = False  # continue from the checkpoint instead of generation 0
    run_id: str | None = None  # binds checkpoints to their run


@lru_cache(maxsize=8)
def _experiment(config_json: str) -> C.Experiment:
    return C.validate(json.loads(config_json))


class _WorldKey:
    """A world config as a cache key: its JSON (the grid points of a sweep differ in seed and n, not world), and for
    a corpus read from a path, that path's size and modification time (an edited corpus is a new world)."""

    def __init__(self, cfg):
        self.cfg, self.json = cfg, cfg.model_dump_json()
        corpus = getattr(cfg, "corpus", None)
        if isinstance(corpus, str) and corpus != "kjv":
            try:
                st = os.stat(corpus)
                self.json += f"|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
            except OSError:
                pass  # the world reports a missing file itself

    def __hash__(self) -> int:
        return hash(self.json)

    def __eq__(self, other) -> bool:
        return isinstance(other, _WorldKey) and self.json == other.json


@lru_cache(maxsize=4)
def _built_world(key: _WorldKey):
    return make_world(key.cfg)


def _world(config_json: str):
    """The experiment's world, built once per world config in a process (not once per grid point)."""
    return _built_world(_WorldKey(_experiment(config_json).world))


@lru_cache(maxsize=8)
def _plans(config_json: str) -> dict:
    return {p.name: p for p in plan_arms(_experiment(config_json), _world(config_json))}


def prepare(exp: C.Experiment) -> list:
    """Build ``exp``'s world and arms as its run will (kept for it): a world, family, coupling or detector that
    cannot be built raises ``ConfigError`` here, so that a command refuses before it opens a store."""
    return list(_plans(exp.model_dump_json()).values())


#: the serial runner stores records and checkpoints at most this often (and at the end of a population);
#: a kill loses at most this much work, which resume recomputes bit for bit
FLUSH_SECONDS = 0.5

#: ... and spends at most this share of its time flushing: after a flush that took c seconds, the next waits
#: at least c / CHECKPOINT_SHARE (a bound for large members: a 16-member categorical population's checkpoints
#: took 3.5% of its run at 0.5 s, a transformer population's would take far more)
CHECKPOINT_SHARE = 0.05


def build_unit(unit: Unit) -> Population:
    """The population of ``unit``, restored from its checkpoint when it resumes from one."""
    exp = _experiment(unit.config)
    world = _world(unit.config)
    plan = _plans(unit.config)[unit.arm]
    pop = make_population(exp, world, plan, unit.replicate)
    if unit.resume:
        checkpoint.load(pop, unit.checkpoint, checkpoint.binding_of(pop, unit.run_id, unit.config),
                        last_generation=exp.generations)
    return pop


def _usable_checkpoint(unit: Unit, last: int) -> int | None:
    """The generation ``unit``'s checkpoint restores, if the whole file loads into a fresh population
    and the store holds that generation; None otherwise (the population is then recomputed)."""
    path = Path(unit.checkpoint)
    if not path.exists():
        return None
    try:
        pop = build_unit(replace(unit, resume=True))
    except checkpoint.CheckpointError as e:  # a file that is there but refused: say why the work is redone
        print(f"redqueen: arm {unit.arm!r} replicate {unit.replicate} is recomputed from generation 0, its "
              f"checkpoint refused: {str(e).split('; delete it')[0]}", file=sys.stderr)
        return None
    return pop.generation if pop.generation <= last else None


def run_unit(unit: Unit, emit: Callable[[list[GenerationRecord]], None] | None = None) -> list[GenerationRecord]:
    """Run one population to the last generation (or from its checkpoint on); returns the new records.

    ``emit`` receives the new records in batches, every :data:`FLUSH_SECONDS` (or longer, so that
    flushing takes at most :data:`CHECKPOINT_SHARE` of the time) and at the end, each batch before
    the checkpoint of its last generation is written: a store can never be behind a checkpoint.
    """
    exp = _experiment(unit.config)
    pop = build_unit(unit)
    binding = checkpoint.binding_of(pop, unit.run_id, unit.config)
    out: list[GenerationRecord] = []
    batch: list[GenerationRecord] = []
    last_flush, flush_cost = time.monotonic(), 0.0
    while pop.generation < exp.generations:
        recs = step_safely(pop, texts=pop.generation + 1 in (0, exp.generations))
        out.extend(recs)
        batch.extend(recs)
        ok = all(r.status == "ok" for r in recs)
        ended = not ok or pop.generation >= exp.generations
        start = time.monotonic()
        if emit is not None and (ended or start - last_flush >= max(FLUSH_SECONDS, flush_cost / CHECKPOINT_SHARE)):
            emit(batch)
            batch = []
            if unit.checkpoint is not None and ok:
                checkpoint.save(pop, unit.checkpoint, binding)
            last_flush = time.monotonic()
            flush_cost = last_flush - start
        if not ok:
            break
    return out


def checkpoint_path(folder: Path, run_id: str, arm: str, replicate: int) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", arm)
    digest = hashlib.sha1(arm.encode()).hexdigest()[:6]
    return folder / "checkpoints" / run_id / f"{slug}-{digest}-r{replicate}.safetensors"


def plan_units(exp: C.Experiment, run_id: str | None, folder: Path | None, store=None, *, checkpoints: bool = True) -> list[Unit]:
    """The populations still to run. With a store that already holds records of ``run_id`` (a resume),
    finished populations are skipped, and unfinished ones continue from their checkpoint when it is
    usable -- bound to this run, config and population, at a generation the store has; records past
    the checkpoint are dropped first, since the population recomputes them. Any other checkpoint is
    ignored and the population recomputed from generation 0."""
    config_json = exp.model_dump_json()
    done = store.progress(run_id) if store is not None and run_id is not None else {}
    units = []
    for replicate in range(exp.replicates):
        for arm in exp.arms:
            path = checkpoint_path(folder, run_id, arm.name, replicate) if checkpoints and folder and run_id else None
            last, status = done.get((arm.name, replicate), (-1, "ok"))
            if last >= exp.generations or status != "ok":
                continue  # finished, or ended by a failure
            unit = Unit(config_json, arm.name, replicate, str(path) if path else None, False, run_id)
            if last >= 0:
                at = _usable_checkpoint(unit, last) if path is not None else None
                store.truncate(run_id, arm.name, replicate, after=-1 if at is None else at)
                unit = replace(unit, resume=at is not None)
            units.append(unit)
    return units


def _create(store, exp: C.Experiment, plans, kind: str, options: dict) -> str:
    return store.create_run(
        name=exp.name, kind=kind, config=exp.model_dump(mode="json"), seed=exp.seed,
        arms=[(p.name, {"regime": repr(p.regime), "curation": [repr(c) for c in p.curation],
                        **({"mixed_curation": [repr(c) for c in p.mixed_curation]} if p.mixed_curation else {}),
                        "family": p.family_config}) for p in plans],
        data=data_files(_world(exp.model_dump_json())), options=options,
    )


def _stopped(e: BaseException) -> tuple[str, str]:
    """The status and one-line reason of a run that an exception ended before its populations did."""
    if isinstance(e, KeyboardInterrupt):
        return "interrupted", "stopped by Ctrl-C or SIGTERM; `redqueen resume` continues it"
    if isinstance(e, SystemExit):
        return "failed", f"something called sys.exit({e.code!r}) during the run"
    return "failed", failure_line(e)


def run_experiments(
    exps: list[tuple[C.Experiment, str | None]],
    *,
    store=None,
    on_record: Callable[[GenerationRecord], None] | None = None,
    executor=None,
    checkpoints: bool = True,
    keep_checkpoints: bool = False,
    kind: str = "collapse",
) -> list[RunResult]:
    """Run several experiments' populations through one executor; ``(exp, run_id)`` with a run id resumes that run.

    Serial execution stores records and checkpoints every population at most every
    :data:`FLUSH_SECONDS` (records first), so a killed run resumes exactly;
    checkpoints are removed when a run is done unless ``keep_checkpoints``
    (then each population's final state stays in ``<folder>/checkpoints/<run>``). A pool or Ray stores
    one finished population per transaction: the single writer is this process.
    Ctrl-C marks unfinished runs 'interrupted' and re-raises. Raises
    ``ConfigError`` before anything is written if a world or family cannot be built.
    """
    executor = executor or SerialExecutor()
    serial = isinstance(executor, SerialExecutor)
    folder = getattr(store, "folder", None)
    prepared = []
    for exp, run_id in exps:  # build everything first: a bad world fails before any run is created
        prepared.append((exp, run_id, prepare(exp)))
    runs, units = [], []
    for exp, run_id, plans in prepared:
        if store is not None:
            if run_id is None:  # the new run is owned by this process (a lease with heartbeat) until finish
                run_id = _create(store, exp, plans, kind, {"keep_checkpoints": keep_checkpoints})
            else:  # refused if another live process owns it or its data files changed; drops gaps
                run_id = store.acquire(run_id, data=data_files(_world(exp.model_dump_json())))
        mine = plan_units(exp, run_id, folder, store, checkpoints=checkpoints and serial and store is not None)
        runs.append((exp, run_id, plans, len(mine)))
        units.extend((u, run_id) for u in mine)
    left = {run_id: n for _, run_id, _, n in runs}
    records: dict[str | None, list[GenerationRecord]] = {run_id: [] for _, run_id, _, _ in runs}
    run_of = dict(units)  # units are frozen and carry their experiment's config, so unique across runs

    def keep(run_id, recs: list[GenerationRecord]) -> None:
        records[run_id].extend(recs)
        if store is not None:
            store.append(run_id, recs)
        if on_record is not None:
            for rec in recs:
                on_record(rec)

    def population_done(run_id) -> None:
        left[run_id] -= 1
        if left[run_id] == 0 and store is not None:
            store.finish(run_id, "done")

    try:
        for run_id, n in left.items():
            if n == 0 and store is not None:
                store.finish(run_id, "done")
        if serial:
            with threads.limited(executor.threads):  # the serial worker is this process: the same thread policy
                for unit, run_id in units:
                    run_unit(unit, lambda recs, rid=run_id: keep(rid, recs))
                    population_done(run_id)
        else:
            for unit, recs in executor.map_unordered(run_unit, list(run_of)):
                keep(run_of[unit], recs)
                population_done(run_of[unit])
    except BaseException as e:
        if store is not None:
            status, reason = _stopped(e)
            for run_id, n in left.items():
                if n > 0:
                    store.finish(run_id, status, reason=reason)
        raise
    results = []
    for exp, run_id, plans, _ in runs:
        recs = records[run_id]
        if store is not None:
            if checkpoints and folder is not None and not keep_checkpoints:
                shutil.rmtree(folder / "checkpoints" / run_id, ignore_errors=True)
                try:
                    (folder / "checkpoints").rmdir()  # only when no other run keeps one there
                except OSError:
                    pass
            recs = store.records(run_id)
        status = {p.name: "ok" for p in plans}
        for r in recs:
            if r.status != "ok":
                status[r.arm] = r.status
        results.append(RunResult(run_id, folder, tuple(recs), status))
    return results


def run_experiment(exp: C.Experiment, *, store=None, on_record=None, executor=None, run_id: str | None = None,
                   checkpoints: bool = True, keep_checkpoints: bool = False, kind: str = "collapse") -> RunResult:
    """Run (or with ``run_id``, resume) one experiment; see :func:`run_experiments`."""
    return run_experiments([(exp, run_id)], store=store, on_record=on_record, executor=executor,
                           checkpoints=checkpoints, keep_checkpoints=keep_checkpoints, kind=kind)[0]
