"""Profile this machine's CPU (or use a profiled entry), then compare llmsim's predicted step latency
with real Hugging Face forward passes of a small random-weight Llama on the same machine.

    python bench/profile_check.py                      # profile into a temporary database, then check
    python bench/profile_check.py --entry cpu/amd-epyc-1t@torch@2.13.0   # check a committed entry
    python bench/profile_check.py --out hardware_db     # (re)make the committed entry, then check it

Needs the `profile` extra (torch, transformers). Prints a table and exits 1 when a shape is off by
more than --tolerance (10 % by default). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIG = Path(__file__).resolve().with_name("check-llama.json")  # the model profiled and checked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entry", help="check this entry (ENTRY@engine) instead of profiling first")
    ap.add_argument("--hwdb", type=Path, action="append", default=[], help="extra database root to search")
    ap.add_argument("--grid", default="quick", choices=("quick", "full"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both profile and check (default 1)")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--out", type=Path, help="database root the profile is written to (default: a temp dir)")
    ap.add_argument("--tolerance", type=float, default=0.10)
    args = ap.parse_args(argv)

    import torch
    import transformers

    from llmsim.hwdb import find_entries, load_entry
    from llmsim.hwdb.cli import select
    from llmsim.hwdb.locate import default_paths
    from llmsim.profile.check import CHECK_CONFIG, format_rows, run_check

    torch.set_num_threads(args.threads)
    roots = list(args.hwdb)
    if args.entry is None:
        out = args.out or Path(tempfile.mkdtemp(prefix="llmsim-profile-"))
        if json.loads(CONFIG.read_text(encoding="utf-8")) != CHECK_CONFIG:
            raise SystemExit(f"{CONFIG} differs from llmsim.profile.check.CHECK_CONFIG")
        cfg = CONFIG.relative_to(Path.cwd()) if CONFIG.is_relative_to(Path.cwd()) else CONFIG
        cmd = ["llmsim", "profile", "--device", "cpu", "--dtype", args.dtype, "--model", str(cfg), "--grid",
               args.grid, "--threads", str(args.threads), "--out", str(out), "--force"]
        print("$ " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
        made = [r for r in find_entries([out]) if r.entry.startswith("cpu/") and r.engine.startswith("torch@")]
        ref = made[0]
    else:
        ref = select(args.entry, default_paths(roots))[0]
    entry = load_entry(ref)
    print(f"entry {entry.entry}@{entry.engine} ({entry.kind}, sha256 {entry.sha256[:12]}), torch "
          f"{torch.__version__}, transformers {transformers.__version__}, {args.threads} thread(s)")
    rows = run_check(torch, transformers, entry, dtype=args.dtype)
    print(format_rows(rows))
    worst = max(abs(r.error) for r in rows)
    print(f"worst error {worst:.1%} (target {args.tolerance:.0%})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
