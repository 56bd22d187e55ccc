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
        self.couplings = {name: [make() for make in plan.couplings] for name, plan in self.plans.items()}

    def predict(self, arm: str, metric: str, generations, h0: float | None) -> np.ndarray | None:
        from redqueen import theory

        plan = self.plans.get(arm)
        if plan is None:
            return None
        return theory.predict(metric, family=plan.make_family, regime=plan.regime, curation=plan.curation,
                              world=self.world, n=self.exp.n, generations=generations, h0=h0,
                              members=plan.members, couplings=self.couplings[arm],
                              mixed=plan.mixed_curation)


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
            exp = C.validate(info.config)
        except Exception:  # a config from another version: no theory curve rather than no report
            return None
        if exp.family.kind == "plugin":  # no closed form, and reading a store never imports its plug-in
            return None
        try:
            return _Arms(exp)
        except Exception:
            return None

    @lru_cache(maxsize=None)
    def starts(run_id: str) -> dict[str, list[float]]:
        """Every arm's generation-0 heterozygosities, in record order (one streamed read per run)."""
        out: dict[str, list[float]] = {}
        for r in store.iter_rows(run_id, names=["heterozygosity"], ends=True):
            if r.generation == 0:
                out.setdefault(r.arm, []).append(r.metrics.get("heterozygosity"))
        return out

    def h0(run_id: str, arm: str) -> float | None:
        values = [v for v in starts(run_id).get(arm, []) if v is not None and np.isfinite(v)]
        return float(np.mean(values)) if values else None

    def curve(info, arm, metric, generations):
        a = arms(info.id)
        if a is None or arm is None:
            return None
        return a.predict(arm, metric, np.asarray(generations, dtype=np.int64), h0(info.id, arm))

    return curve


#: a check that misses deviations smaller than this share of the prediction (median over generations) is weak
WEAK = 0.10


def comparisons(exp: C.Experiment, result, level: float = 0.99, arms: _Arms | None = None):
    """``(arm, metric, rows, anchored)`` for every arm and predicted metric a run measured: ``rows`` are
    :func:`redqueen.theory.compare`'s, from generation 1 where the prediction starts from the observed
    generation-0 mean (``anchored``: generation 0 is the start, not a test), else from generation 0."""
    from redqueen import theory

    arms = arms or _Arms(exp)
    for arm in exp.arms:
        measured = {k for r in result.records if r.arm == arm.name for k in r.metrics}
        for metric in theory.PREDICTED_METRICS:
            if metric not in measured:
                continue
            sim = result.trajectory(arm.name, metric)
            anchored = metric in theory.ANCHORED_METRICS
            h0 = float(np.nanmean(result.trajectory(arm.name, "heterozygosity")[:, 0])) if anchored else None
            pred = arms.predict(arm.name, metric, exp.generations, h0)
            if pred is None:
                continue
            start = 1 if anchored else 0
            yield arm, metric, theory.compare(sim[:, start:], pred[start:], level, t=np.arange(start, len(pred))), anchored


def check_theory(exp: C.Experiment) -> None:
    """Whether ``exp`` can be compared with theory; ``ConfigError`` with the fix (before a store is opened)."""
    if exp.replicates < 2:
        raise C.ConfigError("replicates: theory compares means over replicates; set replicates >= 2 (e.g. 200)")


