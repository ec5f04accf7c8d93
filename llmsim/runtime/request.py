"""A request in flight: the state an instance's scheduler and KV cache act on.

A `Request` lives from its arrival until it completes; its figures are then copied into the metric
columns and the object is dropped, so memory grows with the requests in flight, not with the run.
"""

from __future__ import annotations

import numpy as np


class Request:
    """One generation request. Token counts follow vLLM's `Request`:

    `num_tokens` = prompt tokens + output tokens generated so far; `num_computed` tokens have their KV
    in the cache (or are scheduled in the step running now); a step that brings `num_computed` up to
    `num_tokens` samples the next output token.
    """

    __slots__ = (
        "arrival_ns",
        "blocks",
        "client",
        "drafts",
        "first_scheduled_ns",
        "first_token_ns",
        "g_id",
        "g_key",
        "g_last",
        "g_step",
        "hash_ids",
        "instance",
        "keys",
        "keys_bs",
        "kv_capacity",
        "kv_done_ns",
        "kv_start_ns",
        "last_token_ns",
        "looked_up",
        "n_anon",
        "n_registered",
        "num_computed",
        "num_output",
        "output_len",
        "pending",
        "placeholders",
        "pos",
        "prefill_instance",
        "preemptions",
        "promised",
        "prompt_len",
        "rid",
        "running",
        "stop_len",
        "tier_state",
        "token_ids",
        "workload",
    )

    def __init__(
        self,
        rid: int,
        workload: int,
        arrival_ns: int,
        prompt_len: int,
        output_len: int,
        token_ids: np.ndarray | None = None,
        hash_ids: np.ndarray | None = None,
        client: int = -1,
    ) -> None:
        self.rid = rid  # unique within a simulation, in order of arrival
        self.workload = workload  # index of the workload it came from
        self.client = client  # closed-loop client, -1 for open-loop arrivals
        self.arrival_ns = arrival_ns
        self.prompt_len = prompt_len
        self.output_len = output_len  # tokens to generate; the request finishes after the last one
        # Tokens to generate on the instance it is on: output_len, or 1 on a prefill instance, which
        # hands the request to a decode instance after its first token.
        self.stop_len = output_len
        self.token_ids = token_ids  # prompt token ids, when the source has them
        self.hash_ids = hash_ids  # or block-level content ids (Mooncake: 512 tokens each)
        self.instance = -1
        self.prefill_instance = -1  # where it was prefilled (its instance, unless disaggregated)
        self.kv_start_ns = -1  # disaggregated: its KV started moving to the decode instance
        self.kv_done_ns = -1  # ... and arrived there
        self.num_computed = 0
        self.num_output = 0
        self.placeholders = 0  # tokens scheduled to be sampled by steps not yet finished
        # speculative decoding: draft tokens being verified by steps not yet finished (counted in
        # num_computed until the verification tells how many were accepted)
        self.drafts = 0
        # speculative decoding: tokens its steps in flight will give (their acceptance is drawn
        # when they are planned; only the timeline's token counts read this, never the scheduler)
        self.promised = 0
        self.preemptions = 0
        self.first_scheduled_ns = -1
        self.first_token_ns = -1
        self.last_token_ns = -1
        self.running = False  # in its instance's running list (False once finished or preempted)
        self.pos = 0  # when it was last appended to the running list (running order is pos order)
        # Its instance's decode group (decoders.py): 0, or its id in the group while a member; the
        # plan it joined at, its key (context minus plan index) and the plan that samples its last token.
        self.g_id = 0
        self.g_step = 0
        self.g_key = 0
        self.g_last = 0
        # KV cache state, owned by the instance's KV cache (see kv_cache.py).
        # block ids (prefix caching: the blocks that need an identity, a prefix of its blocks; then
        # `n_anon` anonymous ones, see PrefixCachingKVCache) or a block count (no caching)
        self.blocks: list[int] | int = 0
        self.n_anon = 0
        self.kv_capacity = 0  # tokens the blocks it holds can store (blocks * block_size)
        self.n_registered = 0  # leading blocks entered in the prefix cache
        self.keys: list | None = None  # prefix-cache keys of the request's full blocks, built lazily
        self.keys_bs = 0  # the block size `keys` were built for
        self.looked_up = False  # its prefix-cache hits were counted (once, at its first admission)
        self.tier_state = 0  # 0, or 1 while KV blocks load from a tier, 2 once loaded (until admitted)
        self.pending = 0  # transfers it waits for (tier loads)

    @property
    def num_tokens(self) -> int:
        return self.prompt_len + self.num_output

    def __repr__(self) -> str:
        return (
            f"Request({self.rid}, prompt={self.prompt_len}, output={self.num_output}/{self.output_len}, "
            f"computed={self.num_computed})"
        )
