"""The `.llms` spec equivalent to a real run: its hardware entry, model, engine settings and trace.

The simulation of a run goes through the same path as any user's spec (`llmsimc`): this module writes
the spec and a trace of the run's requests (arrivals at the engine's queued timestamps, token counts,
prompt token ids for exact prefix-cache hits), and `validate` compiles and runs that spec.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmsim.compiler import catalog
from llmsim.diagnostics import UserError
from llmsim.hwdb.locate import EntryRef, find_entries
from llmsim.validate.run_dir import RunDir

SPEC_NAME = "run.llms"
TRACE_NAME = "trace.jsonl.gz"
DTYPES = {"bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "half": "fp16", "fp16": "fp16"}


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def resolve_hardware(run: RunDir, hwdb_paths: Sequence[Path] | None) -> EntryRef:
    """The hardware_db entry measured on this run's GPU with this run's engine version."""
    version = run.meta.get("vllm_version")
    if not isinstance(version, str):
        raise UserError(f"{run.path}/vllm/meta.json names no `vllm_version`")
    engine = f"vllm@{version}"
    device_name = ((run.meta.get("hardware") or {}).get("device_name")) or ""
    hint = _norm(run.hardware_hint)
    entries = find_entries(hwdb_paths)

    def same_device(ref: EntryRef) -> bool:
        device = _norm(ref.entry.split("/", 1)[1])
        return device == hint or bool(device_name and device in _norm(device_name))

    for ref in entries:
        if ref.engine == engine and same_device(ref):
            return ref
    same_gpu = sorted({r.spec_name for r in entries if same_device(r)})
    raise UserError(
        f"no hardware data for this run: {device_name or run.hardware_hint} with vLLM {version}",
        help=("entries for this GPU: " + ", ".join(same_gpu)) if same_gpu
        else "import measurements for this GPU and engine version (`llmsim hwdb import`) or profile it",
    )


def resolve_model(run: RunDir) -> str:
    """The catalog name of the run's model."""
    model = run.meta.get("model") or run.engine_kwargs.get("model")
    if not isinstance(model, str):
        raise UserError(f"{run.path}/vllm/meta.json names no `model`")
    want = _norm(model.rsplit("/", 1)[-1]).removeprefix("meta")
    for name in catalog.names():
        if _norm(name).removeprefix("meta") in (want, want.removesuffix("instruct2507"), want.removesuffix("instruct")):
            return name
    raise UserError(f"no model config for `{model}` in the catalog",
                    help="the catalog holds " + ", ".join(catalog.names()))


def engine_settings(run: RunDir) -> dict[str, Any]:
    """The engine settings that shape the run, from meta.json (resolved config first)."""
    kw, res = run.engine_kwargs, run.resolved
    sched = res.get("scheduler_config") or {}
    cache = res.get("cache_config") or {}
    model_cfg = res.get("model_config") or {}
    kv = run.meta.get("kv_cache") or {}

    def pick(*values: Any, default: Any = None) -> Any:
        for v in values:
            if v is not None:
                return v
        return default

    dtype = str(pick(kw.get("dtype"), default="bfloat16"))
    if dtype not in DTYPES:
        raise UserError(f"{run.path}/vllm/meta.json: dtype `{dtype}` is not supported",
                        help="supported: " + ", ".join(sorted(DTYPES)))
    num_blocks = pick(kv.get("num_gpu_blocks"), cache.get("num_gpu_blocks"))
    return {
        "tp": int(pick(kw.get("tensor_parallel_size"), default=1)),
        "dtype": DTYPES[dtype],
        "max_num_seqs": int(pick(kw.get("max_num_seqs"), sched.get("max_num_seqs"), default=256)),
        "max_num_batched_tokens": int(pick(kw.get("max_num_batched_tokens"), sched.get("max_num_batched_tokens"),
                                           default=2048)),
        "max_model_len": pick(kw.get("max_model_len"), model_cfg.get("max_model_len")),
        "chunked_prefill": bool(pick(sched.get("enable_chunked_prefill"), default=True)),
        "long_prefill_token_threshold": int(pick(sched.get("long_prefill_token_threshold"), default=0)),
        # vLLM 0.19 defaults where the run does not record them: both on
        "async_scheduling": bool(pick(sched.get("async_scheduling"), default=True)),
        "reserve_full_isl": bool(pick(sched.get("scheduler_reserve_full_isl"), default=True)),
        "block_size": int(pick(kv.get("block_size"), cache.get("block_size"), default=16)),
        "gpu_memory_utilization": float(pick(kv.get("gpu_memory_utilization"), cache.get("gpu_memory_utilization"),
                                             kw.get("gpu_memory_utilization"), default=0.9)),
        "prefix_caching": bool(pick(kv.get("enable_prefix_caching"), cache.get("enable_prefix_caching"), default=True)),
        # vLLM reserves one of its blocks as the null block
        "num_blocks": int(num_blocks) - 1 if num_blocks is not None else None,
        "num_gpu_blocks": num_blocks,
    }


