"""Model architectures read from Hugging Face `config.json` files.

Only the dimensions the graph needs are kept. Dense Llama, Qwen2 and Qwen3 decoders compile, and so do
the mixture-of-experts families of the catalog: Mixtral (`mixtral`), Qwen3-MoE (`qwen3_moe`) and
DeepSeek-V3 (`deepseek_v3`, with its multi-head latent attention, MLA). Other MoE families are
recognised so that a spec naming one gets a clear "not supported yet" diagnostic rather than a wrong
graph.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msgspec import Struct

from llmsim import inputs

DENSE_ARCHITECTURES = {"llama": "llama", "qwen3": "qwen3", "mistral": "llama", "qwen2": "qwen2"}
# MoE families that compile: model_type -> architecture. A dense type written out with experts
# (`architecture { type = llama  experts = 8 }`) is a Mixtral-style MoE of that type.
MOE_ARCHITECTURES = {"qwen3_moe": "qwen3_moe", "mixtral": "mixtral", "deepseek_v3": "deepseek_v3"}
# Recognised, not compiled yet: each needs operators the graph does not have (gpt-oss: attention
# sinks and sliding windows; MiniMax: lightning attention; PhiMoE: sparsemixer routing).
UNSUPPORTED_MOE = {"phimoe", "gpt_oss", "minimax_m2", "qwen2_moe", "deepseek_v2", "deepseek_v32"}

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1}


class ModelConfigError(ValueError):
    """A config.json the compiler cannot build a graph from; `key` names the offending field."""

    def __init__(self, message: str, key: str = "", unsupported: bool = False):
        self.key = key
        self.unsupported = unsupported
        super().__init__(message)


class ModelConfig(Struct, frozen=True):
    """A decoder-only transformer's shape: dense, mixture-of-experts, and/or with latent attention.

    MoE fields are 0 for a dense model; MLA fields are 0 for a model with ordinary (GQA) attention.
    """

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
    # Mixture of experts (0: dense). `moe_layers` lists the layers whose MLP is routed; the others
    # (DeepSeek-V3's first three, `mlp_only_layers`) keep a dense MLP of `intermediate_size`.
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0  # width of one routed expert
    shared_expert_intermediate_size: int = 0  # total width of the always-active shared experts; 0: none
    moe_layers: tuple[int, ...] = ()
    # Multi-head latent attention (DeepSeek-V2/V3; 0: ordinary attention). The KV cache holds one
    # latent vector of kv_lora_rank + qk_rope_head_dim per token and layer, shared by every head.
    kv_lora_rank: int = 0
    q_lora_rank: int = 0  # 0: q is projected from the hidden state directly
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    fp8_block: bool = False  # the published checkpoint is FP8 with block scales (DeepSeek-V3)
    mtp_layers: int = 0  # multi-token-prediction layers of the checkpoint: not in the serving graph

    @property
    def q_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def has_dense_mlp(self) -> bool:
        """True when some layer keeps a dense MLP (every layer of a dense model)."""
        return len(self.moe_layers) < self.num_layers

    def is_moe_layer(self, layer: int) -> bool:
        return layer in self.moe_layers

    def attention_parameters(self) -> int:
        """One layer's attention weights (projections and their norms, not the layer norms)."""
        h = self.hidden_size
        if self.is_mla:
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            if self.q_lora_rank:
                q = h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * self.num_heads * qk
            else:
                q = h * self.num_heads * qk
            kv = (h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
                  + self.kv_lora_rank * self.num_heads * (self.qk_nope_head_dim + self.v_head_dim))
            return q + kv + self.num_heads * self.v_head_dim * h
        attn = h * (self.q_size + 2 * self.kv_size) + self.q_size * h
        if self.qkv_bias:
            attn += self.q_size + 2 * self.kv_size
        return attn + (2 * self.head_dim if self.qk_norm else 0)

    def mlp_parameters(self, layer: int) -> int:
        """One layer's MLP weights: dense, or router + routed experts + shared experts."""
        h = self.hidden_size
        if not self.is_moe_layer(layer):
            return 3 * h * self.intermediate_size
        routed = self.num_experts * 3 * h * self.moe_intermediate_size
        return h * self.num_experts + routed + 3 * h * self.shared_expert_intermediate_size

    def parameter_count(self) -> int:
        """Parameters from the architecture formula, independent of the graph (used to check it)."""
        h = self.hidden_size
        layers = sum(self.attention_parameters() + self.mlp_parameters(i) + 2 * h for i in range(self.num_layers))
        embed = self.vocab_size * h
        head = 0 if self.tie_word_embeddings else self.vocab_size * h
        return layers + embed + head + h

    def active_parameter_count(self) -> int:
        """Parameters one token multiplies by or reads: routed experts count `experts_per_token`."""
        idle = self.num_experts - self.experts_per_token
        return self.parameter_count() - len(self.moe_layers) * idle * 3 * self.hidden_size * self.moe_intermediate_size


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
    if model_type in UNSUPPORTED_MOE:
        raise ModelConfigError(
            f"`{name}` is a mixture-of-experts model of type `{model_type}`, which is not supported yet; "
            "supported MoE types: " + ", ".join(f"`{t}`" for t in sorted(MOE_ARCHITECTURES)),
            "model_type",
            unsupported=True,
        )
    if model_type not in DENSE_ARCHITECTURES and model_type not in MOE_ARCHITECTURES:
        raise ModelConfigError(
            f"model type `{model_type}` is not supported yet; supported: "
            + ", ".join(f"`{t}`" for t in sorted({*DENSE_ARCHITECTURES, *MOE_ARCHITECTURES})),
            "model_type",
            unsupported=True,
        )
    hidden = _int(cfg, "hidden_size")
    heads = _int(cfg, "num_attention_heads")
    kv_heads = _int(cfg, "num_key_value_heads", heads)
    if model_type == "deepseek_v3":
        kv_heads = heads  # MLA: every head reads the shared latent; the config's value is not a GQA group
    head_dim = cfg.get("head_dim") or hidden // heads
    if not isinstance(head_dim, int) or head_dim <= 0:
        raise ModelConfigError(f"config.json `head_dim` must be a positive integer, not {head_dim!r}", "head_dim")
    if heads % kv_heads:
        raise ModelConfigError(
            f"`num_attention_heads` ({heads}) is not a multiple of `num_key_value_heads` ({kv_heads})",
            "num_key_value_heads",
        )
    layers = _int(cfg, "num_hidden_layers")
    intermediate = _int(cfg, "intermediate_size")
    moe = _moe_fields(cfg, model_type, layers, intermediate)
    if model_type in MOE_ARCHITECTURES:
        arch = MOE_ARCHITECTURES[model_type]
    elif moe:
        arch = "qwen3_moe" if model_type == "qwen3" else "mixtral"  # a dense type written out with experts
    else:
        arch = DENSE_ARCHITECTURES[model_type]
    mla = _mla_fields(cfg) if arch == "deepseek_v3" else {}
    return ModelConfig(
        name=name,
        architecture=arch,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=_int(cfg, "vocab_size"),
        max_position_embeddings=_int(cfg, "max_position_embeddings", 4096),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qk_norm=arch in ("qwen3", "qwen3_moe"),
        qkv_bias=bool(cfg.get("attention_bias", arch == "qwen2")),
        **moe,
        **mla,
    )


