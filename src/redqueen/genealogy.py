"""The genealogy of one population as a layered graph: members by generation, edges for what the couplings did.

Nodes are ``(layer, member)``: a layer is one generation, or a window of ``w`` consecutive
generations when a run has more than :data:`MAX_LAYERS` (generation 0 alone, then windows of
``w = ceil(generations / (MAX_LAYERS - 1))``: a 100-generation run has 1 + 34 layers). Edges come from the records' ``parents``
(:class:`redqueen.loop.record.Parent`) and run from one layer to the next, at the time they act:

* ``inherit`` -- member ``i`` descends from itself (its own data and model), drawn for every member
  unless a coupling replaced it wholly at the first generation of the layer;
* ``migrant`` -- items member ``j``'s model emitted at generation ``g`` that member ``i`` trains on
  at ``g + 1`` (edge ``(g, j) -> (g + 1, i)``, weight: their share of the training set);
* ``merge`` -- member ``i``'s model at ``g`` is a weight-space child of the models fitted at ``g``
  by ``j`` and another (merge, niches): edge ``(g - 1, j) -> (g, i)``, weight: ``j``'s share;
* ``copy`` -- island reset: member ``i`` re-seeded at ``g`` from member ``j`` (model and data);
* ``archive`` -- quality-diversity: member ``i``'s model bred at ``g`` from two elites of the archive:
  an edge from each elite that is a member's model fitted at ``g`` (``(g - 1, j) -> (g, i)``), and from an
  ``archive`` row below the members for elites of earlier generations (and MAP-Elites' grid).

Aggregation, so that P = 16 members over 100+ generations stay readable: every edge lands in the
layer of the generation it enters and leaves the layer before; edges with the same kind, source,
target and layers are one edge with their weights summed. Migrant edges are by far the most
(all-to-all: ``P (P - 1)`` per generation), so when more than :data:`MAX_MIGRANT_EDGES` remain they
are drawn between every ``s``-th pair of layers only (the others are counted, not drawn), which keeps
the topology visible without favouring any member. A coupling acting at generation 0 (on the models
fitted to real data) has no earlier layer: its events mark the node only. Within a window the
members' own lineages are drawn unless the member was replaced wholly at the window's first generation. Which nodes a coupling
replaced is marked on the node (a red ring).

:func:`genealogy_graph` builds the :class:`networkx.MultiDiGraph`; :func:`draw_genealogy` lays it out with
:func:`networkx.multipartite_layout` (layers left to right) and draws it on a matplotlib axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: at most this many layers (generations are grouped into windows beyond it)
MAX_LAYERS = 40
#: above this many aggregated migrant edges, they are drawn between every s-th pair of layers only
MAX_MIGRANT_EDGES = 2500
#: edge kinds in drawing order (later on top), with their colours
KINDS = {"inherit": "#b0b0b0", "migrant": "#1f77b4", "merge": "#2ca02c", "copy": "#d62728", "archive": "#9467bd"}
#: kinds after which the member is wholly another's (no edge from its own past); merge without itself too
REPLACING = ("copy", "archive")
#: the member metric that colours the nodes, the first a run has
NODE_METRICS = ("tail_mass_kept", "hill1", "heterozygosity")
ARCHIVE = -1
#: bottom to top: the migrant haze under the members' own lineages, coupling events on top
DRAW_ORDER = ("migrant", "inherit", "merge", "copy", "archive")
#: a migrant edge carrying this share of a training set per generation (or more) is drawn opaque
MIGRANT_OPAQUE = 0.25


@dataclass
class Genealogy:
    """A population's layered genealogy: the graph and what was aggregated to draw it."""

    graph: object  # networkx.MultiDiGraph (key: the kind); nodes (layer, member), edges with kind and weight
    layers: list[tuple[int, int]]  # first and last generation of each layer
    members: int
    window: int
    events: dict[str, int] = field(default_factory=dict)  # parent edges by kind, as stored
    drawn: dict[str, int] = field(default_factory=dict)  # aggregated edges by kind, as drawn
    migrant_stride: int = 1
    at_start: int = 0  # coupling events at generation 0 (marked on the node only)
    metric: str | None = None
    after_end: int = 0  # migrant edges of the last generation: they would feed a generation that was not run

    def note(self) -> str:
        """What the figure shows and how it was thinned, in one paragraph."""
        g0, g1 = self.layers[0][0], self.layers[-1][1]
        parts = [f"{self.members} members over generations {g0}-{g1}"]
        parts.append("one layer per generation" if self.window == 1 else
                     f"generation {g0} and then {len(self.layers) - 1} layers of up to {self.window} generations "
                     "(the edges entering a layer summed)")
        kinds = [k for k in KINDS if k != "inherit" and self.events.get(k)]
        if kinds:
            parts.append("; ".join(f"{k}: {self.events[k]:,} edges stored, {self.drawn.get(k, 0):,} drawn" for k in kinds))
        else:
            parts.append("no coupling events (the members never met)")
        if self.migrant_stride > 1:
            parts.append(f"migrant edges drawn in one of every {self.migrant_stride} gaps between layers only")
        if self.at_start:
            parts.append(f"{self.at_start:,} coupling events at generation 0 are marked on the nodes only")
        if self.after_end:
            parts.append(f"the last generation's {self.after_end:,} migrant edges are not drawn (they would train a "
                         "generation that was not run)")
        if self.events.get("migrant"):
            parts.append(f"a migrant edge's opacity is its share of the training set (opaque at {MIGRANT_OPAQUE:.0%})")
        if self.metric:
            parts.append(f"node colour: the member's {self.metric}")
        replaced = any(d["replaced"] for _, d in self.graph.nodes(data=True))
        return "; ".join(parts) + (". A red ring: the member's model was replaced by a coupling in that layer."
                                   if replaced else ".")


