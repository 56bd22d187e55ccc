"""Terminal tables of a run: generation 0 against the last, per arm, with the effective population
size N_e read off the heterozygosity decay (inf where heterozygosity does not decay)."""

from __future__ import annotations

import numpy as np

from redqueen.metrics.popgen import effective_size

SHOWN = ("heterozygosity", "hill0", "hill1", "hill2", "types_lost", "tail_mass_kept", "kl", "inbreeding",
         "w1", "var_ratio", "fitted_var_ratio", "mean_sq_error", "loglik", "nll_real", "ppl_real")


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    if abs(v) >= 1e4 or v == int(v) and abs(v) >= 10:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _mean_by(records, arm: str, generation: int) -> dict[str, float]:
    rows = [r.metrics for r in records if r.arm == arm and r.generation == generation]
    keys = {k for m in rows for k in m}
    return {k: float(np.nanmean([m.get(k, np.nan) for m in rows])) for k in keys}


def _mean_trajectory(records, metric: str) -> np.ndarray | None:
    """The replicate mean of ``metric`` by generation, or None if it is missing."""
    by_gen: dict[int, list[float]] = {}
    for r in records:
        if metric in r.metrics:
            by_gen.setdefault(r.generation, []).append(r.metrics[metric])
    if not by_gen:
        return None
    return np.array([np.mean(by_gen[g]) for g in sorted(by_gen)])


def print_summary(console, result) -> None:
    """One table per arm (generation 0 vs the last, mean over replicates) and the readable samples."""
    from rich.table import Table

    arms = list(dict.fromkeys(r.arm for r in result.records))
    for arm in arms:
        recs = [r for r in result.records if r.arm == arm]
        last = max(r.generation for r in recs)
        first, final = _mean_by(recs, arm, 0), _mean_by(recs, arm, last)
        status = result.status.get(arm, "ok")
        table = Table(title=f"{arm}" + ("" if status == "ok" else f"  [{status}]"), title_justify="left")
        table.add_column("metric")
        table.add_column("gen 0", justify="right")
        table.add_column(f"gen {last}", justify="right")
        for k in SHOWN:
            if k in first or k in final:
                table.add_row(k, _fmt(first.get(k)), _fmt(final.get(k)))
        h = _mean_trajectory(recs, "heterozygosity")
        if h is not None and len(h) > 2:
            table.add_row("N_e (drift)", "-", _fmt(effective_size(h)))
        console.print(table)
        for g in (0, last):
            texts = [t for r in recs if r.generation == g and r.replicate == 0 for t in r.samples]
            if texts:
                console.print(f"  gen {g:>3}: {texts[0][:160]}")
        diverged = [r for r in recs if r.status != "ok"]
        if diverged:
            console.print(f"  stopped at generation {diverged[0].generation}: {diverged[0].reason}")


def print_run(console, store, info) -> None:
    """Everything `redqueen show` prints: provenance, config, and the per-generation table."""
    import json

    from rich.table import Table

    console.print(f"[bold]{info.name}[/]  id {info.id}  kind {info.kind}  status {info.status}")
    console.print(f"seed {info.seed}  redqueen {info.version}  created {info.created}"
                  + (f"  commit {info.commit}" if getattr(info, "commit", None) else ""))
    console.print("config: " + json.dumps(info.config, sort_keys=True))
    records = store.records(info.id)
    if not records:
        console.print("no records")
        return
    present = {k for r in records for k in r.metrics}
    metric_cols = [k for k in SHOWN if k in present] or sorted(present)
    table = Table("arm", "rep", "gen", *metric_cols, "status")
    for r in records:
        table.add_row(r.arm, str(r.replicate), str(r.generation), *[_fmt(r.metrics.get(k)) for k in metric_cols],
                      r.status if r.status == "ok" else f"{r.status}: {r.reason}")
    console.print(table)


def print_profile(console, title: str, profile) -> None:
    """The collapse-profile card (:func:`redqueen.metrics.profile.collapse_profile`) as a terminal table."""
    from rich.table import Table

    from redqueen.metrics.profile import profile_table

    from rich.markup import escape

    head, rows = profile_table(profile)
    table = Table(*head, title=escape(f"collapse profile: {title}"), title_justify="left")
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)


def print_audit(console, audit) -> None:
    """Everything `redqueen audit` prints: inputs, the metric-by-generation table (fold intervals), N_e, the profile."""
    import math

    from rich.markup import escape
    from rich.table import Table

    for d in audit.inputs:
        console.print(escape(f"gen {d['generation']} ({d['role']}): {d['path']}  {d['kind']}, {d['items']:,} items"
                      f"{', ' + str(d['tokens']) + ' tokens' if 'tokens' in d else ''}, sha256 {d['sha256'][:12]}"))
    table = Table("metric", *["real (baseline)" if g == 0 else f"gen {g}" for g in range(audit.generations + 1)],
                  title=escape(f"audit: the value on all {audit.m:,} items of each generation, then [the 95% interval of the mean "
                        f"over {audit.options['folds']} folds of {audit.m // audit.options['folds']:,}] (size-dependent "
                        "metrics such as types_lost, hill0, kl, recall read lower or higher on the smaller folds)"),
                  title_justify="left")
    for name in audit.names():
        cells = []
        for g, m in enumerate(audit.metrics):
            cell = _fmt(m.get(name, math.nan))
            if name in audit.folds:
                lo, hi = (a[g] for a in audit.interval(name))
                if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
                    cell += f" [{lo:.3g}, {hi:.3g}]"
            cells.append(cell)
        table.add_row(name, *map(escape, cells))
    console.print(table)
    if audit.generations >= 1:
        console.print(f"N_e (drift-equivalent population size) = {_fmt(audit.n_e)}, 95% interval "
                      f"{_fmt(audit.n_e_interval[0])} to {_fmt(audit.n_e_interval[1])}")
    print_profile(console, "audit", audit.profile)
    for note in audit.notes:
        console.print(escape(f"note: {note}"))
