"""Pipeline parallelism: the layers of an instance split over `pp` stages of devices.

The split is vLLM's (`get_pp_indices`): every stage gets `layers // pp` layers and the remainder
goes one each to the stages just before the last (the last stage also runs the final norm, the LM
head and the sampler; the first the embedding). Between stages each rank sends the hidden state and
the residual of every token of the step (vLLM's `IntermediateTensors`) to its peer in the next
stage: 2 x hidden x dtype bytes per token, over the link the topology gives for that boundary.
"""

from __future__ import annotations

import networkx as nx

from llmsim.compiler.models import DTYPE_BYTES, ModelConfig
from llmsim.compiler.ops import Transfer

# hidden_states and residual cross every stage boundary
PP_TENSORS_PER_TOKEN = 2


def partition_layers(num_layers: int, pp: int) -> list[tuple[int, int]]:
    """[start, end) of each stage's layers."""
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    out, start = [], 0
    for size in sizes:
        out.append((start, start + size))
        start += size
    return out


def split_stages(g: nx.DiGraph, num_layers: int, pp: int) -> list[nx.DiGraph]:
    """The graph of each stage (pp = 1: the graph itself)."""
    if pp == 1:
        return [g]
    bounds = partition_layers(num_layers, pp)
    nodes: list[list[str]] = [[] for _ in range(pp)]
    seen_layers = False
    for node, data in g.nodes(data=True):
        layer = data["layer"]
        if layer is None:
            nodes[pp - 1 if seen_layers else 0].append(node)
            continue
        seen_layers = True
        stage = next(s for s, (lo, hi) in enumerate(bounds) if lo <= layer < hi)
        nodes[stage].append(node)
    return [_subgraph(g, part, stage=s, layers=bounds[s]) for s, part in enumerate(nodes)]


def _subgraph(g: nx.DiGraph, nodes: list[str], **attrs: object) -> nx.DiGraph:
    """The nodes in `g`'s order (networkx's subgraph views iterate a set: their order is not stable)."""
    keep = set(nodes)
    out = nx.DiGraph(**{**g.graph, **attrs})
    out.add_nodes_from((n, g.nodes[n]) for n in nodes)
    out.add_edges_from((u, v, d) for u, v, d in g.edges(data=True) if u in keep and v in keep)
    return out


def stage_send(model: ModelConfig, dtype: str, link: str) -> Transfer:
    """What one rank sends the next stage per token of a step."""
    return Transfer("pp_send", bytes_per_item=PP_TENSORS_PER_TOKEN * model.hidden_size * DTYPE_BYTES[dtype],
                    link=link)
