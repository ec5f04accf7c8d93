"""What every llmsim command shares: exit codes, error rendering, and never overwriting user input."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

from llmsim.diagnostics import CompileError, UserError

EXIT_OK, EXIT_USER, EXIT_INTERNAL = 0, 1, 2
DEBUG_ENV = "LLMSIM_DEBUG"
BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"
INPUT_SUFFIXES = {".llms", ".yaml", ".yml"}


def limit_blas_threads() -> None:
    """One OpenBLAS thread unless the user set a number: llmsim's numpy work is vector-sized, and
    OpenBLAS's pool only spins (0.1 s of CPU per run here), inflates a run's wall time by 15-30 % on
    a busy machine and oversubscribes the cores when sweep points run side by side. Call it before
    numpy is imported: OpenBLAS reads the variable when it loads."""
    os.environ.setdefault(BLAS_THREADS_ENV, "1")


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are user errors (exit 1, rendered like every other diagnostic)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message, help=f"run `{self.prog} --help` for usage")


def run_guarded(body: Callable[[], int]) -> int:
    """Run a command body: diagnostics and user errors exit 1, anything unexpected exits 2."""
    try:
        return int(body() or 0)
    except CompileError as exc:
        print("\n\n".join(d.render() for d in exc.diagnostics), file=sys.stderr)
        errors = sum(1 for d in exc.diagnostics if d.severity.value == "error")
        print(f"\n{errors} error{'s' if errors != 1 else ''}", file=sys.stderr)
        return EXIT_USER
    except UserError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USER
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USER)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              f"  = note: this is a bug in llmsim, not in your input; rerun with {DEBUG_ENV}=1 for the "
              "traceback and report it", file=sys.stderr)
        return EXIT_INTERNAL


def guard_output_path(path: Path, protected: Iterable[Path]) -> None:
    """Refuse to write an output over an input the user wrote, or into a folder that does not exist."""
    target = path.resolve()
    for p in protected:
        if target == p.resolve():
            raise UserError(f"refusing to write output over the input file `{path}`",
                            help="choose another output path")
    if target.suffix in INPUT_SUFFIXES:
        raise UserError(f"refusing to write output to `{path}`: `{target.suffix}` files are inputs",
                        help="use a `.json` or `.csv` name for outputs")
    if not target.parent.is_dir():
        raise UserError(f"cannot write `{path}`: folder `{path.parent}` does not exist")
    if target.is_dir():
        raise UserError(f"cannot write `{path}`: it is a folder")
