"""Small PNG figures for reproduction pages (matplotlib's object API on the Agg canvas; pyplot untouched)."""

from __future__ import annotations

import base64

import numpy as np

from redqueen.report import COLORS
from redqueen.report import _png as _png64


def _png(fig) -> bytes:
    return base64.b64decode(_png64(fig))


def lines(series: dict, *, xlabel: str, ylabel: str, log: bool = False, dashed: dict | None = None,
          size=(6.0, 3.6), styles: dict | None = None, logx: bool = False) -> bytes:
    """One line per ``label: (x, y)`` in ``series`` (solid, or ``styles[label] = (color index, linestyle)``)
    and in ``dashed`` (theory, bounds)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    for i, (label, (x, y)) in enumerate(series.items()):
        color, style = (styles or {}).get(label, (i, "-"))
        ax.plot(x, y, color=COLORS[color % len(COLORS)], linestyle=style, label=label)
    if logx:
        ax.set_xscale("log")
    for i, (label, (x, y)) in enumerate((dashed or {}).items()):
        ax.plot(x, y, color=COLORS[i % len(COLORS)], linestyle="--", label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def qq(panels: list[tuple[str, np.ndarray, np.ndarray]], *, cols: int = 4) -> bytes:
    """QQ plots: per panel ``(title, simulated quantiles, theoretical quantiles)``, with the diagonal."""
    from matplotlib.figure import Figure

    rows = max(1, -(-len(panels) // cols))
    fig = Figure(figsize=(3.0 * cols, 2.8 * rows))
    for k, (title, sim, theo) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot(theo, sim, ".", markersize=2, color=COLORS[0])
        lo, hi = float(min(theo.min(), sim.min())), float(max(theo.max(), sim.max()))
        ax.plot([lo, hi], [lo, hi], "--", color=COLORS[1], linewidth=1)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _png(fig)
