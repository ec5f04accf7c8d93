"""Model architectures read from Hugging Face `config.json` files.

Only the dimensions the graph needs are kept. Dense Llama and Qwen3 decoders compile today; MoE and
MLA models are recognised so that a spec naming one gets a clear "not supported yet" diagnostic rather
than a wrong graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DENSE_ARCHITECTURES = {"llama": "llama", "qwen3": "qwen3", "mistral": "llama", "qwen2": "qwen2"}
MOE_ARCHITECTURES = {"qwen3_moe", "mixtral", "deepseek_v3", "phimoe", "gpt_oss", "minimax_m2"}

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1}


class ModelConfigError(ValueError):
    """A config.json the compiler cannot build a graph from; `key` names the offending field."""

    def __init__(self, message: str, key: str = "", unsupported: bool = False):
        self.key = key
        self.unsupported = unsupported
        super().__init__(message)


@dataclass(frozen=True)
class ModelConfig:
    """A dense decoder-only transformer's shape."""

    name: str
    architecture: str  # "llama" | "qwen3" | "qwen2"
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    qk_norm: bool  # Qwen3 normalises q and k per head before rotary
    qkv_bias: bool

    @property
    def q_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_kv_heads * self.head_dim

    def parameter_count(self) -> int:
        """Parameters from the architecture formula, independent of the graph (used to check it)."""
        h, i = self.hidden_size, self.intermediate_size
        attn = h * (self.q_size + 2 * self.kv_size) + self.q_size * h
        if self.qkv_bias:
            attn += self.q_size + 2 * self.kv_size
        norms = 2 * h + (2 * self.head_dim if self.qk_norm else 0)
        layer = attn + 3 * h * i + norms
        embed = self.vocab_size * h
        head = 0 if self.tie_word_embeddings else self.vocab_size * h
        return self.num_layers * layer + embed + head + h


def _int(cfg: dict[str, Any], key: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise ModelConfigError(f"config.json has no `{key}`", key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelConfigError(f"config.json `{key}` must be a positive integer, not {value!r}", key)
    return value


def model_from_hf_config(cfg: dict[str, Any], name: str) -> ModelConfig:
    """Build a ModelConfig; raises ModelConfigError naming the field that is missing or unsupported."""
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str):
        raise ModelConfigError("config.json has no `model_type`", "model_type")
    if model_type in MOE_ARCHITECTURES or "num_local_experts" in cfg or "num_experts" in cfg:
        raise ModelConfigError(
            f"`{name}` is a mixture-of-experts model (`{model_type}`); MoE models are not supported yet",
            "model_type",
            unsupported=True,
        )
    if model_type not in DENSE_ARCHITECTURES:
        raise ModelConfigError(
            f"model type `{model_type}` is not supported yet; supported: "
            + ", ".join(f"`{t}`" for t in sorted(DENSE_ARCHITECTURES)),
            "model_type",
            unsupported=True,
        )
    hidden = _int(cfg, "hidden_size")
    heads = _int(cfg, "num_attention_heads")
    kv_heads = _int(cfg, "num_key_value_heads", heads)
    head_dim = cfg.get("head_dim") or hidden // heads
    if not isinstance(head_dim, int) or head_dim <= 0:
        raise ModelConfigError(f"config.json `head_dim` must be a positive integer, not {head_dim!r}", "head_dim")
    if heads % kv_heads:
        raise ModelConfigError(
            f"`num_attention_heads` ({heads}) is not a multiple of `num_key_value_heads` ({kv_heads})",
            "num_key_value_heads",
        )
    arch = DENSE_ARCHITECTURES[model_type]
    return ModelConfig(
        name=name,
        architecture=arch,
        hidden_size=hidden,
        intermediate_size=_int(cfg, "intermediate_size"),
        num_layers=_int(cfg, "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=_int(cfg, "vocab_size"),
        max_position_embeddings=_int(cfg, "max_position_embeddings", 4096),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qk_norm=arch == "qwen3",
        qkv_bias=bool(cfg.get("attention_bias", arch == "qwen2")),
    )


def load_model(path: Path, name: str) -> ModelConfig:
    """Read a config.json; unreadable JSON is a ModelConfigError too."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"cannot read `{path.name}` as JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ModelConfigError(f"`{path.name}` is not a JSON object")
    return model_from_hf_config(cfg, name)
