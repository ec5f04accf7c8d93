"""Lowering onto layer-wise tables: operators measured one decoder layer at a time inside the engine.

Where a hardware entry holds layer-wise tables for the exact model, dtype and TP degree (LLMServingSim's
vLLM profiles), they price the graph's operators directly: each per-token operator by its row in the
dense table, the LM head and sampler by the per-sequence table, and attention by the mixed-batch
attention table, which measures one prefill chunk and a set of decodes in the same kernel call.

Decode contexts of unequal length cost more than a uniform batch at their mean (tile padding and load
imbalance in the attention kernel). Where the profile measured this (`skew_fit` enabled in its
metadata), the correction it fitted is applied: t = t_mean + alpha x (t_max - t_mean), with alpha
looked up by the batch's bucket; where it did not, no correction is invented.
"""

from __future__ import annotations

import bisect
from typing import Any

from llmsim.compiler.models import ModelConfig
from llmsim.runtime.batch import BatchShape

# Graph operator -> layer-wise table operator. The two norms of a layer share one row (`layernorm`).
DENSE_OPS = {
    "embed": "embedding",
    "input_norm": "layernorm",
    "post_attn_norm": "layernorm",
    "qkv_proj": "qkv_proj",
    "qk_norm": "qk_norm",
    "rotary": "rotary_emb",
    "o_proj": "o_proj",
    "gate_up_proj": "gate_up_proj",
    "act": "act_fn",
    "down_proj": "down_proj",
    "final_norm": "final_layernorm",
}
SEQUENCE_OPS = {"lm_head": "lm_head", "sampler": "sampler"}

# Bucket edges of the skew fit when a profile's metadata does not list them (LLMServingSim's defaults).
DEFAULT_SKEW_AXES: dict[str, list[Any]] = {
    "n_bins": [0, 2, 4, 8, 16, 32, 64, 128, 256, 1_000_000],
    "n_labels": ["n<=2", "n<=4", "n<=8", "n<=16", "n<=32", "n<=64", "n<=128", "n<=256", "n>256"],
    "skew_rate_bins": [-0.01, 0.05, 0.15, 0.4, 0.7, 1.01],
    "skew_rate_labels": ["sr<=5%", "sr<=15%", "sr<=40%", "sr<=70%", "sr>70%"],
    "kv_big_bins": [0, 1024, 4096, 16384, 1_000_000_000],
    "kv_big_labels": ["kvB<=1k", "kvB<=4k", "kvB<=16k", "kvB>16k"],
    "kp_bins": [-1, 0, 512, 1024, 2048, 4096, 8192, 1_000_000_000],
    "kp_labels": ["kp=0", "kp<=512", "kp<=1k", "kp<=2k", "kp<=4k", "kp<=8k", "kp>8k"],
}


def _normalise(name: str) -> str:
    short = name.rsplit("/", 1)[-1].lower()
    short = short.removeprefix("meta-")
    for suffix in ("-instruct-2507", "-instruct"):
        short = short.removesuffix(suffix)
    return short


def find_tables(entry: Any, model: ModelConfig, dtype: str, tp: int) -> Any | None:
    """The entry's layer-wise tables for this model, dtype and TP degree, if it has them."""
    finder = getattr(entry, "layerwise_models", None)
    if finder is None:
        return None
    want = _normalise(model.name)
    for model_id, table_dtype, table_tp in finder():
        if table_dtype == dtype and table_tp == tp and _normalise(model_id) == want:
            return entry.layerwise(model_id, dtype, tp)
    return None


def _label(bins: list[float], labels: list[str], value: float) -> str:
    for i, label in enumerate(labels):
        if value <= bins[i + 1]:
            return label
    return labels[-1]


class SkewFit:
    """The profile's fitted skew factors by bucket (pc, n, skew rate, longest context, cached prefix)."""

    def __init__(self, rows: list[tuple], axes: dict[str, Any], default: float):
        self.axes = {**DEFAULT_SKEW_AXES, **{k: v for k, v in axes.items() if k in DEFAULT_SKEW_AXES}}
        self.default = default
        self.alpha: dict[tuple, float] = {}
        for pc, n_label, sr_label, kvb_label, kp_label, alpha, *_ in rows:
            self.alpha[(int(pc), n_label, sr_label, kvb_label, kp_label)] = float(alpha)
        self.pcs = sorted({key[0] for key in self.alpha})

    @classmethod
    def from_tables(cls, tables: Any) -> SkewFit | None:
        """The fit, only where the profile says it fitted one (never an invented correction)."""
        fit = (tables.meta or {}).get("skew_fit") or {}
        rows = tables.skew_fit() if "skew_fit" in tables.tables() else None
        if not fit.get("enabled") or not rows:
            return None
        per_tp = fit.get("per_tp") or {}
        entry = per_tp.get(tables.tp) or per_tp.get(str(tables.tp)) or {}
        return cls(rows, fit.get("bucket_axes") or {}, float(entry.get("alpha_default", 0.0)))

    def __call__(self, pc: int, n: int, skew_rate: float, kv_big: int, kp: int) -> float:
        a = self.axes
        i = bisect.bisect_right(self.pcs, pc) - 1
        key = (
            self.pcs[max(i, 0)],
            _label(a["n_bins"], a["n_labels"], n),
            _label(a["skew_rate_bins"], a["skew_rate_labels"], skew_rate),
            _label(a["kv_big_bins"], a["kv_big_labels"], kv_big),
            _label(a["kp_bins"], a["kp_labels"], kp),
        )
        return self.alpha.get(key, self.default)


class LayerwiseAttention:
    """Attention of all layers per step from the mixed-batch attention table.

    The first prefill chunk shares the measured call with the decodes; further chunks of the same step
    (the kernel takes every sequence in one varlen call) add their own prefill-only cost.
    """

    def __init__(self, tables: Any, layers: int):
        self.lookup = tables.attention_us
        self.layers = layers
        self.skew = SkewFit.from_tables(tables)

    def __call__(self, batch: BatchShape) -> float:
        n = batch.n_decode
        kv_mean = batch.decode_kv_sum / n if n else 0.0
        chunk, past = batch.prefills[0] if batch.prefills else (0, 0)
        t = self.lookup(chunk, past, n, kv_mean)
        if self.skew is not None and n > 1 and batch.decode_kv_max > kv_mean:
            gap = batch.decode_kv_max - batch.decode_kv_min
            rate = (kv_mean - batch.decode_kv_min) / gap if gap > 0 else 0.5
            alpha = self.skew(chunk, n, rate, batch.decode_kv_max, past)
            if alpha:
                t_max = self.lookup(chunk, past, n, batch.decode_kv_max)
                if t_max > t:
                    t += alpha * (t_max - t)
        for chunk, past in batch.prefills[1:]:
            t += self.lookup(chunk, past, 0, 0)
        return t * self.layers