def print_theory(console, exp: C.Experiment, *, store, level: float, every: int, executor=None,
                 progress: bool = True, strict: bool = False) -> list[str]:
    """Run ``exp`` (``replicates`` lineages per arm) and print simulation against prediction per arm and metric.

    Each check says how many generations fall inside the simultaneous ``level`` intervals (generation 0
    is left out where the prediction starts from its observed mean) and its power: the relative
    deviation from the theory it would catch with 80% probability, with the replicates a weak one
    (> 10%) would need. With ``strict`` the intervals are Bonferroni-corrected over the checks too, so that
    all of them together hold at ``level`` (a gate whose false alarms stay at 1 - ``level``).

    Returns the checks (``"arm: metric"``) with a generation outside its interval.
    """
    from rich.table import Table

    from redqueen import theory
    from redqueen.runtime.display import safe, support
    from redqueen.runtime.runner import run_experiment

    check_theory(exp)
    arms = _Arms(exp)
    console.print(f"[bold]{safe(exp.name)}[/]: {exp.replicates} replicates x {exp.generations} generations, n = {exp.n}; "
                  f"simultaneous {level:.0%} intervals (Bonferroni over the generations compared)")
    result = _run_with_progress(console, exp, store, executor, progress, run_experiment)
    checks = list(comparisons(exp, result, level, arms))
    if strict and len(checks) > 1:
        level = 1 - (1 - level) / len(checks)
        checks = list(comparisons(exp, result, level, arms))
        console.print(f"--strict: each of the {len(checks)} checks at {level:.4%}, so that all hold together at "
                      f"{1 - (1 - level) * len(checks):.0%}")
    compared: set[str] = set()
    outside: list[str] = []
    for arm, metric, rows, anchored in checks:
        compared.add(arm.name)
        inside = sum(r.inside for r in rows)
        if inside < len(rows):
            outside.append(f"{arm.name}: {metric}")
        median, worst = theory.relative_power(rows)
        span = f"generations {rows[0].t}-{rows[-1].t}" + (" (0 is the observed start)" if anchored else "")
        console.print(f"[bold]{safe(arm.name)}: {metric}[/]  ({inside}/{len(rows)} {span} inside)")
        table = Table()
        for col in ("t", "simulated mean", "interval", "theory", "inside"):
            table.add_column(col, justify="right")
        low, high = support(metric)  # an interval written clipped to what the metric can take (the test is not)
        for r in rows:
            if r.t % every == 0 or r.t == rows[-1].t or not r.inside:
                table.add_row(str(r.t), f"{r.mean:.5g}", f"[{max(r.ci_low, low):.5g}, {min(r.ci_high, high):.5g}]",
                              f"{r.prediction:.5g}",
                              "yes" if r.inside else "[bold red]no[/]")
        console.print(table)
        console.print(f"  power: catches a deviation of {median:.1%} of the theory with 80% probability "
                      f"(median over generations; {worst:.1%} at the weakest)")
        need = theory.replicates_for(rows, WEAK)
        if need is not None:
            console.print(f"  [bold]weak check[/]: a {WEAK:.0%} deviation would likely pass; "
                          f"replicates = {need:,} would catch it")
    if not compared:
        console.print("no arm of this experiment has a closed-form prediction (see `redqueen.theory.predict`)")
    elif len(compared) < len(exp.arms):
        rest = [a for a in exp.arms if a.name not in compared]
        coupled = any(c.kind != "migration" for a in rest for c in a.couplings)
        console.print(f"no closed-form prediction for: {', '.join(safe(a.name) for a in rest)} (see "
                      "`redqueen.theory.predict`" + ("; of a population's couplings, theory covers migration only"
                                                     if coupled else "") + ")")
    if checks:
        console.print(_verdict(outside, len(checks), level, strict))
    console.print(f"run {result.run_id} stored in {store.path}")
    return outside


def _verdict(outside: list[str], total: int, level: float, strict: bool) -> str:
    """One line: how many checks hold, which do not, and how often chance alone fails one (``level`` is each
    check's)."""
    from redqueen.runtime.display import safe

    if not outside:
        return f"[bold]verdict[/]: all {total} checks inside their intervals"
    chance = min(1.0, (1 - level) * total)  # Bonferroni: at most this often some check fails by chance
    line = f"[bold]verdict[/]: {len(outside)} of {total} checks outside: {', '.join(safe(o) for o in outside)}"
    if strict or total == 1:
        return line + f" (chance alone does this with probability at most {chance:.0%})"
    return line + (f" (each check holds at {level:.0%}: by chance alone one of {total} fails with probability up "
                   f"to {chance:.0%}; --strict holds them all together and exits 1)")


def _run_with_progress(console, exp, store, executor, progress: bool, run_experiment):
    """``run_experiment`` with a progress bar over every lineage's generations (none when not ``progress``)."""
    if not progress:
        return run_experiment(exp, store=store, kind="theory", executor=executor)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = exp.replicates * sum(a.members for a in exp.arms) * (exp.generations + 1)  # one record per member
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=total)
        return run_experiment(exp, store=store, kind="theory", executor=executor,
                              on_record=lambda rec: bar.update(task, advance=1))
