"""One self-contained HTML report of runs, read only from the store.

For each run: a header with its provenance and its config (collapsible
JSON), one plot per metric against generation with the arms overlaid (mean
over replicates and, when there are several, the simultaneous 99% band that
``redqueen theory`` tests against: :func:`redqueen.theory.compare`), the
theory curve dashed wherever one is given, a table of the first against the
last generation per arm (mean ± 99% interval), a glossary of the metrics, the
generations that diverged, histograms of the
per-item distributions by generation (text: each sample's perplexity under the
generation-0 model, as in Shumailov et al. 2024, Fig. 1), the collapse profile
per arm (:mod:`redqueen.metrics.profile`), and readable samples of the first
and last generation per arm side by side. :func:`write_audit_report` writes
the same kind of page for a :class:`redqueen.audit.Audit`. For evolution runs
(a run on a task world, or an old store's kind ``evolve``) the x axis is forward passes and test accuracy comes first.

Numbers follow :mod:`redqueen.runtime.display`: an infinite value is
never averaged away or drawn as a huge number; a mean that is infinite is left
out of its plot, which says where. Plots are PNGs embedded as base64 ``data:``
URIs; the file links to nothing and needs nothing at view time. matplotlib is imported only when a report is
written, and only through its object API on the Agg canvas, so the caller's
pyplot backend is left alone.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, Union

import numpy as np

from redqueen.runtime.display import LEVEL, fmt, glossary, replicate_stats, replicates_note, support
from redqueen.runtime.store import RunInfo, Store

if TYPE_CHECKING:
    from redqueen.loop.record import GenerationRecord

# Theory: {(run id, arm or None for every arm, metric): values} where values is an
# array over generations 0, 1, ... or a pair (x, y); or a callable
# (run info, arm, metric, generations) -> such values or None.
TheoryCurve = Union[np.ndarray, Sequence[float], tuple]
Theory = Union[Mapping[tuple, TheoryCurve], Callable[[RunInfo, str, str, np.ndarray], "TheoryCurve | None"]]

METRIC_ORDER = (
    "best_test_acc", "best_train_acc", "test_acc", "train_acc", "types_lost", "hill1", "kl", "hill0", "hill2", "tail_mass_kept", "heterozygosity",
    "inbreeding", "entropy", "tv", "js", "var_ratio", "fitted_var_ratio", "fitted_log_var", "w1", "mean_sq_error",
    "fitted_mean_sq_error", "loglik", "nll_real", "ppl_real",
)
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MAX_SAMPLE_COLUMNS = 6
MAX_SAMPLE_CHARS = 600
MAX_HISTOGRAM_GENERATIONS = 6
HISTOGRAM_BINS = 40
DISTRIBUTION_CAPTIONS = {
    "ppl_gen0": "Each generated sequence's perplexity under the generation-0 model (Shumailov et al. 2024, Fig. 1): "
                "collapse shows as mass moving to low perplexity and a long right tail.",
}


def summarize(series: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard error over replicates of one metric of one arm.

    ``series`` holds one ``(x, y)`` pair of 1-D arrays per replicate.
    NaN values are left out; a point where some replicate is +-inf has that
    infinite mean (and NaN standard error): an infinite value is a result, not
    noise to average away. When every replicate has the same x the values are
    averaged point by point; otherwise (e.g. evolution runs logged at
    different forward-pass counts) each replicate is linearly interpolated onto
    the union of the x values, inside its own range only. Returns
    ``(x, mean, se, n)``, each of shape (points,); ``se`` is NaN where fewer
    than two finite replicates contribute.
    """
    grid, stack = _stack(series)
    if not len(grid):
        empty = np.zeros(0)
        return empty, empty, empty, empty
    n = np.sum(~np.isnan(stack), axis=0).astype(float)
    finite = np.isfinite(stack)
    k = np.sum(finite, axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(finite, stack, 0.0).sum(axis=0)
        mean = np.where(k > 0, total / np.maximum(k, 1), np.nan)
        dev = np.where(finite, stack - mean, 0.0)
        var = np.sum(dev**2, axis=0) / np.maximum(k - 1, 1)
        se = np.where(k > 1, np.sqrt(var / np.maximum(k, 1)), np.nan)
    pos, neg = np.any(stack == np.inf, axis=0), np.any(stack == -np.inf, axis=0)
    mean = np.where(pos & neg, np.nan, np.where(pos, np.inf, np.where(neg, -np.inf, mean)))
    se = np.where(pos | neg, np.nan, se)
    return grid, mean, se, n


def _stack(series: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The x grid (points,) and the values (replicates, points) of :func:`summarize`, NaN where missing."""
    cleaned = []
    for x, y in series:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        order = np.argsort(x, kind="stable")
        cleaned.append((x[order], y[order]))
    if not cleaned:
        return np.zeros(0), np.zeros((0, 0))
    grid = np.unique(np.concatenate([x for x, _ in cleaned]))
    aligned = all(len(x) == len(grid) and np.array_equal(x, grid) for x, _ in cleaned)
    stack = np.full((len(cleaned), len(grid)), np.nan)
    for i, (x, y) in enumerate(cleaned):
        ok = ~np.isnan(y)
        if aligned:
            stack[i, ok] = y[ok]
        elif np.isfinite(y).any():
            ok = np.isfinite(y)
            xs, ys = x[ok], y[ok]
            inside = (grid >= xs[0]) & (grid <= xs[-1])
            stack[i, inside] = np.interp(grid[inside], xs, ys)
    return grid, stack


#: stored with a member's metrics but a label, not a measurement (whether the arena holds the member out of the
#: detector's training): its mean over members is the held-out share, the same every generation, so not drawn
LABELS = frozenset({"arena_heldout"})


def _metric_names(records: list[GenerationRecord]) -> list[str]:
    names = {n for r in records for n in r.metrics} - LABELS
    known = [m for m in METRIC_ORDER if m in names]
    return known + sorted(names - set(known))


def _series(records: list[GenerationRecord], arm: str, metric: str) -> list[tuple[np.ndarray, np.ndarray]]:
    by_rep: dict[int, list[tuple[int, float]]] = {}
    for r in records:
        if r.arm == arm and metric in r.metrics:
            by_rep.setdefault(r.replicate, []).append((r.generation, r.metrics[metric]))
    return [(np.array([g for g, _ in pts]), np.array([v for _, v in pts])) for _, pts in sorted(by_rep.items())]


def _theory_curve(theory: Theory | None, keys: dict, info: RunInfo, arm: str | None, metric: str, gens: np.ndarray):
    if theory is None:
        return None
    if callable(theory):
        if arm is None:
            return None
        value = theory(info, arm, metric, gens)
    else:
        value = keys.get((info.id, arm, metric))
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2:
        x, y = (np.asarray(v, dtype=float) for v in value)
    else:
        y = np.asarray(value, dtype=float).ravel()
        x = np.arange(len(y), dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"theory curve for {info.id}/{arm}/{metric}: x has shape {x.shape} but y has {y.shape}")
    return x, y


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _drawable(text: str) -> str:
    """``text`` with characters matplotlib's default font lacks replaced by '?' (instead of a warning and a box)."""
    chars = _font_chars()
    return "".join(c if ord(c) in chars or c.isspace() else "?" for c in str(text))


@lru_cache(maxsize=1)
def _font_chars() -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())


def _band(x: np.ndarray, stack: np.ndarray, mean: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The simultaneous ``LEVEL`` interval of each point's mean (what ``redqueen theory`` tests against), clipped to
    the metric's support (:func:`~redqueen.runtime.display.support`: few replicates over many generations make
    t-intervals that reach below 0 for a count or above 1 for a share, which the mean cannot)."""
    from redqueen.theory.check import compare

    ok = np.isfinite(mean)
    if not ok.any() or stack.shape[0] < 2:
        return None
    rows = compare(stack[:, ok], mean[ok], LEVEL)
    lo, hi = np.full(len(x), np.nan), np.full(len(x), np.nan)
    lo[ok], hi[ok] = [r.ci_low for r in rows], [r.ci_high for r in rows]
    floor, ceiling = support(metric)
    return np.clip(lo, floor, ceiling), np.clip(hi, floor, ceiling)


#: the y-axis shows the lines (means, theory) padded by this many times their range; a band reaching further is cut
#: at the axes, with a note, so that one wide band does not flatten every line of the plot
BAND_REACH = 1.0


def _limit_axis(ax, lines: list[float], bands: list[np.ndarray]) -> bool:
    """Cut the y-axis at the lines' range padded by :data:`BAND_REACH` when a band reaches beyond it; whether it did."""
    band = np.concatenate([b[np.isfinite(b)] for b in bands]) if bands else np.zeros(0)
    if not lines or not band.size or ax.get_yscale() == "log":
        return False
    lo, hi = min(lines), max(lines)
    pad = BAND_REACH * ((hi - lo) or (abs(hi) * 0.1 or 1.0))
    low, high = max(band.min(), lo - pad), min(band.max(), hi + pad)
    if band.min() >= lo - pad and band.max() <= hi + pad:
        return False
    margin = 0.05 * (high - low)
    ax.set_ylim(low - margin, high + margin)
    return True


#: the largest magnitude a plot draws: matplotlib cannot place ticks on an axis of ~1e308
DRAWABLE = 1e300


def _plot(info: RunInfo, records, arms, metric, theory, keys, xlabel) -> tuple[str, bool, list[str], bool]:
    """One metric's plot: ``(png, theory drawn, notes, bands cut at the axes)``; a note names each arm's points left
    out as infinite."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(5.2, 3.3), layout="constrained")
    ax = fig.add_subplot()
    finite_values, notes, drew_theory, bands = [], [], False, []
    gens_all = np.unique([r.generation for r in records]) if records else np.zeros(0, int)
    for i, arm in enumerate(arms):
        color = COLORS[i % len(COLORS)]
        series = _series(records, arm, metric)
        x, mean, se, n = summarize(series)
        if len(x):
            huge = np.isfinite(mean) & (np.abs(mean) > DRAWABLE)  # finite, but no axis can hold it
            mean = np.where(huge, np.nan, mean)
            shown = np.where(np.isfinite(mean), mean, np.nan)
            ax.plot(x, shown, color=color, lw=1.6, label=_drawable(arm), marker="o" if len(x) < 3 else None, ms=3)
            band = _band(x, _stack(series)[1], mean, metric) if np.any(n > 1) else None
            if band is not None:
                band = tuple(np.where(np.abs(b) > DRAWABLE, np.nan, b) for b in band)
                ax.fill_between(x, *band, color=color, alpha=band_alpha(len(arms)), lw=0)
                bands.extend(band)
            finite_values.extend(mean[np.isfinite(mean)])
            if np.isinf(mean).any():
                where = x[np.isinf(mean)]
                notes.append(f"{arm}: {metric} is infinite at {xlabel} {_ranges(where)} (not drawn)")
            if huge.any():
                notes.append(f"{arm}: {metric} exceeds {DRAWABLE:.0e} in magnitude at {xlabel} {_ranges(x[huge])} "
                             "(not drawn)")
        curve = _theory_curve(theory, keys, info, arm, metric, gens_all)
        if curve is not None:
            ax.plot(*curve, color=color, lw=1.2, ls="--", label=_drawable(f"{arm} (theory)"))
            finite_values.extend(curve[1][np.isfinite(curve[1])])
            drew_theory = True
    shared = _theory_curve(theory, keys, info, None, metric, gens_all)
    if shared is not None:
        ax.plot(*shared, color="black", lw=1.2, ls="--", label="theory")
        finite_values.extend(shared[1][np.isfinite(shared[1])])
        drew_theory = True
    if finite_values:
        lo, hi = min(finite_values), max(finite_values)
        if lo > 0 and hi / lo > 1e3:
            ax.set_yscale("log")
    cut = _limit_axis(ax, finite_values, bands)
    if len(gens_all) and np.all(gens_all == np.round(gens_all)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    plain_ticks(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_drawable(metric))
    ax.set_title(_drawable(metric), fontsize=10)
    ax.grid(alpha=0.3)
    legend(ax)
    return _png(fig), drew_theory, notes, cut


def band_alpha(arms: int) -> float:
    """Opacity of one arm's interval band: five arms' bands at 0.2 stacked into one solid colour."""
    return 0.2 if arms <= 2 else max(0.07, 0.4 / arms)


#: a plot with more legend entries than this puts its legend beside the axes, where no curve or band runs
LEGEND_INSIDE = 4


def legend(ax) -> None:
    """The plot's legend: inside the axes for a few entries, beside them (right) for more, where it covers nothing
    (a population report's five arms and their theory curves covered the inbreeding curves)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if len(handles) <= LEGEND_INSIDE:
        ax.legend(fontsize=7, frameon=False)
    else:
        ax.figure.legend(handles, labels, loc="outside right upper", fontsize=7, frameon=False)


def plain_ticks(ax) -> None:
    """A linear y axis labels its ticks with their values: 0.99978, not an offset ("1e-6+9.9978e-1") over tiny
    ticks that read as another number (a distinct_3 of 0.9999 looked negative)."""
    if ax.get_yscale() == "linear":
        ax.ticklabel_format(axis="y", useOffset=False)


def _ranges(values: np.ndarray) -> str:
    """Sorted integers as runs: ``3, 5-9``."""
    v = sorted(int(round(x)) for x in values)
    runs, start = [], v[0]
    for a, b in zip(v, v[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start:,}" if start == a else f"{start:,}-{a:,}")
            start = b
    return ", ".join(runs)


def _fmt(v: float) -> str:
    return "&ndash;" if v is None or (isinstance(v, float) and math.isnan(v)) else html.escape(fmt(v))


def _ends(records, arm) -> tuple[list[GenerationRecord], list[GenerationRecord]]:
    """Each replicate's first and last record of ``arm``."""
    by_rep: dict[int, list[GenerationRecord]] = {}
    for r in records:
        if r.arm == arm:
            by_rep.setdefault(r.replicate, []).append(r)
    runs = [sorted(rs, key=lambda r: r.generation) for _, rs in sorted(by_rep.items())]
    return [rs[0] for rs in runs], [rs[-1] for rs in runs]


def _span(recs: list[GenerationRecord], gen_word: str) -> str:
    gens = sorted({r.generation for r in recs})
    return f"{gen_word} {gens[0]:,}" if len(gens) == 1 else f"{gen_word} {gens[0]:,}&ndash;{gens[-1]:,}"


def _first_last_table(records, arms, metrics, gen_word, averaged: bool = False) -> str:
    ends = {arm: _ends(records, arm) for arm in arms}
    ends = {arm: e for arm, e in ends.items() if e[0]}
    if not ends:
        return "<p>No records yet.</p>"
    head1 = "".join(f'<th colspan="2">{html.escape(a)}</th>' for a in ends)
    head2 = "".join(
        f"<th>first<div class='gen'>{_span(f, gen_word)}</div></th><th>last<div class='gen'>{_span(l, gen_word)}</div></th>"
        for f, l in ends.values()
    )
    body = []
    for m in metrics:
        cells = "".join(
            f"<td>{html.escape(replicate_stats((r.metrics.get(m) for r in f), metric=m).text())}</td>"
            f"<td>{html.escape(replicate_stats((r.metrics.get(m) for r in l), metric=m).text())}</td>"
            for f, l in ends.values())
        body.append(f"<tr><th class='metric'>{html.escape(m)}</th>{cells}</tr>")
    replicates = max(len(f) for f, _ in ends.values())
    return (
        "<div class='wide'><table class='num'><thead><tr><th rowspan='2'>metric</th>" + head1 + "</tr><tr>" + head2
        + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>"
        f"<p class='note'>Each lineage's first and last record{' (a population: its members averaged)' if averaged else ''}: "
        f"{html.escape(replicates_note(replicates))} "
        "(NaN left out; a value that is infinite in k of the n replicates shows as inf (k of n)).</p>"
    )


def _spread(values: list, k: int) -> list:
    """At most ``k`` of ``values``, evenly spaced, first and last kept."""
    if len(values) <= k:
        return values
    return [values[i] for i in np.unique(np.linspace(0, len(values) - 1, k).round().astype(int))]


#: histogram bins cover the data between these percentiles; the few values outside land in the edge bins
CLIP_PERCENTILES = (0.5, 99.5)


def _histogram_bins(values: np.ndarray) -> tuple[np.ndarray, bool, int]:
    """Bins shared by every arm and generation of one distribution, over the data's range between the
    :data:`CLIP_PERCENTILES` (a handful of extreme values would otherwise stretch the axis by orders of
    magnitude); log-spaced when that range is positive and spans more than a factor of 10. Returns
    ``(bins, log, clipped)``, ``clipped`` the number of values outside, counted in the edge bins."""
    lo, hi = (float(v) for v in np.percentile(values, CLIP_PERCENTILES))
    clipped = int(np.sum((values < lo) | (values > hi)))
    if lo > 0 and hi / lo > 10:
        return np.geomspace(lo, hi, HISTOGRAM_BINS + 1), True, clipped
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, HISTOGRAM_BINS + 1), False, clipped


def _histogram(name: str, arm: str, by_gen: dict[int, np.ndarray], bins: np.ndarray, log: bool, gen_word: str) -> str:
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.3), layout="constrained")
    ax = fig.add_subplot()
    gens = sorted(by_gen)
    cmap = colormaps["viridis"]
    for i, g in enumerate(gens):
        v = by_gen[g]
        frac, _ = np.histogram(np.clip(v, bins[0], bins[-1]), bins=bins)  # the clipped tails in the edge bins
        ax.stairs(frac / max(len(v), 1), bins, color=cmap(i / max(len(gens) - 1, 1)), lw=1.4,
                  label=f"{gen_word} {g} (n={len(v)})")
    if log:
        ax.set_xscale("log")
    ax.set_xlim(bins[0], bins[-1])
    ax.set_xlabel(_drawable(name))
    ax.set_ylabel("fraction of items")
    ax.set_title(_drawable(f"{name}: {arm}"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def _distributions(records, arms, gen_word) -> str:
    """One histogram per (distribution, arm), generations overlaid (pooled over replicates); the arena's CIAO
    row and column are not per-item values and have their heat map instead (:func:`redqueen.arena.ciao.arena_html`)."""
    from redqueen.arena.ciao import DISTRIBUTIONS as CIAO

    names = sorted({name for r in records for name, _ in r.distributions} - set(CIAO))
    parts = []
    for name in names:
        pooled: dict[str, dict[int, list[np.ndarray]]] = {}
        infinite = 0
        for r in records:
            if r.arm in arms and any(k == name for k, _ in r.distributions):
                v = r.distribution(name)
                infinite += int(np.sum(np.isinf(v)))
                pooled.setdefault(r.arm, {}).setdefault(r.generation, []).append(v[np.isfinite(v)])
        values = {arm: {g: np.concatenate(vs) for g, vs in by_gen.items()} for arm, by_gen in pooled.items()}
        everything = np.concatenate([v for by_gen in values.values() for v in by_gen.values()])
        if not everything.size:
            continue
        bins, log, clipped = _histogram_bins(everything)
        figures = []
        for arm in (a for a in arms if a in values):
            shown = {g: values[arm][g] for g in _spread(sorted(values[arm]), MAX_HISTOGRAM_GENERATIONS)}
            png = _histogram(name, arm, shown, bins, log, gen_word)
            figures.append(f"<figure><img alt='histogram of {html.escape(name)} by {gen_word}, {html.escape(arm)}' "
                           f"src='data:image/png;base64,{png}'></figure>")
        caption = DISTRIBUTION_CAPTIONS.get(name, f"Per-item values of {name}.")
        caption += (f" Pooled over replicates; bins shared by every arm, from {fmt(bins[0])} to {fmt(bins[-1])} "
                    f"(the {CLIP_PERCENTILES[0]}th to {CLIP_PERCENTILES[1]}th percentile): {clipped:,} values outside "
                    "are counted in the edge bins.")
        if infinite:
            caption += f" {infinite:,} infinite values (zero probability under the model) are not drawn."
        parts.append(f"<h3>Distribution of {html.escape(name)} by {gen_word}</h3><p class='note'>"
                     f"{html.escape(caption)}</p>"
                     f"<div class='plots'>{''.join(figures)}</div>")
    return "".join(parts)


def _samples_table(records, arms, gen_word) -> str:
    """Readable samples side by side: one row per arm, one column per generation that stored some
    (the first and last always; more with ``texts_every``), at most MAX_SAMPLE_COLUMNS columns."""
    mine_by_arm = {}
    for arm in arms:
        with_text = [r for r in records if r.arm == arm and r.samples]
        if with_text:
            rep = min(r.replicate for r in with_text)
            mine_by_arm[arm] = (rep, {r.generation: r for r in with_text if r.replicate == rep})
    if not mine_by_arm:
        return ""
    gens = _spread(sorted({g for _, by_gen in mine_by_arm.values() for g in by_gen}), MAX_SAMPLE_COLUMNS)

    def cell(r: GenerationRecord | None) -> str:
        if r is None:
            return "<td></td>"
        items = "".join(f"<li>{html.escape(_clip(t))}</li>" for t in r.samples)
        return f"<td><div class='gen'>{gen_word} {r.generation}</div><ul>{items}</ul></td>"

    rows = [f"<tr><th>{html.escape(arm)}<div class='note'>replicate {rep}</div></th>"
            + "".join(cell(by_gen.get(g)) for g in gens) + "</tr>" for arm, (rep, by_gen) in mine_by_arm.items()]
    head = "".join(f"<th>{gen_word} {g}</th>" for g in gens)
    return ("<h3>Samples by generation</h3><table class='samples'><thead><tr><th>arm</th>" + head
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SAMPLE_CHARS else text[: MAX_SAMPLE_CHARS - 1] + "\u2026"


def _diverged(records) -> str:
    bad = [r for r in records if r.status != "ok"]
    if not bad:
        return ""
    items = "".join(
        f"<li>{html.escape(r.arm)} replicate {r.replicate} generation {r.generation}: "
        f"{html.escape(r.status)}{' &mdash; ' + html.escape(r.reason) if r.reason else ''}</li>"
        for r in bad[:50]
    )
    more = f"<li>&hellip; and {len(bad) - 50} more</li>" if len(bad) > 50 else ""
    return f"<h3>Diverged generations ({len(bad)})</h3><ul>{items}{more}</ul>"


def _pairs(d: dict) -> str:
    """``key = value, ...`` of a plain dict, numbers as :func:`~redqueen.runtime.display.fmt` writes them."""
    def one(v):
        if isinstance(v, bool) or v is None:
            return str(v).lower() if v is not None else "none"
        if isinstance(v, (int, float)):
            return fmt(v)
        if isinstance(v, dict):
            return "{" + _pairs(v) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return str(v)

    return ", ".join(f"{k} = {one(v)}" for k, v in sorted(d.items()))


def _arm_text(info: RunInfo, arm: str, description: dict) -> str:
    """An arm in words, from the run's validated config (regime, family overrides, curation), else its description."""
    specs = info.config.get("arms") if isinstance(info.config, dict) else None
    spec = next((a for a in specs or [] if isinstance(a, dict) and a.get("name") == arm), None)
    if spec is None:
        return _pairs(description) if isinstance(description, dict) else str(description)
    regime = spec.get("regime", "replace")
    if regime == "fresh":
        regime = f"fresh: {spec.get('real_fraction', 0.1):.0%} real data each generation, from the " + (
            "gene bank (generation 0's data)" if spec.get("real_source") == "bank" else "world (new draws)")
    elif regime == "subsample":
        regime = f"subsample: budget {fmt(spec.get('budget') or info.config.get('n'))} of the pool"
    parts = [f"regime {regime}"]
    family = dict(info.config.get("family") or {})
    kind = family.pop("kind", None)
    overrides = spec.get("family") or {}
    if kind:
        parts.append(f"family {kind}" + (f" with {_pairs(overrides)}" if overrides else ""))
    for step in spec.get("curation") or []:
        step = dict(step)
        parts.append(f"curation {step.pop('kind', '?')} ({_pairs(step)})")
    if spec.get("members", 1) > 1:
        from redqueen.runtime.summary import coupling_words

        couplings = [coupling_words(c) for c in spec.get("couplings") or []]
        parts.append(f"population of {spec['members']} members" + (": " + ", then ".join(couplings) if couplings
                                                                   else " that never meet"))
    return "; ".join(parts)


def member_means(records: list[GenerationRecord]) -> list[GenerationRecord]:
    """One record per arm, replicate and generation: a population's members averaged
    (:func:`~redqueen.runtime.display.mean_metrics`; member 0's samples, the first non-ok status, no
    parents), the order kept. A record that is the only one of its generation (P = 1) comes back as it is.
    The members of one population are not independent, so their mean, not each member, is a replicate."""
    from dataclasses import replace

    from redqueen.runtime.display import mean_metrics

    groups: dict[tuple, list[GenerationRecord]] = {}
    for r in records:
        groups.setdefault((r.arm, r.replicate, r.generation), []).append(r)
    out = []
    for rs in groups.values():
        if len(rs) == 1:
            out.append(rs[0])
            continue
        rs = sorted(rs, key=lambda r: r.member)
        bad = next((r for r in rs if r.status != "ok"), rs[0])
        out.append(replace(rs[0], metrics=mean_metrics([r.metrics for r in rs]), status=bad.status, reason=bad.reason,
                           seconds=sum(r.seconds for r in rs), distributions=(), parents=()))
    return out


def _run_section(store: Store, info: RunInfo, theory: Theory | None, keys: dict) -> str:
    from redqueen.arena.ciao import arena_html

    raw = store.records(info.id)
    records = member_means(raw)
    declared = [a for a, _ in info.arms]
    arms = declared + sorted({r.arm for r in records} - set(declared))
    populations = [a for a in arms if any(r.member > 0 for r in raw if r.arm == a)]
    metrics = _metric_names(records)
    evolve = info.evolves
    if populations and not evolve:
        metrics = [m for m in metrics if m != POPULATION_METRIC]  # drawn in the population section
    if evolve:  # drawn and tabled against forward passes, the budget evolution spends
        from dataclasses import replace

        records = [replace(r, generation=info.progress(r)) for r in records]
        metrics = [m for m in metrics if m != "forward_passes"]  # the x axis itself: a diagonal line
    xlabel, gen_word = ("forward passes", "passes") if evolve else ("generation", "gen")
    seeds = sorted({r.replicate for r in records}) if evolve else []
    seed_fact = ("seeds", ", ".join(map(str, seeds))) if len(seeds) > 1 else ("seed", seeds[0] if seeds else info.seed)
    facts = [
        ("id", info.id), ("kind", info.kind), ("status", info.status), seed_fact,
        ("created", info.created), ("finished", info.finished or ""), ("records", f"{info.n_records:,}"),
        ("redqueen", info.version), ("git commit", info.commit or "unknown"), ("python", info.python),
        ("platform", info.platform),
    ]
    fact_rows = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    arm_rows = "".join(
        f"<tr><th style='color:{COLORS[i % len(COLORS)]}'>{html.escape(a)}</th>"
        f"<td>{html.escape(_arm_text(info, a, d))}</td></tr>"
        for i, (a, d) in enumerate(info.arms)
    )
    config = html.escape(json.dumps(info.config, indent=2, sort_keys=True, default=str))
    figures, notes, any_theory, cuts = [], [], False, []
    for m in metrics:
        png, drew, why, cut = _plot(info, records, arms, m, theory, keys, xlabel)
        any_theory |= drew
        notes.extend(why)
        cuts += [m] if cut else []
        figures.append(f"<figure><img alt='{html.escape(m)} against {xlabel}' src='data:image/png;base64,{png}'></figure>")
    replicates = max((len({r.replicate for r in records if r.arm == a}) for a in arms), default=0)
    band = ("Lines: mean over replicates" + (f"; band: the simultaneous {LEVEL:.0%} interval of the mean (Bonferroni over "
            "the points of a curve), the one <code>redqueen theory</code> tests against" if replicates > 1 else
            " (one replicate: no band)") + ("; dashed: theory." if any_theory else "."))
    if cuts:
        notes.append(f"Bands reaching far beyond the lines are cut at the axes, in {', '.join(cuts)}: a simultaneous "
                     "interval from few replicates over many points is wide (each band is also clipped to what its "
                     "metric can take, e.g. [0, 1] for a share).")
    if notes:
        band += "<br>" + "<br>".join(html.escape(n) for n in notes)
    terms = glossary(metrics)
    gloss = ("<h3>Glossary</h3><dl class='glossary'>" + "".join(
        f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in terms) + "</dl>") if terms else ""
    return (
        f"<section id='run-{html.escape(info.id)}'><h2>{html.escape(info.name)} "
        f"<span class='id'>{html.escape(info.id)}</span></h2>"
        f"<table class='facts'>{fact_rows}</table>"
        f"<h3>Arms</h3><table class='facts'>{arm_rows}</table>"
        f"<details><summary>config</summary><pre>{config}</pre></details>"
        f"<h3>Metrics against {xlabel}</h3><p class='note'>{band}</p><div class='plots'>{''.join(figures)}</div>"
        f"<h3>First against last</h3>{_first_last_table(records, arms, metrics, gen_word, bool(populations))}{gloss}"
        f"{_population_section(store, info, raw, arms, populations, theory, keys) if populations and not evolve else ''}"
        f"{_diverged(records)}{'' if evolve else profile_section(records)}{arena_html(raw, info.config)}"
        f"{_distributions(raw, arms, gen_word)}{_samples_table(records, arms, gen_word)}</section>"
    )


#: the population-level metric drawn in the population section (with its theory) instead of the metric grid
POPULATION_METRIC = "fst"


def _population_section(store: Store, info: RunInfo, raw, arms, populations, theory, keys) -> str:
    """Populations: what each cure did against the other arms, F_ST against generation (theory dashed where
    :mod:`redqueen.theory.islands` has it), and each population's genealogy (its first replicate)."""
    from redqueen.genealogy import figure
    from redqueen.runtime.summary import cure_table

    title, head, rows, _ = cure_table(store, info)
    cell = "<td class='words'>{}</td>"
    body = "".join("<tr>" + "".join((cell if i < 3 else "<td>{}</td>").format(html.escape(c)) for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    parts = [f"<h3>Populations</h3><p class='note'>{html.escape(title.rstrip('.'))}; "
             f"{html.escape(replicates_note(_replicates(raw)))}."
             "</p><div class='wide'><table class='num'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
             + f"</tr></thead><tbody>{body}</tbody></table></div>"]
    records = member_means(raw)
    if any(POPULATION_METRIC in r.metrics for r in records):
        png, drew, why, _ = _plot(info, records, arms, POPULATION_METRIC, theory, keys, "generation")  # arms' colours
        text = ("F_ST = (H_T - H_S) / H_T across the members of each population: mean over replicates"
                + ("; dashed: Wright's island model, the exact expectation for this migration matrix "
                   "(redqueen.theory.islands; it covers migration-only populations of the categorical family under "
                   "replace)" if drew else "; no closed form covers these couplings (theory exists for "
                   "migration-only populations of the categorical family under replace)") + ".")
        text += "".join(" " + n for n in why)
        parts.append(f"<h4>F_ST against generation</h4><p class='note'>{html.escape(text)}</p><div class='plots'>"
                     f"<figure><img alt='fst against generation' src='data:image/png;base64,{png}'></figure></div>")
    for arm in populations:
        mine = [r for r in raw if r.arm == arm]
        rep = min(r.replicate for r in mine)
        fig, gen = figure([r for r in mine if r.replicate == rep], title=_drawable(f"{arm}: replicate {rep}"))
        parts.append(f"<h4>Genealogy of {html.escape(arm)}</h4><p class='note'>Replicate {rep}: "
                     f"{html.escape(gen.note())}</p><figure><img style='width:100%' alt='genealogy of {html.escape(arm)}' "
                     f"src='data:image/png;base64,{_png(fig)}'></figure>")
    return "".join(parts)


def _replicates(records) -> int:
    return max((len({r.replicate for r in records if r.arm == a}) for a in {r.arm for r in records}), default=0)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.id{font-family:monospace;font-size:.7em;color:#666}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;
vertical-align:top}
table.facts th{background:#f6f6f6;font-weight:600}table.num td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.profile td:nth-child(-n+2){text-align:left;white-space:normal}
table.num td.words{text-align:left;white-space:normal;min-width:10em}.wide{overflow-x:auto;max-width:100%}
.plots{display:flex;flex-wrap:wrap;gap:.5em}figure{margin:0}img{max-width:100%}
.note{color:#666;font-size:.85em}pre{background:#f6f6f6;padding:.8em;overflow:auto;max-height:30em}
table.samples td{max-width:32em;font-family:Georgia,serif}table.samples ul{margin:0;padding-left:1.2em}
.gen{font-size:.8em;color:#666}
dl.glossary dt{font-weight:600;float:left;clear:left;width:11em}dl.glossary dd{margin:0 0 .3em 12em;color:#444}
"""


def write_report(
    store: Store | str | Path, run_ids: Sequence[str] | str, path: str | Path, *, theory: Theory | None = None,
    title: str = "redqueen report",
) -> Path:
    """Write one self-contained HTML report of ``run_ids`` to ``path``; returns the path.

    ``store`` is a :class:`Store` or its folder. ``run_ids`` entries may be
    full ids, unique prefixes or ``latest``.
    ``theory`` is optional: a mapping ``{(run_id, arm, metric): values}``
    (``arm`` None: one curve for every arm), values an array over
    generations 0, 1, ... or a pair ``(x, y)``; or a callable
    ``theory(run_info, arm, metric, generations) -> values or None``. Theory
    curves are drawn dashed. The file is written to a temporary name and
    moved into place. Raises ``UnknownRun`` (a KeyError) for an unknown id,
    ValueError when ``run_ids`` is empty.
    """
    if not isinstance(store, Store):
        store = Store(store, readonly=True)
    if isinstance(run_ids, str):
        run_ids = [run_ids]
    if not run_ids:
        raise ValueError("write_report needs at least one run id; see Store.runs() for what is stored")
    infos = [store.run(r) for r in run_ids]
    keys: dict = {}
    if theory is not None and not callable(theory):
        keys = {(store.resolve(rid), arm, metric): v for (rid, arm, metric), v in theory.items()}
    toc = "".join(
        f"<li><a href='#run-{html.escape(i.id)}'>{html.escape(i.name)}</a> "
        f"<span class='id'>{html.escape(i.id)}</span> ({html.escape(i.kind)}, {html.escape(i.status)})</li>"
        for i in infos
    )
    sections = "".join(_run_section(store, info, theory, keys) for info in infos)
    return _write_page(path, title, f" from {html.escape(str(store.path))}", f"<ul>{toc}</ul>{sections}")


def _write_page(path: str | Path, title: str, where: str, body: str) -> Path:
    """One self-contained page (the CSS inline), written to a temporary name and moved into place."""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='note'>Written {when}{where}.</p>{body}</body></html>\n"
    )
    from redqueen.runtime.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


# --- the collapse profile and audits ----------------------------------------------------------------


def _html_table(head: list[str], rows: list[list[str]], cls: str = "num") -> str:
    return (f"<table class='{cls}'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead>"
            "<tbody>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</tbody></table>")


def profile_html(profiles: Mapping[str, object]) -> str:
    """The collapse-profile card (:mod:`redqueen.metrics.profile`) of each arm (or of an audit), as HTML."""
    from redqueen.metrics.profile import RULE, profile_table

    parts = []
    for name, prof in profiles.items():
        head, rows = profile_table(prof)
        parts.append(f"<h4>{html.escape(name)}</h4>{_html_table(head, rows, cls='num profile')}")
    return ("<h3>Collapse profile</h3><p class='note'>One row per definition of model collapse (Schaeffer et al. "
            f"2025). Rule: {html.escape(RULE)}.</p>" + "".join(parts))


def profile_section(records) -> str:
    """The collapse profile of every arm of a run's records ("" without records)."""
    from redqueen.metrics.profile import run_profiles

    return profile_html(run_profiles(records)) if records else ""


def audit_html(audit) -> str:
    """One section for a :class:`redqueen.audit.Audit`: inputs, the per-generation table with fold
    intervals, plots of every metric against generation (mean over folds, the report's simultaneous band), the profile."""
    inputs = _html_table(["generation", "role", "path", "kind", "items", "sampled", "sha256"],
                         [[str(d["generation"]), d["role"], d["path"], d["kind"], f"{d['items']:,}", f"{d['sampled']:,}",
                           d["sha256"][:16]] for d in audit.inputs], cls="facts")
    head = ["metric"] + ["real (baseline)" if g == 0 else f"gen {g}" for g in range(audit.generations + 1)]
    rows = []
    for name in audit.names():
        rows.append([name] + [audit.cell(name, g) for g in range(audit.generations + 1)])
    records = audit.records()
    drawn = {m: _plot(None, records, ["audit"], m, None, {}, "generation") for m in audit.names() if m in audit.folds}
    plots = "".join(f"<figure><img alt='{html.escape(m)} against generation' src='data:image/png;base64,{p[0]}'></figure>"
                    for m, p in drawn.items())
    cuts = [m for m, p in drawn.items() if p[3]]
    cut_note = (f" Bands reaching far beyond the line are cut at the axes, in {', '.join(cuts)}: with few folds a "
                "simultaneous interval is wide." if cuts else "")
    ne = f"N_e = {audit.n_e:.4g} (95% interval from the folds: {audit.n_e_interval[0]:.4g} to {audit.n_e_interval[1]:.4g})"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in audit.notes)
    options = html.escape(json.dumps(audit.options, indent=2, sort_keys=True, default=str))
    return (f"<section id='audit'><h2>Audit <span class='id'>{audit.kind}, {audit.generations} synthetic "
            f"generation(s), {audit.m:,} items each</span></h2><h3>Inputs</h3>{inputs}<ul class='note'>{notes}</ul>"
            f"<details><summary>options</summary><pre>{options}</pre></details>"
            f"<h3>By generation</h3><p class='note'>Value on all {audit.m:,} items, then [the 95% t-interval of the mean over the "
            f"{audit.options['folds']} folds]; where the value lies outside it, (folds: their mean [interval]): "
            "size-dependent metrics (types_lost, hill0, kl, recall, ...) differ between the two sizes. "
            f"{html.escape(ne)}.</p>{_html_table(head, rows)}"
            f"{profile_html({'audit': audit.profile})}"
            f"<h3>Metrics against generation</h3><p class='note'>Mean over folds; band: the simultaneous {LEVEL:.0%} "
            "interval of the mean (Bonferroni over the points of a curve), clipped to what the metric can take."
            f"{html.escape(cut_note)}</p>"
            f"<div class='plots'>{plots}</div></section>")


def write_audit_report(audit, path: str | Path, *, title: str = "redqueen audit") -> Path:
    """Write a self-contained HTML report of an audit (same style as run reports); returns the path."""
    return _write_page(path, title, "", audit_html(audit))
