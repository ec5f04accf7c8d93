"""The operators as a PyTorch eager decoder runs them: what `llmsim profile` times.

These follow the reference implementation of a Llama-style decoder in PyTorch eager mode (the way
Hugging Face transformers runs one): `F.linear` GEMMs, `scaled_dot_product_attention` over a KV cache
that grows by concatenation, RMSNorm computed in fp32, rotary embedding by rotate-half, SiLU-and-mul.
Each builder returns a zero-argument callable over tensors it allocated, so only the kernel is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

EPS = 1e-6


def rms_norm(torch: Any, x: Any, weight: Any) -> Any:
    """RMSNorm in fp32, cast back: the numerically safe form eager decoders use."""
    xf = x.to(torch.float32)
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)
    return weight * xf.to(x.dtype)


def rotate_half(torch: Any, x: Any) -> Any:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary(torch: Any, q: Any, k: Any, cos: Any, sin: Any) -> tuple[Any, Any]:
    return q * cos + rotate_half(torch, q) * sin, k * cos + rotate_half(torch, k) * sin


def cache_bytes(torch: Any, device: str) -> int:
    """The last-level cache a kernel's operands could stay in between timed runs: the CPU's L3 (or
    largest) cache from sysfs, the GPU's L2; 64 MiB when neither can be read."""
    if device.startswith("cuda"):
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        return int(getattr(torch.cuda.get_device_properties(idx), "L2_cache_size", 0) or 64 * 2**20)
    best = 0
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = f.read_text().strip()
        except OSError:
            continue
        mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text[:-1] if text[-1:] in "KMG" else text
        if digits.isdigit():
            best = max(best, int(digits) * mult)
    return best or 64 * 2**20


def gemm(torch: Any, dev: str, dt: Any, m: int, parts: tuple[int, ...], k: int, cache: int) -> Callable[[], Any]:
    """One GEMM operator of output width sum(parts) on x [m, k], as `nn.Linear` layers compute it:
    one `F.linear` per part (a fused operator the engine runs as several projections is several calls).

    The weights come from memory, not from cache, as in a forward pass where every layer's weights
    pass through once: the call cycles through enough copies of them to exceed twice the last-level
    cache (`cache`). The activation x stays the same (a real layer reads it hot)."""
    x = torch.randn(m, k, device=dev, dtype=dt)
    size = sum(parts) * k * torch.finfo(dt).bits // 8
    copies = max(1, min(64, -(-2 * cache // size)))
    sets = [[torch.randn(n, k, device=dev, dtype=dt) * 0.02 for n in parts] for _ in range(copies)]
    linear = torch.nn.functional.linear
    state = {"i": 0}

    def run() -> Any:
        ws = sets[state["i"]]
        state["i"] = (state["i"] + 1) % copies
        return [linear(x, w) for w in ws]

    return run


def attention_prefill(torch: Any, dev: str, dt: Any, b: int, s: int, h: int, kv: int, d: int) -> Callable[[], Any]:
    """One prefill: the new K/V appended to an empty cache, then causal SDPA over the prompt."""
    q = torch.randn(b, h, s, d, device=dev, dtype=dt)
    k = torch.randn(b, kv, s, d, device=dev, dtype=dt)
    v = torch.randn(b, kv, s, d, device=dev, dtype=dt)
    empty = torch.empty(b, kv, 0, d, device=dev, dtype=dt)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    gqa = kv != h

    def run() -> Any:
        kk = torch.cat([empty, k], dim=-2)
        vv = torch.cat([empty, v], dim=-2)
        return sdpa(q, kk, vv, is_causal=True, enable_gqa=gqa)

    return run


def attention_decode(torch: Any, dev: str, dt: Any, b: int, kv_len: int, h: int, kv: int, d: int) -> Callable[[], Any]:
    """One decode step: the new token's K/V written into its slot of a preallocated cache of kv_len
    tokens, then SDPA of one query over all kv_len keys. Serving engines write KV in place (vLLM's
    paged cache); concatenating the whole cache every step, as a naive decoder does, would time an
    allocation and copy of the full cache that no serving engine pays."""
    q = torch.randn(b, h, 1, d, device=dev, dtype=dt)
    ck = torch.randn(b, kv, kv_len, d, device=dev, dtype=dt)
    cv = torch.randn(b, kv, kv_len, d, device=dev, dtype=dt)
    nk = torch.randn(b, kv, 1, d, device=dev, dtype=dt)
    nv = torch.randn(b, kv, 1, d, device=dev, dtype=dt)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    gqa = kv != h

    def run() -> Any:
        ck[:, :, kv_len - 1 :].copy_(nk)
        cv[:, :, kv_len - 1 :].copy_(nv)
        return sdpa(q, ck, cv, enable_gqa=gqa)

    return run


def elementwise(
    torch: Any, dev: str, dt: Any, name: str, m: int, *, hidden: int, inter: int, heads: int, kv: int, d: int,
    vocab: int,
) -> Callable[[], Any] | None:
    """The kernel behind one of the compiler's elementwise (or embedding) operators, for m tokens
    (sequences for the sampler); None for an operator this profiler does not know."""
    F = torch.nn.functional
    if name in ("input_norm", "post_attn_norm"):
        x = torch.randn(m, hidden, device=dev, dtype=dt)
        r = torch.randn(m, hidden, device=dev, dtype=dt)
        w = torch.ones(hidden, device=dev, dtype=dt)
        return lambda: rms_norm(torch, r + x, w)
    if name == "final_norm":
        x = torch.randn(m, hidden, device=dev, dtype=dt)
        w = torch.ones(hidden, device=dev, dtype=dt)
        return lambda: rms_norm(torch, x, w)
    if name == "qk_norm":
        q = torch.randn(m, heads, d, device=dev, dtype=dt)
        k = torch.randn(m, kv, d, device=dev, dtype=dt)
        w = torch.ones(d, device=dev, dtype=dt)
        return lambda: (rms_norm(torch, q, w), rms_norm(torch, k, w))
    if name == "rotary":
        q = torch.randn(1, heads, m, d, device=dev, dtype=dt)
        k = torch.randn(1, kv, m, d, device=dev, dtype=dt)
        cos = torch.randn(1, 1, m, d, device=dev, dtype=dt)
        sin = torch.randn(1, 1, m, d, device=dev, dtype=dt)
        return lambda: rotary(torch, q, k, cos, sin)
    if name == "act":
        g = torch.randn(m, inter, device=dev, dtype=dt)
        u = torch.randn(m, inter, device=dev, dtype=dt)
        return lambda: F.silu(g) * u
    if name == "embed":
        table = torch.randn(vocab, hidden, device=dev, dtype=dt)
        ids = torch.randint(0, vocab, (m,), device=dev)
        return lambda: F.embedding(ids, table)
    if name == "sampler":
        logits = torch.randn(m, vocab, device=dev, dtype=dt)
        return lambda: torch.argmax(logits.to(torch.float32), dim=-1)
    return None


def copy_bandwidth(torch: Any, dev: str, timer: Any, nbytes: int) -> float:
    """Bytes/s of a large device-to-device copy (read + write counted), STREAM's copy kernel."""
    n = nbytes // 4
    src = torch.ones(n, device=dev, dtype=torch.float32)
    dst = torch.empty_like(src)
    us = timer.median_us(lambda: dst.copy_(src))
    return 2.0 * n * 4 / (us * 1e-6)
