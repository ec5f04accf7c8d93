"""Speculative decoding, cost side: what one speculative step costs and how many tokens it yields.

Each step, a draft model proposes `k` tokens per decoding sequence (k small decode steps of the
draft), and the target model verifies them in one forward pass in which every decoding sequence
carries k + 1 tokens: the last accepted token and the k proposals. With an acceptance rate `a`
(each proposal accepted independently with probability a, until the first rejection), a step yields
on average (1 - a^(k+1)) / (1 - a) tokens per sequence: the accepted prefix plus the target's own
next token (Leviathan et al., "Fast Inference from Transformers via Speculative Decoding", ICML
2023, eq. 1); k + 1 when a = 1, and 1 when a = 0.

Pricing, from the two compiled plans (same hardware and TP degree):

- verification: the target plan at a batch whose decodes carry k + 1 tokens each: the step's token
  rows grow by k per decode, its logit rows (LM head and sampler) likewise, and attention runs k + 1
  queries per decoding sequence, at contexts c, c + 1, ..., c + k (priced as that many decodes:
  an upper bound on the KV traffic, since a real kernel reads each context once);
- drafting: the draft plan's device time for k decode steps of the same sequences at contexts c ...
  c + k - 1, the first also carrying the step's prefill chunks (the draft prefills every prompt);
- host overheads (the pool's `step_overhead`, the engine's prefill-step overhead) once per step.

Not priced here: the draft's catch-up on the tokens it did not propose itself, and n-gram or MTP
proposers (an n-gram proposer has no device cost: use `draft=None`).

The runtime makes speculative decoding happen: the planner gives a speculating pool's plan its
`SpeculativeCost` (the draft planned on the same devices, `memory_with_draft`), the runtime's
scheduler counts k + 1 tokens and KV slots per decode, the instance prices each step with
`step_time_ns` and draws each sequence's accepted drafts (docs/techniques.md, docs/runtime.md).
"""

from __future__ import annotations

from msgspec.structs import replace

from llmsim.compiler.memory import MemoryPlan
from llmsim.compiler.plan import InstancePlan
from llmsim.runtime.batch import BatchShape


def expected_tokens_per_step(acceptance: float, k: int) -> float:
    """Tokens a decoding sequence gains per speculative step (Leviathan et al. 2023, eq. 1)."""
    if not 0.0 <= acceptance <= 1.0 or k < 1:
        raise ValueError(f"acceptance must be in [0, 1] and k >= 1, got {acceptance} and {k}")
    if acceptance == 1.0:
        return float(k + 1)
    return (1.0 - acceptance ** (k + 1)) / (1.0 - acceptance)


def verification_batch(batch: BatchShape, k: int) -> BatchShape:
    """The target's batch when each decode verifies `k` proposals: k + 1 query tokens per decode."""
    n = batch.n_decode
    return BatchShape(
        num_tokens=batch.num_tokens + n * k,
        num_seqs=batch.num_seqs + n * k,  # logit rows: k + 1 per decoding sequence
        n_decode=n * (k + 1),
        decode_kv_sum=(k + 1) * batch.decode_kv_sum + n * k * (k + 1) // 2,
        decode_kv_max=batch.decode_kv_max + k if n else 0,
        prefills=batch.prefills,
        decode_kv_min=batch.decode_kv_min if n else 0,
    )


def draft_batch(batch: BatchShape, step: int) -> BatchShape:
    """The draft's `step`-th proposal pass (0-based): every decode one token further on; the step's
    prefill chunks ride along in the first pass only."""
    n = batch.n_decode
    decode = BatchShape(n, n, n, batch.decode_kv_sum + n * step, batch.decode_kv_max + step if n else 0, (),
                        batch.decode_kv_min + step if n else 0)
    if step > 0 or not batch.prefills:
        return decode
    chunk_tokens = sum(c for c, _ in batch.prefills)
    return replace_batch(decode, num_tokens=n + chunk_tokens, num_seqs=n + len(batch.prefills),
                         prefills=batch.prefills)


def replace_batch(batch: BatchShape, **changes: object) -> BatchShape:
    fields = {"num_tokens": batch.num_tokens, "num_seqs": batch.num_seqs, "n_decode": batch.n_decode,
              "decode_kv_sum": batch.decode_kv_sum, "decode_kv_max": batch.decode_kv_max,
              "prefills": batch.prefills, "decode_kv_min": batch.decode_kv_min}
    fields.update(changes)
    return BatchShape(**fields)  # type: ignore[arg-type]


class SpeculativeCost:
    """Prices speculative steps of a target plan with a draft plan (None: a proposer without device
    cost, such as n-gram lookup)."""

    def __init__(self, target: InstancePlan, draft: InstancePlan | None, tokens: int, acceptance: float):
        self.target = target
        self.draft = draft
        self.k = tokens
        self.acceptance = acceptance
        self.tokens_per_step = expected_tokens_per_step(acceptance, tokens)

    def verify_ns(self, batch: BatchShape) -> int:
        """The target's forward pass over the proposals (device time only)."""
        return self.target.work_ns(verification_batch(batch, self.k))

    def draft_ns(self, batch: BatchShape) -> int:
        """The draft's k proposal passes (device time only)."""
        if self.draft is None:
            return 0
        return sum(self.draft.work_ns(draft_batch(batch, j)) for j in range(self.k))

    def step_ns(self, batch: BatchShape) -> int:
        """One speculative step: drafting, verification, and the host overheads once."""
        t = self.target
        overhead = t.overhead_ns + (t.prefill_overhead_ns if batch.prefills else 0)
        return self.draft_ns(batch) + self.verify_ns(batch) + overhead

    def step_time_ns(self, batch: BatchShape) -> int:
        """The runtime's `CostModel`: a step from the scheduler's shape (each decode one token)."""
        return self.step_ns(batch)

    def time_per_token_ns(self, batch: BatchShape) -> float:
        """Expected time per output token of a decoding sequence."""
        return self.step_ns(batch) / self.tokens_per_step


def memory_with_draft(target: MemoryPlan, draft: MemoryPlan) -> MemoryPlan:
    """The target's memory plan with the draft beside it on the same devices: the draft's weights and
    activations come out of the KV budget, and every token's KV is the target's plus the draft's."""
    per_token = target.kv_bytes_per_token + draft.kv_bytes_per_token
    free = (target.usable_bytes - target.weight_bytes - draft.weight_bytes
            - max(target.activation_bytes, draft.activation_bytes) - target.reserve_bytes)
    derived = max(0, free // (per_token * target.block_size))
    blocks = target.kv_blocks if target.kv_blocks != target.kv_blocks_derived else derived
    return replace(target, weight_bytes=target.weight_bytes + draft.weight_bytes, kv_bytes_per_token=per_token,
                   kv_blocks=blocks, kv_blocks_derived=derived)
