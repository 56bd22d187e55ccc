"""Theory next to simulation: curves for the report and the `redqueen theory` table."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from redqueen.runtime import config as C


class _Arms:
    """An experiment's world and arm plans, rebuilt once from a stored config."""

    def __init__(self, exp: C.Experiment):
        from redqueen.runtime.runner import _plans, _world  # the runner's per-process cache: built once

        self.exp = exp
        config_json = exp.model_dump_json()
        self.world = _world(config_json)
        self.plans = _plans(config_json)

    def predict(self, arm: str, metric: str, generations, h0: float | None) -> np.ndarray | None:
        from redqueen import theory

        plan = self.plans.get(arm)
        if plan is None:
            return None
        return theory.predict(metric, family=plan.make_family, regime=plan.regime, curation=plan.curation,
                              world=self.world, n=self.exp.n, generations=generations, h0=h0)


def theory_curves(store, run_ids):
    """A callable for :func:`redqueen.report.write_report`: ``(info, arm, metric, generations) -> curve | None``.

    Curves start from the observed mean generation-0 heterozygosity of the arm
    (the recursions are affine in it, so this is the expectation given the start).
    """

    @lru_cache(maxsize=None)
    def arms(run_id: str) -> _Arms | None:
        info = store.run(run_id)
        if info.kind not in ("collapse", "theory"):
            return None
        try:
            return _Arms(C.validate(info.config))
        except Exception:  # a config from another version: no theory curve rather than no report
            return None

    @lru_cache(maxsize=None)
    def h0(run_id: str, arm: str) -> float | None:
        values = [r.metrics.get("heterozygosity") for r in store.records(run_id) if r.arm == arm and r.generation == 0]
        values = [v for v in values if v is not None and np.isfinite(v)]
        return float(np.mean(values)) if values else None

    def curve(info, arm, metric, generations):
        a = arms(info.id)
        if a is None or arm is None:
            return None
        return a.predict(arm, metric, np.asarray(generations, dtype=np.int64), h0(info.id, arm))

    return curve


def comparisons(exp: C.Experiment, result, level: float = 0.99, arms: _Arms | None = None):
    """``(arm, metric, theory.compare rows)`` for every arm and predicted metric of a run's result."""
    from redqueen import theory

    arms = arms or _Arms(exp)
    for arm in exp.arms:
        for metric in theory.PREDICTED_METRICS:
            sim = result.trajectory(arm.name, metric)
            if np.all(np.isnan(sim)):
                continue
            h0 = float(np.nanmean(result.trajectory(arm.name, "heterozygosity")[:, 0])) if metric in (
                "heterozygosity", "inbreeding") else None
            pred = arms.predict(arm.name, metric, exp.generations, h0)
            if pred is not None:
                yield arm, metric, theory.compare(sim, pred, level)


def print_theory(console, exp: C.Experiment, *, store, level: float, every: int) -> None:
    """Run ``exp`` (``replicates`` lineages per arm) and print simulation against prediction per arm and metric."""
    from rich.table import Table

    from redqueen.runtime.runner import run_experiment

    if exp.replicates < 2:
        raise C.ConfigError("replicates: theory compares means over replicates; set replicates >= 2 (e.g. 200)")
    arms = _Arms(exp)
    console.print(f"[bold]{exp.name}[/]: {exp.replicates} replicates x {exp.generations} generations, n = {exp.n}; "
                  f"simultaneous {level:.0%} intervals (Bonferroni over generations)")
    result = run_experiment(exp, store=store, kind="theory")
    compared = 0
    for arm, metric, rows in comparisons(exp, result, level, arms):
        compared += 1
        inside = sum(r.inside for r in rows)
        table = Table(title=f"{arm.name}: {metric}  ({inside}/{len(rows)} generations inside)", title_justify="left")
        for col in ("t", "simulated mean", "interval", "theory", "inside"):
            table.add_column(col, justify="right")
        for r in rows:
            if r.t % every == 0 or r.t == len(rows) - 1 or not r.inside:
                table.add_row(str(r.t), f"{r.mean:.5g}", f"[{r.ci_low:.5g}, {r.ci_high:.5g}]", f"{r.prediction:.5g}",
                              "yes" if r.inside else "[bold red]no[/]")
        console.print(table)
    if not compared:
        console.print("no arm of this experiment has a closed-form prediction (see `redqueen.theory.predict`)")
    console.print(f"run {result.run_id} stored in {store.path}")
