"""`llmsim bench`: the benchmark harness of a source checkout (`bench/` next to `llmsim/`).

The harness is not part of the installed package: it lives in the repository and also runs as
`python -m bench` from its root. This module only finds it and forwards to `bench.cli`; without a
checkout, `llmsim bench` says so.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from llmsim.diagnostics import UserError

HELP = "benchmark llmsim's speed and scale, side by side with Vidur (needs a source checkout)"


def _bench_root() -> Path | None:
    """The repository root holding `bench/`, when llmsim runs from a checkout (editable install)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "bench" / "cli.py").is_file() else None


def _bench_cli() -> ModuleType | None:
    root = _bench_root()
    if root is None:
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("bench.cli")


def register(subparsers: Any) -> None:
    """Add `bench` to the `llmsim` tool."""
    cli = _bench_cli()
    if cli is None:  # take any arguments, and say what is missing
        p = subparsers.add_parser("bench", help=HELP, description=HELP, prefix_chars="\0", add_help=False)
        p.add_argument("args", nargs="*")
        p.set_defaults(func=_missing)
        return
    p = subparsers.add_parser("bench", help=HELP, description=HELP)
    cli.add_arguments(p)
    p.set_defaults(func=cli.run)


def _missing(args: argparse.Namespace) -> int:
    raise UserError("`llmsim bench` needs a source checkout of llmsim (the `bench/` folder beside `llmsim/`)",
                    help="clone the repository, `pip install -e .` there, and run `llmsim bench` or "
                    "`python -m bench` from its root")
