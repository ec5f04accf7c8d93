"""The `llmsim` tool: subcommands over the database and, later, validation, profiling and benches.

Each subcommand lives in its own module with a `register(subparsers)` function that adds its parser
and sets `func` (called as `func(args) -> int`). Built-in modules are listed in `SUBCOMMANDS`; other
packages can add theirs through the `llmsim.commands` entry-point group (the entry point names a
module or a `register` function).

Exit codes: 0 ok, 1 user error (rendered as a diagnostic on stderr), 2 internal error (traceback only
with LLMSIM_DEBUG=1).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from llmsim.cli.common import ArgumentParser, run_guarded

SUBCOMMANDS: tuple[str, ...] = ("llmsim.hwdb.cli", "llmsim.validate.cli", "llmsim.cli.bench_cmd", "llmsim.profile.cli")
ENTRY_POINT_GROUP = "llmsim.commands"


def _registrars() -> list:
    out = [importlib.import_module(name).register for name in SUBCOMMANDS]
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        obj = ep.load()
        out.append(getattr(obj, "register", obj))
    return out


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="llmsim", description="llmsim tools: the hardware database (and more to come)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)

    return run_guarded(body)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
