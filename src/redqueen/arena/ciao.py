"""The CIAO matrix of a stored arena (Cliff & Miller's "current individual vs ancestral opponents").

Each arena record carries this round's row (its generators against detectors 0..g) and column (its
detector against generators 0..g) as the distributions ``ciao_row`` / ``ciao_col``; :func:`ciao_matrix`
assembles them into the ``(G, G)`` matrix of AUCs, rows generator rounds and columns detector rounds.
The Red Queen signature reads off it: against contemporaries (the sub-diagonal, the detector one round
behind) the AUC stays flat while against ancestors (the lower-left, old detectors) it keeps falling.
"""

from __future__ import annotations

import numpy as np

#: the per-record distributions that carry the CIAO matrix: a row and a column of AUCs over rounds, read as a
#: heat map (:func:`plot_ciao`), not as per-item values -- the report draws no histograms of them
DISTRIBUTIONS = ("ciao_row", "ciao_col")


def ciao_matrix(records, arm: str, replicate: int = 0) -> np.ndarray:
    """``(G, G)`` AUC of detector round ``j`` against generator round ``i`` at ``[i, j]``; KeyError if the arm's
    records have no CIAO distributions (not an arena)."""
    recs = sorted((r for r in records if r.arm == arm and r.replicate == replicate and r.member == 0),
                  key=lambda r: r.generation)
    if not recs:
        raise KeyError(f"no records of arm {arm!r}, replicate {replicate}")
    n = recs[-1].generation + 1
    out = np.full((n, n), np.nan)
    for r in recs:
        g = r.generation
        out[g, :g + 1] = r.distribution("ciao_row")
        out[:g + 1, g] = r.distribution("ciao_col")
    return out


def plot_ciao(matrix: np.ndarray, path, *, title: str = "CIAO: AUC of detector round j against generator round i"):
    """A heat map of :func:`ciao_matrix` saved to ``path`` (matplotlib, Agg); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2))
    im = ax.imshow(matrix, origin="lower", cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xlabel("detector round j")
    ax.set_ylabel("generator round i")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="AUC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def arena_html(records, config: dict) -> str:
    """The report's arena section: per arena arm, the CIAO heat map (replicate 0) and the arena's layered
    graph; '' for a run without an arena. ``records`` are the stored ones, member by member (member 0 carries
    the CIAO row and column; a members' mean has no distributions)."""
    import base64
    import html
    import io

    from redqueen.arena.graph import arena_graph, draw_arena

    def png(draw) -> str:
        buf = io.BytesIO()
        draw(buf)
        return base64.b64encode(buf.getvalue()).decode("ascii")

    parts = []
    arms = config.get("arms") if isinstance(config, dict) else None
    for arm in arms if isinstance(arms, list) else []:
        couplings = arm.get("couplings") if isinstance(arm, dict) else None
        spec = next((c for c in couplings or [] if isinstance(c, dict) and c.get("kind") == "arena"), None)
        if spec is None or not any(r.arm == arm["name"] for r in records):
            continue
        name = html.escape(arm["name"])
        graph = arena_graph(arm["members"], heldout=spec["heldout"], regime=spec["regime"], web=spec["web"] > 0)
        figures = [("arena", png(lambda buf: draw_arena(graph, buf)))]
        try:
            matrix = ciao_matrix(records, arm["name"])
            figures.insert(0, ("CIAO", png(lambda buf: plot_ciao(
                matrix, buf, title=f"CIAO, {arm['name']}: AUC of detector round j against generator round i"))))
        except KeyError:  # no replicate 0 stored, or records without the distributions (a members' mean)
            figures.append(("note", "<p class='note'>No CIAO matrix: the stored records of replicate 0 carry no CIAO "
                                    "rows and columns.</p>"))
        parts.append(f"<h4>{name}</h4><div class='plots'>" + "".join(
            p if kind == "note" else f"<figure><img alt='{kind} {name}' src='data:image/png;base64,{p}'></figure>"
            for kind, p in figures) + "</div>")
    if not parts:
        return ""
    return ("<h3>Arena</h3><p class='note'>CIAO (current individual vs ancestral opponents): the AUC of each "
            "round's detector (columns) against each round's generators (rows), replicate 0. The Red Queen "
            "signature: flat just below the diagonal (the detector one round behind), falling towards the "
            "lower left (old detectors against new generators). Graph: what flows from real data to the "
            "generators, the detector, the web and the model trained on it.</p>" + "".join(parts))
