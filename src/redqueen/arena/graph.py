"""The arena as a layered network (networkx): real data -> generators -> detector -> web -> trained model.

Layers run left to right and nodes are coloured by role, in the manner of the project's "Red Queen
Hypothesis" diagram. Edges say what flows: real data trains the generators and the detector, the
generators' items meet the detector, what passes enters the web, the web trains the next model, whose
data flows back to the generators.
"""

from __future__ import annotations

ROLES = {"real": "#4c9f70", "generator": "#d1495b", "detector": "#2e86ab", "web": "#edae49", "model": "#6c5b7b"}
LAYERS = ("real", "generator", "detector", "web", "model")


def arena_graph(generators: int, *, heldout: int = 0, regime: str = "adapting", web: bool = True):
    """A ``networkx.DiGraph`` with a ``layer`` (0..4) and ``role`` per node and a ``flow`` label per edge."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_node("real data", layer=0, role="real")
    g.add_node(f"detector ({regime})", layer=2, role="detector")
    det = f"detector ({regime})"
    g.add_edge("real data", det, flow="real items")
    for i in range(generators):
        name = f"generator {i}" + (" (held out)" if i >= generators - heldout else "")
        g.add_node(name, layer=1, role="generator")
        g.add_edge("real data", name, flow="training data")
        g.add_edge(name, det, flow="items")
    if web:
        g.add_node("web", layer=3, role="web")
        g.add_node("trained model", layer=4, role="model")
        g.add_edge(det, "web", flow="what passed")
        g.add_edge("real data", "web", flow="real items")
        g.add_edge("web", "trained model", flow="training data")
    return g


def draw_arena(graph, path):
    """Draw :func:`arena_graph` with ``networkx.multipartite_layout`` (layers left to right) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    pos = nx.multipartite_layout(graph, subset_key="layer")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    colors = [ROLES[graph.nodes[n]["role"]] for n in graph.nodes]
    nx.draw_networkx(graph, pos, ax=ax, node_color=colors, node_size=900, font_size=7, arrows=True,
                     edge_color="#999999")
    nx.draw_networkx_edge_labels(graph, pos, ax=ax, edge_labels=nx.get_edge_attributes(graph, "flow"), font_size=6)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
