"""The proof that the profiler path is right: llmsim's prediction against a real forward pass.

A Hugging Face `LlamaForCausalLM` with random weights runs prefill and decode steps on the machine
that was profiled; llmsim predicts the same steps from the profiled entry through the compiler's own
product path (`build_graph` -> `shard_graph` -> `lower`, then the same sum `InstancePlan.step_time_ns`
makes: token curves + sequence curves + attention). Both are printed side by side.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from llmsim.compiler.graph import build_graph
from llmsim.compiler.lower import Lowering, lower
from llmsim.compiler.models import model_from_hf_config
from llmsim.compiler.shard import shard_graph
from llmsim.profile.run import TORCH_DTYPES
from llmsim.profile.timing import Timer
from llmsim.runtime.batch import BatchShape

# A small Llama: big enough that its GEMMs, not Python, dominate a forward pass on a CPU.
CHECK_CONFIG: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "num_hidden_layers": 2,
    "num_attention_heads": 16,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "vocab_size": 32000,
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
# (kind, batch, tokens): prefill of `tokens` per sequence, or decode at a context of `tokens`
CHECK_SHAPES: tuple[tuple[str, int, int], ...] = (
    ("prefill", 1, 128),
    ("prefill", 1, 512),
    ("prefill", 4, 256),
    ("decode", 1, 128),
    ("decode", 8, 512),
    ("decode", 16, 1024),
)


@dataclass(frozen=True)
class CheckRow:
    """One shape: llmsim's prediction, the median of the measured rounds, and the rounds' range (how
    much the machine itself varied while measuring)."""

    kind: str
    batch: int
    tokens: int
    predicted_us: float
    measured_us: float
    low_us: float = 0.0
    high_us: float = 0.0

    @property
    def error(self) -> float:
        return self.predicted_us / self.measured_us - 1


def predict_us(low: Lowering, batch: BatchShape) -> float:
    """One step's latency as the instance plan computes it, without the scheduler's step overhead."""
    total = sum(float(c[batch.num_tokens]) for c in low.token_curves_us.values())
    total += sum(float(c[batch.num_seqs]) for c in low.seq_curves_us.values())
    return total + low.attention(batch)


def batch_shape(kind: str, batch: int, tokens: int) -> BatchShape:
    if kind == "prefill":
        return BatchShape(batch * tokens, batch, 0, 0, 0, ((tokens, 0),) * batch)
    return BatchShape.decode(batch, tokens)


def lowering_for(entry: Any, config: dict[str, Any], dtype: str, shapes: Sequence[tuple[str, int, int]]) -> Lowering:
    model = model_from_hf_config(config, "check-llama")
    graph = shard_graph(build_graph(model, dtype), model, 1)
    max_tokens = max(b * t if k == "prefill" else b for k, b, t in shapes)
    max_seqs = max(b for _, b, _ in shapes)
    return lower(graph, entry, kv_dtype=dtype, max_tokens=max_tokens, max_seqs=max_seqs)


def real_model(torch: Any, transformers: Any, config: dict[str, Any], dtype: str, device: str) -> Any:
    cfg = transformers.LlamaConfig(**{k: v for k, v in config.items() if k != "model_type"})
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).to(device=device, dtype=getattr(torch, TORCH_DTYPES[dtype]))
    return model.eval()


def measure_us(torch: Any, transformers: Any, model: Any, kind: str, batch: int, tokens: int, timer: Timer,
               device: str) -> float:
    """Median latency of one real step: the forward pass (logits of the last position only, as a
    serving engine computes them) and greedy sampling."""
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(batch * 100003 + tokens)
    if kind == "prefill":
        ids = torch.randint(0, vocab, (batch, tokens), generator=gen).to(device)

        def step() -> Any:
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            return torch.argmax(out.logits[:, -1].float(), dim=-1)

        return timer.median_us(step)
    # The KV cache is preallocated and the new token's KV written in place (transformers' StaticCache),
    # as serving engines do and as the profiler times decode attention; the default DynamicCache
    # would concatenate every layer's whole cache on every step, a cost no serving engine pays.
    cache = transformers.StaticCache(config=model.config, max_cache_len=tokens)
    # transformers renamed `past_key_values` to `cache` (5.2x); pass it under the name this one takes
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        ctx = torch.randint(0, vocab, (batch, tokens - 1), generator=gen).to(device)
        model(input_ids=ctx, use_cache=True, logits_to_keep=1, cache_position=torch.arange(tokens - 1, device=device),
              **{name: cache})
    nxt = torch.randint(0, vocab, (batch, 1), generator=gen).to(device)
    position = torch.tensor([tokens - 1], device=device)

    def reset() -> None:  # every timed step appends the last token to the same tokens - 1 entries
        for layer in cache.layers:
            if hasattr(layer, "cumulative_length"):  # (older versions place it by cache_position alone)
                layer.cumulative_length.fill_(tokens - 1)

    def decode() -> Any:
        out = model(input_ids=nxt, use_cache=True, logits_to_keep=1, cache_position=position, **{name: cache})
        return torch.argmax(out.logits[:, -1].float(), dim=-1)

    return timer.median_us(decode, setup=reset)


def run_check(
    torch: Any,
    transformers: Any,
    entry: Any,
    *,
    dtype: str = "fp32",
    device: str = "cpu",
    config: dict[str, Any] | None = None,
    shapes: Sequence[tuple[str, int, int]] = CHECK_SHAPES,
    min_seconds: float = 0.5,
    max_repeats: int = 15,
    rounds: int = 3,
) -> list[CheckRow]:
    """Predict and measure every shape; the shapes are measured round-robin `rounds` times so that a
    burst of other work on the machine lands in one round of a shape, not in all of its samples."""
    config = config or CHECK_CONFIG
    low = lowering_for(entry, config, dtype, shapes)
    model = real_model(torch, transformers, config, dtype, device)
    timer = Timer(torch, device, min_seconds, max_repeats)
    samples: dict[tuple[str, int, int], list[float]] = {s: [] for s in shapes}
    for _ in range(rounds):
        for kind, batch, tokens in shapes:
            samples[(kind, batch, tokens)].append(
                measure_us(torch, transformers, model, kind, batch, tokens, timer, device)
            )
    rows = []
    for (kind, batch, tokens), got in samples.items():
        predicted = predict_us(low, batch_shape(kind, batch, tokens))
        rows.append(CheckRow(kind, batch, tokens, predicted, median(got), min(got), max(got)))
    return rows


def format_rows(rows: Sequence[CheckRow]) -> str:
    lines = [
        "| step | batch | tokens | llmsim (ms) | measured (ms) | rounds (ms) | error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        what = "prompt" if r.kind == "prefill" else "context"
        lines.append(
            f"| {r.kind} | {r.batch} | {r.tokens} ({what}) | {r.predicted_us / 1000:.2f} | "
            f"{r.measured_us / 1000:.2f} | {r.low_us / 1000:.2f} - {r.high_us / 1000:.2f} | {r.error:+.1%} |"
        )
    return "\n".join(lines)
