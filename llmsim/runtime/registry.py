"""Policies registered by name: built-ins by decorator, third-party ones through entry points.

A spec says `router = round_robin` or `scheduler = vllm`; the runtime looks the name up here. A user
adds a policy without editing llmsim, either by calling `register_router("mine")(MyRouter)` before
simulating or by declaring an entry point in their own package:

    [project.entry-points."llmsim.routers"]
    mine = "my_pkg.routing:MyRouter"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from llmsim.diagnostics import UserError, did_you_mean, suggestion_text

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> policy class for one kind of policy ("router", "scheduler")."""

    __slots__ = ("_entries", "_loaded_plugins", "group", "kind")

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group  # entry-point group, e.g. "llmsim.routers"
        self._entries: dict[str, type[T]] = {}
        self._loaded_plugins = False

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: `@ROUTERS.register("round_robin")`."""

        def add(cls: type[T]) -> type[T]:
            known = self._entries.get(name)
            if known is not None and known is not cls:
                raise ValueError(f"{self.kind} policy `{name}` is already registered by {known.__qualname__}")
            self._entries[name] = cls
            return cls

        return add

    def _load_plugins(self) -> None:
        if self._loaded_plugins:
            return
        self._loaded_plugins = True
        from importlib.metadata import entry_points  # here: it costs ~10 ms to import, and most runs need no plugin

        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            if ep.name not in self._entries:
                self._entries[ep.name] = ep.load()

    def get(self, name: str) -> type[T]:
        cls = self._entries.get(name)
        if cls is None:
            self._load_plugins()
            cls = self._entries.get(name)
        if cls is None:
            raise UserError(
                f"unknown {self.kind} policy `{name}`",
                help=suggestion_text(did_you_mean(name, self._entries))
                or f"known {self.kind} policies: {', '.join(sorted(self._entries))}",
            )
        return cls

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)
