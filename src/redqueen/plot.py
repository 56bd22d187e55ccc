"""Matplotlib figures of any metric against generation, theory overlaid, for notebooks.

``redqueen.plot.metric(result, "heterozygosity")`` returns a ``matplotlib.figure.Figure`` (object
API, no pyplot state touched): one line per arm (mean over replicates, a +-1 standard-error band
clipped to the metric's support; the report draws the simultaneous 99% interval instead) and, where :mod:`redqueen.theory` has a closed form for the arm and metric, the
prediction dashed in the same colour. The source is a :class:`~redqueen.runtime.runner.RunResult`,
a ``(Store, run id)`` pair, or an :class:`~redqueen.audit.Audit` (its folds are the replicates).
Theory needs the experiment: it is read from the store, or passed as ``experiment``. A population's
members are averaged per replicate first (:func:`redqueen.report.member_means`).
``redqueen.plot.genealogy(result, "islands")`` draws one population's genealogy
(:mod:`redqueen.genealogy`).
"""

from __future__ import annotations

import numpy as np

from redqueen.report import COLORS, _series, band_alpha, legend, member_means, plain_ticks, summarize
from redqueen.runtime.display import support


def _source(source):
    """``(records, theory callable or None)`` of any supported source."""
    from redqueen.runtime.store import Store

    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Store):
        store, run = source
        info = store.run(run)
        return store.records(info.id), (store, info)
    if hasattr(source, "folds") and hasattr(source, "profile"):  # an Audit
        return source.records(), None
    if hasattr(source, "records"):  # a RunResult
        if source.run_id is not None and source.folder is not None:
            store = Store(source.folder, readonly=True)
            return list(source.records), (store, store.run(source.run_id))
        return list(source.records), None
    raise TypeError(f"plot takes a RunResult, a (Store, run id) pair or an Audit, not {type(source).__name__}")


def _theory(stored, experiment):
    if experiment is not None:
        from redqueen.runtime.predictions import _Arms

        arms = _Arms(experiment)
        return lambda arm, metric, gens, h0: arms.predict(arm, metric, gens, h0)
    if stored is not None:
        from redqueen.runtime.predictions import theory_curves

        store, info = stored
        curve = theory_curves(store, [info.id])
        return lambda arm, metric, gens, h0: curve(info, arm, metric, gens)
    return None


def metric(source, name: str, *, arms: list[str] | None = None, theory: bool = True, experiment=None, ax=None):
    """A figure of metric ``name`` against generation (see the module); raises ``KeyError`` for a metric no record has."""
    from matplotlib.figure import Figure

    records, stored = _source(source)
    records = member_means(records)  # a population's members: one mean per replicate
    if not any(name in r.metrics for r in records):
        have = sorted({n for r in records for n in r.metrics})
        raise KeyError(f"no record has metric {name!r}; metrics: {', '.join(have)}")
    arms = arms or list(dict.fromkeys(r.arm for r in records))
    predict = _theory(stored, experiment) if theory else None
    ours = ax is None  # a figure of our own: its legend may go beside the axes
    fig = ax.figure if ax is not None else Figure(figsize=(5.5, 3.5), layout="constrained")
    ax = ax if ax is not None else fig.add_subplot()
    gens = np.unique([r.generation for r in records]).astype(np.int64)
    for i, arm in enumerate(arms):
        color = COLORS[i % len(COLORS)]
        x, mean, se, n = summarize(_series(records, arm, name))
        ax.plot(x, mean, color=color, lw=1.6, label=arm)
        if np.any(n > 1):
            ax.fill_between(x, *np.clip([mean - se, mean + se], *support(name)), color=color,
                            alpha=band_alpha(len(arms)), lw=0)
        if predict is not None:
            h0 = [r.metrics.get("heterozygosity") for r in records if r.arm == arm and r.generation == 0]
            h0 = float(np.nanmean(h0)) if h0 and any(v is not None for v in h0) else None
            y = predict(arm, name, gens, h0)
            if y is not None:
                ax.plot(gens, np.asarray(y, float), color=color, lw=1.2, ls="--", label=f"{arm} (theory)")
    plain_ticks(ax)
    ax.set_xlabel("generation")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
    if ours:
        legend(ax)
    else:
        ax.legend(fontsize=7, frameon=False)
    return fig


def genealogy(source, arm: str, *, replicate: int | None = None):
    """A figure of the genealogy of ``arm``'s population in ``replicate`` (default: the first), as the report
    draws it (:mod:`redqueen.genealogy`); raises ``KeyError`` for an arm without records."""
    from redqueen.genealogy import figure

    records, _ = _source(source)
    mine = [r for r in records if r.arm == arm]
    if not mine:
        raise KeyError(f"no records of arm {arm!r}; arms: {', '.join(dict.fromkeys(r.arm for r in records))}")
    rep = min(r.replicate for r in mine) if replicate is None else replicate
    fig, _ = figure([r for r in mine if r.replicate == rep], title=f"{arm}: replicate {rep}")
    return fig