def _bool(value: bool) -> str:
    return "true" if value else "false"


def spec_text(run: RunDir, entry: EntryRef, model: str, settings: dict[str, Any]) -> str:
    s = settings
    util = round(s["gpu_memory_utilization"] * 100, 4)
    util_text = f"{util:g}%"
    lines = [
        f"# Generated by `llmsim validate` from the real run {run.hardware_hint}/{run.path.name}",
        f"# (vLLM {run.meta.get('vllm_version')}, {len(run.requests)} requests). Arrivals are the engine's",
        "# queued timestamps; engine settings come from vllm/meta.json.",
        f'use hardware "{entry.spec_name}" as gpu',
        "",
        "model llm {",
        f'  catalog = "{model}"',
        f"  dtype   = {s['dtype']}",
    ]
    if s["max_model_len"] is not None:
        lines.append(f"  max_model_len = {int(s['max_model_len'])}")
    lines += [
        "}",
        "",
        "pool engine {",
        "  model    = llm",
        "  hardware = gpu",
        f"  tp       = {s['tp']}",
        "  scheduler {",
        f"    max_num_seqs                 = {s['max_num_seqs']}",
        f"    max_num_batched_tokens       = {s['max_num_batched_tokens']}",
        f"    chunked_prefill              = {_bool(s['chunked_prefill'])}",
        f"    long_prefill_token_threshold = {s['long_prefill_token_threshold']}",
        f"    async_scheduling             = {_bool(s['async_scheduling'])}",
        f"    reserve_full_isl             = {_bool(s['reserve_full_isl'])}",
        "  }",
        "  kv_cache {",
        f"    block_size             = {s['block_size']}",
        f"    gpu_memory_utilization = {util_text}",
        f"    prefix_caching         = {_bool(s['prefix_caching'])}",
    ]
    if s["num_blocks"] is not None:
        note = f"vLLM's {s['num_gpu_blocks']} minus its null block"
        lines.append(f"    num_blocks             = {s['num_blocks']}  # {note}")
    lines += [
        "  }",
        "}",
        "",
        "workload replay {",
        f'  trace = sharegpt("{TRACE_NAME}")',
        "}",
        "",
    ]
    return "\n".join(lines)


def write_trace(run: RunDir, path: Path) -> None:
    """The run's requests as a ShareGPT-format trace (deterministic bytes: gzip without a timestamp)."""
    t0 = run.requests[0]["queued_ts"]
    out = []
    for i, r in enumerate(run.requests):
        row: dict[str, Any] = {
            "input_toks": int(r["input_toks"]),
            "output_toks": int(r["output_toks"]),
            "arrival_time_ns": round((r["queued_ts"] - t0) * 1e9),
        }
        if run.token_ids is not None:
            row["input_tok_ids"] = run.token_ids[i]
        out.append(json.dumps(row, separators=(",", ":")))
    data = ("\n".join(out) + "\n").encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(data)


def write_spec(run: RunDir, out_dir: Path, hwdb_paths: Sequence[Path] | None = None) -> Path:
    """Write `run.llms` and its trace into `out_dir` (created if needed); returns the spec's path."""
    entry = resolve_hardware(run, hwdb_paths)
    model = resolve_model(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = out_dir / SPEC_NAME
    if spec.exists() and not spec.read_text(encoding="utf-8").startswith("# Generated by `llmsim validate`"):
        raise UserError(f"refusing to overwrite `{spec}`: it was not written by `llmsim validate`",
                        help="choose an empty folder for --emit-spec")
    write_trace(run, out_dir / TRACE_NAME)
    spec.write_text(spec_text(run, entry, model, engine_settings(run)), encoding="utf-8")
    return spec