def genealogy_graph(records: Sequence, *, max_layers: int = MAX_LAYERS,
                    max_migrant_edges: int = MAX_MIGRANT_EDGES) -> Genealogy:
    """The layered genealogy of one population: ``records`` of one arm and replicate (every member).

    Raises ValueError for records of several arms or replicates, or none.
    """
    import networkx as nx

    if not records:
        raise ValueError("genealogy_graph needs the records of one population; got none")
    if len({(r.arm, r.replicate) for r in records}) > 1:
        raise ValueError("genealogy_graph takes one population (one arm and replicate); filter the records first")
    gens = sorted({r.generation for r in records})
    members = max(r.member for r in records) + 1
    first, last = gens[0], gens[-1]
    # generation 0 (the fits to real data) is a layer of its own; later generations in windows of `window`
    window = max(1, math.ceil((last - first) / max(max_layers - 1, 1)))
    n_layers = 1 + math.ceil((last - first) / window)
    layers = [(first, first)] + [(first + 1 + k * window, min(last, first + (k + 1) * window)) for k in range(n_layers - 1)]

    def layer(g: int) -> int:
        return 0 if g == first else 1 + (g - first - 1) // window

    metric = next((m for m in NODE_METRICS if any(m in r.metrics for r in records)), None)
    value: dict[tuple[int, int], tuple[int, float]] = {}
    replaced: set[tuple[int, int]] = set()
    wholly: set[tuple[int, int]] = set()  # (generation, member) replaced wholly: no edge from its own past
    edges: dict[tuple, float] = {}
    events: dict[str, int] = {}
    at_start = after_end = 0
    uses_archive = False
    for r in records:
        k = layer(r.generation)
        if metric is not None and metric in r.metrics:
            old = value.get((k, r.member))
            if old is None or r.generation >= old[0]:
                value[(k, r.member)] = (r.generation, float(r.metrics[metric]))
        own_merge = any(p.kind == "merge" and p.member == r.member for p in r.parents)
        for p in r.parents:
            events[p.kind] = events.get(p.kind, 0) + 1
            if p.kind == "migrant":
                dst_gen = r.generation + 1
                if dst_gen > last:
                    after_end += 1
                    continue
            else:
                dst_gen = r.generation
                replaced.add((k, r.member))
                if p.kind in REPLACING or (p.kind == "merge" and not own_merge):
                    wholly.add((r.generation, r.member))
            kd = layer(dst_gen)
            if kd == 0:
                at_start += 1
                continue
            src = p.member  # ARCHIVE (-1) for an archive's elite that is no member now
            uses_archive |= src == ARCHIVE
            key = (p.kind, kd - 1, src, kd, r.member)
            edges[key] = edges.get(key, 0.0) + float(p.weight)
    for kd in range(1, n_layers):
        for i in range(members):
            if (layers[kd][0], i) not in wholly:
                edges[("inherit", kd - 1, i, kd, i)] = 1.0

    migrant = sorted(k for k in edges if k[0] == "migrant")
    stride = max(1, math.ceil(len(migrant) / max_migrant_edges)) if migrant else 1
    if stride > 1:
        for key in migrant:
            if key[1] % stride:
                del edges[key]

    g = nx.MultiDiGraph()
    rows = ([ARCHIVE] if uses_archive else []) + list(range(members))
    for k in range(n_layers):
        for i in rows:  # every layer has the same rows, so multipartite_layout spaces them alike
            g.add_node((k, i), layer=k, member=i, replaced=(k, i) in replaced,
                       value=value.get((k, i), (0, math.nan))[1] if i != ARCHIVE else math.nan)
    drawn: dict[str, int] = {}
    for (kind, ks, src, kd, dst), w in sorted(edges.items(), key=lambda e: (list(KINDS).index(e[0][0]), e[0][1:])):
        g.add_edge((ks, src), (kd, dst), key=kind, kind=kind, weight=w)
        drawn[kind] = drawn.get(kind, 0) + 1
    return Genealogy(graph=g, layers=layers, members=members, window=window, events=events, drawn=drawn,
                     migrant_stride=stride, at_start=at_start, metric=metric, after_end=after_end)


