"""The compiler: checked spec -> operator graph -> TP/EP/DP sharding -> placement -> pipeline stages ->
lowering on hardware -> instance plans (cost, memory, power)."""

from __future__ import annotations

from typing import Any

__all__ = ["CompiledSpec", "compile_spec"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `llmsim.compiler.catalog` stays importable on its own (the language
    # front end reads catalog names without pulling in the lowering and the runtime).
    if name in __all__:
        from llmsim.compiler import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
