"""Run an experiment: every arm and replicate, generation by generation, into the store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from redqueen.loop import GenerationRecord, Lineage
from redqueen.runtime import config as C
from redqueen.runtime.build import make_lineage, make_world, plan_arms

#: what a model blowing up inside a run looks like; it ends that arm, not the run
DIVERGENCE = (FloatingPointError, ArithmeticError, np.linalg.LinAlgError, ValueError)


@dataclass(frozen=True)
class RunResult:
    run_id: str | None
    folder: Path | None
    records: tuple[GenerationRecord, ...]
    status: dict[str, str] = field(default_factory=dict)

    def final(self, arm: str, metric: str) -> np.ndarray:
        """The last generation's value of ``metric`` for each replicate of ``arm``; shape (replicates,)."""
        last = {}
        for r in self.records:
            if r.arm == arm and metric in r.metrics:
                if r.replicate not in last or r.generation >= last[r.replicate][0]:
                    last[r.replicate] = (r.generation, r.metrics[metric])
        return np.array([v for _, (_, v) in sorted(last.items())])

    def trajectory(self, arm: str, metric: str) -> np.ndarray:
        """``metric`` by (replicate, generation) for ``arm``; shape (replicates, generations + 1), NaN where missing."""
        recs = [r for r in self.records if r.arm == arm]
        reps = max(r.replicate for r in recs) + 1
        gens = max(r.generation for r in recs) + 1
        out = np.full((reps, gens), np.nan)
        for r in recs:
            out[r.replicate, r.generation] = r.metrics.get(metric, np.nan)
        return out


def _finite_state(model) -> bool:
    try:
        return all(np.all(np.isfinite(v)) for v in model.state().values() if np.asarray(v).dtype.kind in "fc")
    except Exception:
        return True


def step_safely(lineage: Lineage, *, texts: bool) -> GenerationRecord:
    """One generation; a numerical blow-up becomes a 'diverged' record instead of an exception."""
    t0 = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            rec = lineage.step(texts=texts)
    except DIVERGENCE as e:
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        return GenerationRecord(lineage.arm, lineage.replicate, lineage.generation, {}, (),
                                time.perf_counter() - t0, 0, "diverged", reason)
    if not _finite_state(lineage.model):
        return replace(rec, status="diverged", reason="the fitted model has NaN or Inf parameters")
    return rec


def run_experiment(
    exp: C.Experiment,
    *,
    store=None,
    on_record: Callable[[GenerationRecord], None] | None = None,
) -> RunResult:
    """Run every arm x replicate for ``exp.generations`` generations.

    Records go to ``store`` (a :class:`redqueen.runtime.store.Store`) one
    generation per transaction, and to ``on_record`` (progress). A diverged
    arm stops while the others go on. Ctrl-C marks the run 'interrupted' and
    re-raises. Raises ``ConfigError`` before anything is written if the world
    or a family cannot be built.
    """
    world = make_world(exp.world)
    plans = plan_arms(exp, world)
    run_id = None
    if store is not None:
        run_id = store.create_run(
            name=exp.name, kind="collapse", config=exp.model_dump(mode="json"), seed=exp.seed,
            arms=[(p.name, {"regime": repr(p.regime), "curation": [repr(c) for c in p.curation],
                            "family": p.family_config}) for p in plans],
        )
    records: list[GenerationRecord] = []
    status = {p.name: "ok" for p in plans}
    try:
        for replicate in range(exp.replicates):
            for plan in plans:
                lineage = make_lineage(exp, world, plan, replicate)
                for g in range(exp.generations + 1):
                    rec = step_safely(lineage, texts=g in (0, exp.generations))
                    records.append(rec)
                    if store is not None:
                        store.append(run_id, [rec])
                    if on_record is not None:
                        on_record(rec)
                    if rec.status != "ok":
                        status[plan.name] = rec.status
                        break
    except KeyboardInterrupt:
        if store is not None:
            store.finish(run_id, "interrupted")
        raise
    except BaseException:
        if store is not None:
            store.finish(run_id, "failed")
        raise
    if store is not None:
        store.finish(run_id, "done")
    return RunResult(run_id, getattr(store, "folder", None), tuple(records), status)