def draw_genealogy(gen: Genealogy, ax, *, title: str = "") -> None:
    """Draw ``gen`` on matplotlib axes ``ax``: layers left to right, members bottom to top."""
    import networkx as nx
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    g = gen.graph
    pos = nx.multipartite_layout(g, subset_key="layer", align="vertical")
    xs = {k: pos[(k, 0)][0] for k in range(len(gen.layers))}
    # multipartite_layout lists a layer's nodes top-down in insertion order; put member 0 at the bottom
    ys = sorted({float(p[1]) for p in pos.values()})
    rows = sorted({n[1] for n in g.nodes})
    y_of = {i: ys[j] for j, i in enumerate(rows)}
    xy = {n: (float(xs[n[0]]), y_of[n[1]]) for n in g.nodes}

    by_kind: dict[str, list] = {k: [] for k in KINDS}
    for u, v, d in g.edges(data=True):  # a MultiDiGraph: one edge per kind
        by_kind[d["kind"]].append((xy[u], xy[v], d["weight"]))
    handles = []
    for kind in DRAW_ORDER:
        color, segs = KINDS[kind], by_kind[kind]
        if not segs:
            continue
        share = np.array([s[2] for s in segs]) / gen.window  # per generation of the window
        if kind == "inherit":
            widths, alphas = np.full(len(share), 0.8), np.full(len(share), 0.8)
        elif kind == "migrant":  # opacity: the share of the training set, absolute (1/4 or more: opaque)
            strength = np.clip(share / MIGRANT_OPAQUE, 0, 1)
            widths, alphas = 0.5 + 1.0 * strength, 0.06 + 0.84 * strength
        else:
            widths, alphas = 0.7 + 1.3 * np.clip(share, 0, 1), np.full(len(share), 0.85)
        rgba = np.array([_rgba(color, a) for a in alphas])
        ax.add_collection(LineCollection([(a, b) for a, b, _ in segs], colors=rgba, linewidths=widths,
                                         zorder=DRAW_ORDER.index(kind) + 1))
        label = kind if kind != "inherit" else "own lineage"
        handles.append(Line2D([], [], color=color, lw=1.5, label=label))

    members = [n for n in g.nodes if n[1] != ARCHIVE]
    vals = np.array([g.nodes[n]["value"] for n in members], dtype=float)
    pts = np.array([xy[n] for n in members])
    size = float(np.clip(2400 / max(len(members), 1), 4, 40))
    if gen.metric is not None and np.isfinite(vals).any():
        finite = vals[np.isfinite(vals)]
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=np.where(np.isfinite(vals), vals, np.nan), cmap=colormaps["viridis"],
                        vmin=float(finite.min()), vmax=float(finite.max()), s=size, zorder=10, linewidths=0,
                        plotnonfinite=True)
        ax.figure.colorbar(sc, ax=ax, pad=0.01, fraction=0.03, label=gen.metric)
    else:
        ax.scatter(pts[:, 0], pts[:, 1], color="#444444", s=size, zorder=10, linewidths=0)
    ring = np.array([xy[n] for n in members if g.nodes[n]["replaced"]])
    if len(ring):
        ax.scatter(ring[:, 0], ring[:, 1], facecolors="none", edgecolors="#d62728", s=size * 2.2, linewidths=0.9,
                   zorder=11)
        handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="#d62728", label="replaced"))
    archive = [n for n in g.nodes if n[1] == ARCHIVE and g.out_degree(n)]
    if archive:
        a = np.array([xy[n] for n in archive])
        ax.scatter(a[:, 0], a[:, 1], marker="s", color=KINDS["archive"], s=size, zorder=10)

    ax.set_yticks([y_of[i] for i in rows])
    ax.set_yticklabels(["archive" if i == ARCHIVE else str(i) for i in rows], fontsize=7 if len(rows) > 10 else 8)
    step = max(1, math.ceil(len(gen.layers) / 12))
    ticks = list(range(0, len(gen.layers), step))
    if ticks[-1] != len(gen.layers) - 1:
        ticks.append(len(gen.layers) - 1)
    ax.set_xticks([xs[k] for k in ticks])
    ax.set_xticklabels([_window_label(gen.layers[k]) for k in ticks], fontsize=8)
    ax.set_xlabel("generation")
    ax.set_ylabel("member")
    span_x = max(xs.values()) - min(xs.values()) or 1.0
    span_y = (ys[-1] - ys[0]) or 1.0
    ax.set_xlim(min(xs.values()) - 0.02 * span_x, max(xs.values()) + 0.02 * span_x)
    ax.set_ylim(ys[0] - 0.06 * span_y, ys[-1] + 0.06 * span_y)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    if handles:
        ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0, -0.12),
                  ncol=len(handles))


def _rgba(color: str, alpha: float) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    r, g, b, _ = to_rgba(color)
    return r, g, b, float(alpha)


def _window_label(span: tuple[int, int]) -> str:
    a, b = span
    return str(a) if a == b else f"{a}-{b}"


def figure(records: Sequence, *, title: str = "", width: float = 11.0):
    """A matplotlib Figure (object API) of the genealogy of one population's records, and its :class:`Genealogy`."""
    from matplotlib.figure import Figure

    gen = genealogy_graph(records)
    rows = gen.members + (1 if any(n[1] == ARCHIVE for n in gen.graph.nodes) else 0)
    fig = Figure(figsize=(width, 1.4 + 0.22 * max(rows, 4)), layout="constrained")
    draw_genealogy(gen, fig.add_subplot(), title=title)
    return fig, gen
