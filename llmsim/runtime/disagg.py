"""Prefill/decode disaggregation: prefill instances hand requests to decode instances with their KV.

A request routed to a prefill instance is prefilled there as on any instance and samples its first
token (TTFT ends there, as in Splitwise and DistServe, whose prefill instances return the first
token). Then `KVHandoff.send` picks a decode instance with the handoff's decode router and offers it
the request; the request's KV blocks stay held on the prefill instance (`Instance.sending`). The
decode instance takes offered requests in order as soon as it has a sequence slot and KV blocks for
the prompt (`Instance.offer`); then the KV moves over the link from the prefill instance to the
decode instance (`transfer`), and when it has arrived the prefill instance frees its blocks and the
request decodes from its second token on (`Instance.received`).

The transfer model: a request's KV is `tokens x kv_bytes_per_token` per tensor-parallel rank; the
ranks send in parallel, each over its own link of the handoff's kind, so the transfer is priced as
one rank's bytes over one link (with different TP degrees on the two sides, the side with fewer
ranks carries more per link: its per-rank bytes count). Each prefill instance has one sending link
and each decode instance one receiving link (standing for their ranks' links); transfers share the
links they cross (transfer.py). Prompt blocks the decode instance has cached already are not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmsim.runtime.request import Request
from llmsim.runtime.router import Router
from llmsim.runtime.spec import HandoffSpec
from llmsim.runtime.transfer import TransferNetwork

if TYPE_CHECKING:
    from llmsim.runtime.instance import Instance


class Sent:
    """The prefill-side KV of a request on its way to a decode instance: the block fields of a
    `Request`, so the prefill instance's KV cache can free them when the transfer is done."""

    __slots__ = ("blocks", "keys", "keys_bs", "kv_capacity", "n_anon", "n_registered", "num_computed", "preemptions",
                 "rid", "sender")

    def __init__(self, req: Request, sender: Instance) -> None:
        self.rid = req.rid
        self.blocks = req.blocks
        self.n_anon = req.n_anon
        self.kv_capacity = req.kv_capacity
        self.n_registered = req.n_registered
        self.keys = req.keys
        self.keys_bs = req.keys_bs
        self.num_computed = req.num_computed
        self.preemptions = req.preemptions
        self.sender = sender


class KVHandoff:
    """One disaggregated pool: its prefill instances, its decode router and the KV link kind."""

    __slots__ = ("_sent", "bytes", "decode", "name", "network", "router", "spec", "transfers")

    def __init__(self, spec: HandoffSpec, router: Router, prefill: Sequence[Instance], decode: Sequence[Instance],
                 network: TransferNetwork) -> None:
        self.spec = spec
        self.name = spec.name
        self.router = router
        self.decode = list(decode)
        self.network = network
        self.bytes = 0  # KV bytes sent (per link: one rank's share)
        self.transfers = 0
        self._sent: dict[int, Sent] = {}  # rid -> prefill-side KV of a request handed over
        for inst in prefill:
            inst.handoff = self
            inst.kv_link = network.link(f"{inst.name}.kv_out", spec.link, f"{spec.name}.kv_out")
        for inst in self.decode:
            if inst.kv_link is None:
                inst.kv_link = network.link(f"{inst.name}.kv_in", spec.link, f"{spec.name}.kv_in")

    @property
    def in_flight(self) -> int:
        """Requests handed over whose KV has not arrived yet."""
        return len(self._sent)

    def can_decode(self, req: Request) -> bool:
        """Whether every decode instance the router may pick could complete the request."""
        return all(inst.can_ever_run(req) for inst in self.decode)

    def send(self, req: Request, sender: Instance, now: int) -> None:
        """The request's first token is out: its KV stays held on `sender` until transferred."""
        sent = Sent(req, sender)
        sender.sending[req.rid] = sent
        self._sent[req.rid] = sent
        req.blocks = []
        req.n_anon = 0
        req.kv_capacity = 0
        req.n_registered = 0
        req.placeholders = 0
        choice = self.router.choose(req, self.decode)
        if not 0 <= choice < len(self.decode):
            raise RuntimeError(f"router {type(self.router).__name__} chose {choice} of {len(self.decode)} instances")
        self.decode[choice].offer(req, self, now)

    def transfer(self, req: Request, receiver: Instance, tokens: int, now: int) -> None:
        """Move `tokens` tokens of the request's KV to `receiver`, which has blocks for it."""
        sender = self._sent[req.rid].sender
        per_token = max(sender.spec.kv_bytes_per_token, receiver.spec.kv_bytes_per_token)
        nbytes = tokens * per_token
        self.bytes += nbytes
        self.transfers += 1
        req.kv_start_ns = now
        links = (sender.kv_link, receiver.kv_link)
        self.network.start(now, links, nbytes, self._arrived, (req, receiver))  # type: ignore[arg-type]

    def _arrived(self, now: int, arg: tuple[Request, Instance]) -> None:
        req, receiver = arg
        sent = self._sent.pop(req.rid)
        sender = sent.sender
        del sender.sending[req.rid]
        sender.kv.free(sent)  # type: ignore[arg-type]
        sender._version += 1
        req.kv_done_ns = now
        receiver.received(req, now)
        sender.wake(now)
