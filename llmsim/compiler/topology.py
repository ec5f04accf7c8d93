"""Where an instance's ranks sit and which link each of its collectives and transfers crosses.

An instance of a pool spans `tp x dp x pp` devices, laid out as vLLM and Megatron do: tensor-parallel
ranks innermost, then the attention data-parallel groups, then the pipeline stages outermost, filling
nodes in order. A group of `g` consecutive ranks stays inside one node when `g` is at most the
devices per node; otherwise it crosses the network between nodes and runs at the speed of that,
slower, link.

Sources of links, in order: the pool's `node` block (`count` devices per node and its `link`) and a
`fabric` that lists that node (the link between nodes); without a node, the hardware entry's own
spec sheet (`gpus_per_node`, its `nvlink` or `pcie` link inside a node and its `network` link between
nodes). The entry's measured collective tables describe its own intra-node link (NVLink on the
aiconfigurator systems): they price a collective only when its group stays inside one node whose
link is that one (no `node`, or a node whose link is of kind `nvlink`); every other collective is
priced by an alpha-beta model of its link and flagged.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct, field

from llmsim.lang import ir


class LinkModel(Struct, frozen=True):
    """A link's bandwidth per direction (bytes/s) and one-way latency; `source` says where from."""

    name: str
    kind: str
    bandwidth: float
    latency_ns: int
    source: str

    def describe(self) -> str:
        gbs = self.bandwidth / 1e9
        return f"`{self.name}` ({gbs:g} GB/s, {self.latency_ns / 1000:g} us)"


def link_from_decl(decl: ir.LinkDecl) -> LinkModel:
    return LinkModel(decl.name, decl.kind, float(decl.bandwidth_bytes_per_s), decl.latency_ns,
                     f"link block `{decl.name}`")


# The links that join the devices of one node, fastest kind first: NVIDIA NVLink, AMD Infinity Fabric
# (XGMI), Google ICI, Intel Gaudi's integrated RoCE ports, and PCIe where nothing faster is known.
SCALE_UP_LINKS = ("nvlink", "xgmi", "ici", "roce", "pcie")


def _entry_link(entry: Any, names: tuple[str, ...]) -> LinkModel | None:
    links = getattr(entry.device, "links", {}) or {}
    for name in names:
        link = links.get(name)
        if link is not None:
            return LinkModel(name, name, float(link.bandwidth), int(link.latency_ns),
                             f"{entry.entry}@{entry.engine} spec sheet")
    return None


class Topology(Struct, frozen=True):
    """The links an instance's ranks use."""

    devices_per_node: int | None  # None: unknown (every group is assumed to fit in one node)
    intra: LinkModel | None  # between the devices of one node
    inter: LinkModel | None  # between nodes
    measured_intra: bool  # the entry's collective tables describe `intra`
    node: str | None = None  # the pool's node block, if any
    attached: dict[str, tuple[LinkModel, float]] = field(default_factory=dict)
    # device name -> (its link to a main device, how many of it each main device gets)

    @classmethod
    def from_entry(cls, entry: Any) -> Topology:
        """The links an entry's spec sheet gives, for a pool without a `node` (the default)."""
        return cls(getattr(entry.device, "gpus_per_node", None), _entry_link(entry, SCALE_UP_LINKS),
                   _entry_link(entry, ("network",)), True)

    def spans_nodes(self, group: int) -> bool:
        return self.devices_per_node is not None and group > self.devices_per_node

    def nodes_spanned(self, group: int) -> int:
        if self.devices_per_node is None:
            return 1
        return -(-group // self.devices_per_node)

    def link(self, group: int) -> LinkModel | None:
        """The slowest link a group of `group` consecutive ranks crosses."""
        return self.inter if self.spans_nodes(group) else self.intra

    def tables_apply(self, group: int) -> bool:
        return self.measured_intra and not self.spans_nodes(group)

    def stage_link(self, ranks_per_stage: int, stage: int) -> LinkModel | None:
        """The link pipeline stage `stage` sends its activations to stage `stage + 1` over: each rank
        sends to the rank `ranks_per_stage` further on, inside a node if both stages' ranks are."""
        c = self.devices_per_node
        if c is None:
            return self.intra
        first, last = stage * ranks_per_stage, (stage + 2) * ranks_per_stage - 1
        return self.intra if first // c == last // c else self.inter

    def links(self) -> dict[str, LinkModel]:
        """Every link by name (for the transfers that name theirs)."""
        out = {link.name: link for link in (self.intra, self.inter) if link is not None}
        for link, _share in self.attached.values():
            out[link.name] = link
        return out


class TopologyError(ValueError):
    """The spec's nodes and links cannot carry the pool; `key` names what to change."""

    def __init__(self, message: str, key: str, help: str = ""):
        self.key = key
        self.help = help
        super().__init__(message)


def pool_topology(pool: ir.PoolDecl, spec: ir.Spec, entry: Any) -> Topology:
    """The pool's topology; raises TopologyError where its node does not fit the pool."""
    if pool.node is None:
        return Topology.from_entry(entry)
    node = spec.nodes[pool.node]
    intra = link_from_decl(spec.links[node.link]) if node.link is not None else _entry_link(entry, SCALE_UP_LINKS)
    fabric = next((f for f in spec.fabrics.values() if node.name in f.nodes), None)
    inter = link_from_decl(spec.links[fabric.link]) if fabric is not None else None
    measured = node.link is None or spec.links[node.link].kind == "nvlink"
    attached: dict[str, tuple[LinkModel, float]] = {}
    for att in node.attach:
        if att.link is None:
            continue
        attached[att.device] = (link_from_decl(spec.links[att.link]), att.count / node.count)
    return Topology(node.count, intra, inter, measured, node.name, attached)