def _moe_fields(cfg: dict[str, Any], model_type: str, layers: int, intermediate: int) -> dict[str, Any]:
    """The MoE fields of ModelConfig, {} for a dense model. Names differ by family: Mixtral
    `num_local_experts` (experts as wide as `intermediate_size`), Qwen3-MoE `num_experts` with
    `moe_intermediate_size`, `decoder_sparse_step` and `mlp_only_layers`, DeepSeek `n_routed_experts`,
    `n_shared_experts`, `first_k_dense_replace` and `moe_layer_freq`."""
    key = next((k for k in ("n_routed_experts", "num_experts", "num_local_experts") if cfg.get(k)), None)
    if key is None:
        return {}
    experts = _int(cfg, key)
    topk = _int(cfg, "num_experts_per_tok")
    if topk > experts:
        raise ModelConfigError(f"`num_experts_per_tok` ({topk}) exceeds the {experts} experts", "num_experts_per_tok")
    width = _int(cfg, "moe_intermediate_size", intermediate)
    if model_type == "deepseek_v3":
        first, freq = int(cfg.get("first_k_dense_replace", 0)), int(cfg.get("moe_layer_freq", 1))
        moe_layers = tuple(i for i in range(layers) if i >= first and i % freq == 0)
        shared = int(cfg.get("n_shared_experts") or 0) * width
    else:
        step = int(cfg.get("decoder_sparse_step", 1) or 1)
        dense = set(cfg.get("mlp_only_layers") or ())
        moe_layers = tuple(i for i in range(layers) if i not in dense and (i + 1) % step == 0)
        shared = 0
    return {"num_experts": experts, "experts_per_token": topk, "moe_intermediate_size": width,
            "shared_expert_intermediate_size": shared, "moe_layers": moe_layers}


def _mla_fields(cfg: dict[str, Any]) -> dict[str, Any]:
    """The MLA fields of ModelConfig (DeepSeek-V3)."""
    quant = cfg.get("quantization_config") or {}
    return {
        "kv_lora_rank": _int(cfg, "kv_lora_rank"),
        "q_lora_rank": int(cfg.get("q_lora_rank") or 0),
        "qk_nope_head_dim": _int(cfg, "qk_nope_head_dim"),
        "qk_rope_head_dim": _int(cfg, "qk_rope_head_dim"),
        "v_head_dim": _int(cfg, "v_head_dim"),
        "fp8_block": quant.get("quant_method") == "fp8" and bool(quant.get("weight_block_size")),
        "mtp_layers": int(cfg.get("num_nextn_predict_layers") or 0),
    }


def load_model(path: Path, name: str) -> ModelConfig:
    """Read a config.json; unreadable JSON is a ModelConfigError too."""
    try:
        raw = path.read_bytes()
        inputs.note_read(path, raw)
        cfg = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"cannot read `{path.name}` as JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ModelConfigError(f"`{path.name}` is not a JSON object")
    return model_from_hf_config(cfg, name)
