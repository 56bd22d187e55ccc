"""The arena as a layered network (networkx): real data -> generators -> detector -> web -> trained model.

Layers run left to right and nodes are coloured by role, in the manner of the project's "Red Queen
Hypothesis" diagram. Edges say what flows: real data trains the generators and the detector, the
generators' items meet the detector, what passes enters the web, the web trains the next model, whose
data flows back to the generators.

The layout is fixed by the graph alone: layers in :data:`LAYERS` order left to right, and within a layer the
nodes in the order they were added (generator 0 at the top), so two renders of one run are the same
picture whatever Python's hash seed (``networkx.multipartite_layout`` given only a node attribute groups a
layer's nodes in a set, whose order the hash seed decides).
"""

from __future__ import annotations

ROLES = {"real": "#4c9f70", "generator": "#d1495b", "detector": "#2e86ab", "web": "#edae49", "model": "#6c5b7b"}
LAYERS = ("real", "generator", "detector", "web", "model")


def arena_graph(generators: int, *, heldout: int = 0, regime: str = "adapting", web: bool = True):
    """A ``networkx.DiGraph`` with a ``layer`` (0..4) and ``role`` per node and a ``flow`` label per edge."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_node("real data", layer=0, role="real")
    det = f"detector ({regime})"
    names = [f"generator {i}" + (" (held out)" if i >= generators - heldout else "") for i in range(generators)]
    for name in names:
        g.add_node(name, layer=1, role="generator")
    g.add_node(det, layer=2, role="detector")
    g.add_edge("real data", det, flow="real items")
    for name in names:
        g.add_edge("real data", name, flow="training data")
        g.add_edge(name, det, flow="items")
    if web:
        g.add_node("web", layer=3, role="web")
        g.add_node("trained model", layer=4, role="model")
        g.add_edge(det, "web", flow="what passed")
        g.add_edge("real data", "web", flow="real items")
        g.add_edge("web", "trained model", flow="training data")
    return g


def arena_layout(graph) -> dict:
    """Node -> ``(x, y)``: ``networkx.multipartite_layout`` with the layers given as lists (layer 0 leftmost,
    each layer's nodes top to bottom in the order they were added), not as a node attribute (a set per layer)."""
    import networkx as nx

    layers: dict[int, list] = {}
    for node, layer in graph.nodes(data="layer"):
        layers.setdefault(int(layer), []).append(node)
    # multipartite_layout stacks a layer's nodes bottom to top; reversed, the first added is at the top
    return nx.multipartite_layout(graph, subset_key={k: layers[k][::-1] for k in sorted(layers)})


def draw_arena(graph, path):
    """Draw :func:`arena_graph` at :func:`arena_layout` (layers left to right) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    pos = arena_layout(graph)
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
