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

    dp = hs.add_parser("diff", parents=[common], help="how two entries differ, per operator family")
    dp.add_argument("a", metavar="A", help="an entry (ENTRY@engine) or a folder")
    dp.add_argument("b", metavar="B", help="an entry (ENTRY@engine) or a folder")
    dp.add_argument("--json", action="store_true", help="print JSON")
    dp.add_argument("--tables", action="store_true", help="one line per table, not per family")
    dp.set_defaults(func=cmd_diff)

    ap = hs.add_parser("accuracy", parents=[common], help="leave-one-out error of llmsim's interpolation")
    ap.add_argument("name", metavar="ENTRY[@engine]", help="an entry or a folder")
    ap.add_argument("--json", action="store_true", help="print JSON (every table)")
    ap.add_argument("--tables", action="store_true", help="one line per table, not per family")
    ap.set_defaults(func=cmd_accuracy)

    ip = hs.add_parser("import", help="convert public measured data into entries")
    ip.add_argument("source", choices=IMPORTERS, help="the data's format")
    ip.add_argument(
        "system_dir",
        type=Path,
        metavar="DIR",
        help="aiconfigurator: a system folder (.../aiconfigurator-0.12.0/h100_sxm); "
        "llmservingsim: the perf folder (.../llmservingsim-vllm0.19) or one hardware folder in it; "
        "specsheet: a specs.csv (.../hw/specs.csv)",
    )
    ip.add_argument(
        "--engine",
        metavar="NAME@VERSION",
        help="aiconfigurator: one engine version, e.g. vllm@0.24.0 (default: every version in the folder)",
    )
    ip.add_argument(
        "--out",
        type=Path,
        default=Path("hardware_db"),
        metavar="DIR",
        help="database root to write into (default: ./hardware_db)",
    )
    ip.add_argument("--vendor", default="nvidia", help="aiconfigurator: vendor folder name (default: nvidia)")
    ip.add_argument(
        "--device-name",
        metavar="NAME",
        help="aiconfigurator: device folder name (default: from DIR, h100_sxm -> h100-sxm)",
    )
    ip.add_argument(
        "--nccl-version", metavar="X.Y.Z", help="NCCL table to use (default: system.yaml misc.nccl_version)"
    )
    ip.add_argument(
        "--specs",
        type=Path,
        metavar="FILE",
        help="spec sheets: aiconfigurator a specs.csv (default: two folders up), "
        "llmservingsim a YAML like llmsim/hwdb/importers/specsheets.yaml",
    )
    ip.add_argument(
        "--only", action="append", metavar="NAME", help="specsheet: import only this row (accelerator or device)"
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


def layerwise_names(doc: dict[str, Any]) -> list[str]:
    """Layer-wise tables as `layerwise/<model>/<dtype>/tp<N>/<kind>`, in entry order."""
    return [
        f"layerwise/{item['model']}/{item['dtype']}/tp{item['tp']}/{kind}"
        for item in doc.get("layerwise", [])
        for kind in item["tables"]
    ]


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
                "tables": sorted(doc["tables"]) + layerwise_names(doc),
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
            f"{link['bandwidth']} per direction, " + link.get("latency", "latency not given"),
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
    if entry.layerwise_models():
        con.print(f"\n[bold]layer-wise tables[/bold] ({len(entry.layerwise_models())} sets)")
        lw = Table(show_edge=False, pad_edge=False)
        for col in ("model", "dtype", "tp", "tables", "rows"):
            lw.add_column(col)
        for model, dtype, tp in entry.layerwise_models():
            item = entry.layerwise_meta[(model, dtype, tp)]
            lw.add_row(model, dtype, str(tp), ", ".join(item["tables"]),
                       str(sum(t["rows"] for t in item["tables"].values())))
        con.print(lw)
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


def _one(name: str, paths: list[Path]) -> HardwareEntry:
    refs = select(name, paths)
    if len(refs) > 1:
        raise UserError(
            f"`{name}` names {len(refs)} entries",
            help="name one: " + ", ".join(f"{r.entry}@{r.engine}" for r in refs),
        )
    return load_entry(refs[0])


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def cmd_diff(args: argparse.Namespace) -> int:
    from rich.table import Table

    from llmsim.hwdb.diff import diff_entries, summary_by_family

    paths = _paths(args)
    d = diff_entries(_one(args.a, paths), _one(args.b, paths))
    if args.json:
        print(json.dumps(d.to_json(), indent=2))
        return 0
    con = _console()
    con.print(f"A = {d.a}\nB = {d.b}   (B / A - 1 at A's measured points; + means B is slower)")
    if d.device:
        t = Table(show_edge=False, pad_edge=False, title=None)
        for col in ("device field", "A", "B"):
            t.add_column(col)
        for row in d.device:
            t.add_row(*row)
        con.print(t)
    rows = d.tables if args.tables else summary_by_family(d)
    t = Table(show_edge=False, pad_edge=False)
    for col in ("family", "tables" if not args.tables else "table", "points", "median", "min", "max"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.family, r.what, str(r.points), _pct(r.median), _pct(r.low), _pct(r.high))
    con.print(t if rows else "no table in common")
    for label, only in (("only in A", d.only_a), ("only in B", d.only_b)):
        if only:
            con.print(f"{label} ({len(only)}): " + ", ".join(only[:40]) + (" ..." if len(only) > 40 else ""))
    return 0


def cmd_accuracy(args: argparse.Namespace) -> int:
    from rich.table import Table

    from llmsim.hwdb.accuracy import entry_accuracy, summarise

    entry = _one(args.name, _paths(args))
    rows = entry_accuracy(entry)
    if args.json:
        print(json.dumps({"entry": f"{entry.entry}@{entry.engine}", "sha256": entry.sha256,
                          "tables": [r.to_json() for r in rows]}, indent=2))
        return 0
    con = _console()
    con.print(f"{entry.entry}@{entry.engine}: leave-one-out |predicted / measured - 1| of interior grid values")
    t = Table(show_edge=False, pad_edge=False)
    for col in ("family", "table" if args.tables else "tables", "points", "median", "p90"):
        t.add_column(col)
    for r in rows if args.tables else summarise(rows):
        t.add_row(r.family, r.table, str(r.points), f"{100 * r.median:.1f}%", f"{100 * r.p90:.1f}%")
    con.print(t if rows else "no table with interior points")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from llmsim.hwdb.importers import aiconfigurator, llmservingsim, specsheet
    from llmsim.hwdb.writer import install

    if args.source == "llmservingsim":
        results = llmservingsim.build(args.system_dir, specs=args.specs)
    elif args.source == "specsheet":
        results = specsheet.build(args.system_dir, only=args.only)
    else:
        engines = [args.engine] if args.engine else aiconfigurator.engine_versions(args.system_dir)
        results = [
            aiconfigurator.build(
                args.system_dir,
                engine,
                vendor=args.vendor,
                device_name=args.device_name,
                nccl_version=args.nccl_version,
                specs_csv=args.specs,
            )
            for engine in engines
        ]
    for result in results:
        status = install(args.out, result.entry_rel, result.files, result.shared, force=args.force)
        size = sum(len(b) for b in result.files.values())
        ntables = sum(1 for f in result.files if f.endswith(".csv"))
        print(f"{status} {display_path(args.out / result.entry_rel)}: {ntables} tables, {size / 1e6:.2f} MB")
    return 0
