"""`llmsim hwdb list|show|validate|import`: the hardware database from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from llmsim.diagnostics import UserError, did_you_mean, suggestion_text
from llmsim.hwdb.entry import HardwareEntry, load_document, load_entry
from llmsim.hwdb.errors import HwdbError, display_path
from llmsim.hwdb.importers import IMPORTERS
from llmsim.hwdb.locate import EntryRef, default_paths, find_entries, match_entries, ref_for_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hwdb",
        help="the hardware database: list, show, validate, import entries",
        description="Hardware database entries: <vendor>/<device>/<engine>@<version>/entry.yaml",
    )
    hs = p.add_subparsers(dest="hwdb_command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--hwdb",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also search DIR (first; repeatable), before $LLMSIM_HWDB_PATH and the bundled database",
    )

    lp = hs.add_parser("list", parents=[common], help="list the entries on the search path")
    lp.add_argument(
        "--json", action="store_true", help="print JSON: [{entry, engine, kind, tables, spec_name}]"
    )
    lp.set_defaults(func=cmd_list)

    sp = hs.add_parser("show", parents=[common], help="spec sheet, provenance and tables of an entry")
    sp.add_argument(
        "name",
        metavar="ENTRY[@engine]",
        help="nvidia/h100-sxm, nvidia/h100-sxm@vllm@0.24.0, nvidia/h100-sxm@vllm-0.24.0 or a folder",
    )
    sp.add_argument("--table", metavar="GLOB", help="only tables whose name matches GLOB (e.g. 'gemm_*')")
    sp.set_defaults(func=cmd_show)

    vp = hs.add_parser(
        "validate", parents=[common], help="check entries: schema, units, files, values, sanity"
    )
    vp.add_argument(
        "name", nargs="?", metavar="ENTRY[@engine]", help="an entry or a folder (default: every entry)"
    )
    vp.set_defaults(func=cmd_validate)

    ip = hs.add_parser("import", help="convert public measured data into an entry")
    ip.add_argument("source", choices=IMPORTERS, help="the data's format")
    ip.add_argument(
        "system_dir", type=Path, metavar="SYSTEM_DIR", help="e.g. .../aiconfigurator-0.12.0/h100_sxm"
    )
    ip.add_argument("--engine", required=True, metavar="NAME@VERSION", help="e.g. vllm@0.24.0")
    ip.add_argument(
        "--out",
        type=Path,
        default=Path("hardware_db"),
        metavar="DIR",
        help="database root to write into (default: ./hardware_db)",
    )
    ip.add_argument("--vendor", default="nvidia", help="vendor folder name (default: nvidia)")
    ip.add_argument(
        "--device-name",
        metavar="NAME",
        help="device folder name (default: from SYSTEM_DIR, h100_sxm -> h100-sxm)",
    )
    ip.add_argument(
        "--nccl-version", metavar="X.Y.Z", help="NCCL table to use (default: system.yaml misc.nccl_version)"
    )
    ip.add_argument(
        "--specs", type=Path, metavar="CSV", help="spec-sheet CSV (default: specs.csv two folders up)"
    )
    ip.add_argument("--force", action="store_true", help="replace an existing entry whose content differs")
    ip.set_defaults(func=cmd_import)


# ---------------------------------------------------------------------------------------------------


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, highlight=False, width=None if stream.isatty() else 200, soft_wrap=False)


def _paths(args: argparse.Namespace) -> list[Path]:
    return default_paths(args.hwdb)


def select(name: str, search_paths: list[Path]) -> list[EntryRef]:
    """Entries a name selects, or a folder given by path; a UserError with suggestions if none."""
    as_dir = ref_for_dir(Path(name))
    if as_dir is not None:
        return [as_dir]
    refs = find_entries(search_paths)
    found = match_entries(name, refs)
    if found:
        return found
    names = sorted({r.entry for r in refs} | {f"{r.entry}@{r.engine}" for r in refs})
    sugg = suggestion_text(did_you_mean(name, names))
    where = ", ".join(display_path(p) for p in search_paths)
    raise UserError(
        f"no hardware entry named `{name}`",
        help=sugg or (f"entries: {', '.join(names)}" if names else f"none found in {where}"),
    )


def cmd_list(args: argparse.Namespace) -> int:
    items: list[dict[str, Any]] = []
    failed = 0
    for ref in find_entries(_paths(args)):
        try:
            doc, _ = load_document(ref)
        except HwdbError as exc:
            print(exc.render(), file=sys.stderr)
            failed += 1
            continue
        items.append(
            {
                "entry": ref.entry,
                "engine": ref.engine,
                "kind": doc["kind"],
                "tables": sorted(doc["tables"]),
                "spec_name": ref.spec_name,
                "_device": doc["device"]["name"],
                "_path": ref.path,
            }
        )
    if args.json:
        print(json.dumps([{k: v for k, v in it.items() if not k.startswith("_")} for it in items], indent=2))
    else:
        from rich.table import Table

        t = Table(title=None, show_edge=False, pad_edge=False)
        for col in ("entry", "engine", "kind", "device", "tables", "spec name", "path"):
            t.add_column(col, no_wrap=col in ("entry", "engine", "spec name"))
        for it in items:
            t.add_row(
                it["entry"],
                it["engine"],
                it["kind"],
                it["_device"],
                str(len(it["tables"])),
                it["spec_name"],
                display_path(it["_path"]),
            )
        con = _console()
        if items:
            con.print(t)
        else:
            con.print(
                "no hardware entries on the search path: " + ", ".join(display_path(p) for p in _paths(args))
            )
    return 1 if failed else 0


def _grid_text(entry: HardwareEntry, name: str) -> tuple[str, str]:
    """(grid description, filled-cells note) for the show command."""
    meta = entry.tables_meta[name]
    op = meta["op"]

    def rng(values) -> str:
        v = [int(x) for x in values]
        return f"{v[0]}…{v[-1]} ({len(v)})" if len(v) > 1 else str(v[0])

    if op == "gemm":
        g = entry.gemm(meta["dtype"])
        assert g is not None
        return (
            f"m {rng(g.m_grid)} × n {rng(g.n_grid)} × k {rng(g.k_grid)}",
            f"{g.filled_cells} filled" if g.filled_cells else "",
        )
    if op.startswith("attention"):
        t = entry.table(name)
        length = "isl" if op == "attention_prefill" else "kv_len"
        filled = int((~t.measured).sum())  # type: ignore[union-attr]
        return (
            f"batch {rng(t.batches)} × {length} {rng(t.lengths)}",  # type: ignore[union-attr]
            f"{filled} filled" if filled else "",
        )
    parts = entry.table(name)
    sizes = sorted({int(x) for p in parts.values() for x in p.sizes})  # type: ignore[union-attr]
    from llmsim.hwdb.writer import format_qty

    return (
        f"gpus {','.join(str(g) for g in sorted(parts))} × bytes "  # type: ignore[arg-type]
        f"{format_qty(sizes[0], '1B')}…{format_qty(sizes[-1], '1B')} ({len(sizes)})",
        "",
    )


def show_entry(entry: HardwareEntry, table_glob: str | None = None) -> None:
    from rich.table import Table

    con = _console()
    d = entry.doc["device"]
    con.print(f"[bold]{entry.entry}[/bold]  {entry.engine}  ({entry.kind})")
    head = Table.grid(padding=(0, 2))
    head.add_row("spec name", entry.spec_name)
    head.add_row("path", display_path(entry.path))
    head.add_row("sha256", entry.sha256)
    con.print(head)

    con.print("\n[bold]device[/bold]")
    dev = Table(show_edge=False, pad_edge=False)
    dev.add_column("field")
    dev.add_column("value")
    dev.add_column("source", overflow="fold")
    sources = d.get("sources", {})
    for key in (
        "name",
        "memory_capacity",
        "memory_bandwidth",
        "memory_efficiency",
        "launch_latency",
        "tdp",
        "idle_power",
        "gpus_per_node",
    ):
        if key in d:
            dev.add_row(key, str(d[key]), sources.get(key, ""))
    dev.add_row(
        "peak_flops", ", ".join(f"{k} {v}" for k, v in d["peak_flops"].items()), sources.get("peak_flops", "")
    )
    for i, (lname, link) in enumerate(d["links"].items()):
        dev.add_row(
            f"links.{lname}",
            f"{link['bandwidth']} per direction, {link['latency']}",
            sources.get("links", "") if i == 0 else "",
        )
    if "cross_check" in sources:
        dev.add_row("cross-check", "", sources["cross_check"])
    con.print(dev)

    con.print("\n[bold]provenance[/bold]")
    prov = Table.grid(padding=(0, 2))
    p = entry.provenance
    src = p["source"]
    prov.add_row("source", f"{src['package']} {src['version']}, {src['path']}")
    for k, v in src.get("files", {}).items():
        prov.add_row("", f"{k}: {v}")
    prov.add_row("measured by", p["measured_by"])
    for k, v in p["measured_with"].items():
        prov.add_row("measured with" if k == next(iter(p["measured_with"])) else "", f"{k}: {v}")
    if "date" in p:
        prov.add_row("date", p["date"])
    prov.add_row("licence", f"{p['licence']['spdx']} ({p['licence']['file']})")
    prov.add_row("converted by", p["converted_by"])
    for i, note in enumerate(p.get("notes", [])):
        prov.add_row("notes" if i == 0 else "", f"- {note}")
    con.print(prov)

    names = [n for n in entry.table_names() if table_glob is None or fnmatch(n, table_glob)]
    con.print(f"\n[bold]tables[/bold] ({len(names)} of {len(entry.table_names())})")
    tab = Table(show_edge=False, pad_edge=False)
    for col in ("name", "op", "dtype", "grid", "rows", "notes", "kernel"):
        tab.add_column(col, no_wrap=col in ("name", "grid"))
    for name in names:
        meta = entry.tables_meta[name]
        grid, filled = _grid_text(entry, name)
        dtype = meta.get("kv_dtype", meta.get("dtype", ""))
        dtype = f"kv {dtype}" if "kv_dtype" in meta else dtype
        if meta["op"] == "allreduce":
            dtype = f"{meta['dtype']} {meta['implementation']}"
        tab.add_row(name, meta["op"], dtype, grid, str(meta["rows"]), filled, meta["kernel"])
    con.print(tab)
    impls = entry.allreduce_implementations("bf16")
    if len(impls) > 1 and (
        table_glob is None
        or any(
            fnmatch(n, table_glob) for n in entry.table_names() if entry.tables_meta[n]["op"] == "allreduce"
        )
    ):
        con.print("\nall-reduce (bf16) uses the fastest of " + ", ".join(impls) + " per message size:")
        from llmsim.hwdb.writer import format_qty

        for g in entry.allreduce_group_sizes("bf16"):
            t = entry.allreduce(g, "bf16")
            if t is not None:
                cross = "; ".join(f"{w} from {format_qty(int(x), '1B')}" for x, w in t.crossover_bytes())
                con.print(f"  {g} gpus: {cross}")


def cmd_show(args: argparse.Namespace) -> int:
    for ref in select(args.name, _paths(args)):
        show_entry(load_entry(ref), args.table)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from llmsim.hwdb.validate import validate_entry

    paths = _paths(args)
    refs = select(args.name, paths) if args.name else find_entries(paths)
    if not refs:
        raise UserError(
            "no hardware entries to validate", help="searched " + ", ".join(display_path(p) for p in paths)
        )
    failed = 0
    for ref in refs:
        report = validate_entry(ref)
        label = f"{ref.entry}@{ref.engine}"
        if report.ok:
            print(f"ok    {label}: {report.tables} tables, {report.rows} rows ({display_path(ref.path)})")
        else:
            failed += 1
            for err in report.errors:
                print(err.render(), file=sys.stderr)
            n = len(report.errors)
            print(f"FAIL  {label}: {n} problem{'s' if n != 1 else ''} ({display_path(ref.path)})")
    return 1 if failed else 0


def cmd_import(args: argparse.Namespace) -> int:
    from llmsim.hwdb.importers import aiconfigurator
    from llmsim.hwdb.writer import install

    importer = {"aiconfigurator": aiconfigurator}[args.source]
    result = importer.build(
        args.system_dir,
        args.engine,
        vendor=args.vendor,
        device_name=args.device_name,
        nccl_version=args.nccl_version,
        specs_csv=args.specs,
    )
    status = install(args.out, result.entry_rel, result.files, result.shared, force=args.force)
    size = sum(len(b) for b in result.files.values())
    ntables = sum(1 for f in result.files if f.startswith("tables/"))
    print(f"{status} {display_path(args.out / result.entry_rel)}: {ntables} tables, {size / 1e6:.1f} MB")
    return 0
