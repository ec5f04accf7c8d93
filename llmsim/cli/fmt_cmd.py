"""`llmsimc fmt FILE... [--check]`: rewrite `.llms` files in the canonical layout (`llmsim.lang.fmt`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from llmsim.cli.common import ArgumentParser
from llmsim.diagnostics import CompileError, UserError


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="llmsimc fmt", description="Format .llms files in the canonical layout.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help=".llms files to format in place")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not formatted")
    return p


def fmt_main(argv: Sequence[str]) -> int:
    from llmsim.lang import read_source
    from llmsim.lang.fmt import format_source

    args = build_parser().parse_args(list(argv))
    errors = []
    unformatted = []
    for path in args.files:
        if path.suffix != ".llms":
            raise UserError(f"refusing to format `{path}`: not a `.llms` file", help="name .llms files")
        source = read_source(path)
        try:
            text = format_source(source)
        except CompileError as exc:
            errors.extend(exc.diagnostics)
            continue
        if text == source.text:
            continue
        unformatted.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if errors:
        raise CompileError(errors)
    for path in unformatted:
        verb = "would reformat" if args.check else "reformatted"
        print(f"{verb} {path}", file=sys.stderr if args.check else sys.stdout)
    return 1 if args.check and unformatted else 0
