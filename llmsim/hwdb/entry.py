"""Loading one hardware entry: its spec sheet eagerly, its latency tables lazily.

`load_entry()` reads and checks `entry.yaml` (schema, units, that every declared file exists),
hashes the entry's content and builds the `DeviceSpec`; a table file is parsed the first time the
table is asked for and cached on the entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from llmsim import inputs
from llmsim.hwdb.errors import HwdbError
from llmsim.hwdb.layerwise import LayerwiseTables
from llmsim.hwdb.locate import ENTRY_FILE, EntryRef
from llmsim.hwdb.schema import OP_KEYS, check_document, dimensionless, quantity_value
from llmsim.hwdb.tables import AttentionTable, CommTable, GemmTable, MoeTable, read_table

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Spellings accepted for dtypes in lookups; entries always store the canonical short name.
DTYPE_ALIASES = {
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "fp8": "fp8",
    "float8": "fp8",
    "fp8_e4m3": "fp8",
    "float8_e4m3fn": "fp8",
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "fp4": "fp4",
    "int8": "int8",
    "tf32": "tf32",
}
ELEMENT_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1, "fp32": 4, "int8": 1}
# `entry.collective(kind, ...)`: the kinds and the table op that holds each
COLLECTIVE_KINDS = {
    "all_reduce": "allreduce",
    "all_gather": "all_gather",
    "reduce_scatter": "reduce_scatter",
    "alltoall": "alltoall",
}


def _moe_dtype(dtype: str) -> str:
    """MoE tables use the source's quantisation names; bf16/fp16/fp8 spellings are canonicalised."""
    try:
        return canonical_dtype(dtype)
    except ValueError:
        return dtype


def canonical_dtype(dtype: str) -> str:
    """ "bfloat16" -> "bf16"; raises ValueError for a name no table could ever use."""
    try:
        return DTYPE_ALIASES[dtype.lower()]
    except KeyError:
        raise ValueError(
            f"unknown dtype {dtype!r}; expected one of {', '.join(sorted(set(DTYPE_ALIASES.values())))}"
        ) from None


@dataclass(frozen=True)
class LinkSpec:
    """One link of a device: bandwidth in bytes/s per direction, latency in integer ns (0 when the
    source gives none: a spec sheet states bandwidth only)."""

    bandwidth: float
    latency_ns: int


@dataclass(frozen=True)
class DeviceSpec:
    """The spec sheet: simulator units (bytes, bytes/s, FLOP/s, W, integer ns).

    `memory_efficiency` and `launch_latency_ns` are empirical corrections; an entry without them
    (a spec-sheet entry) gets 1.0 and 0, the plain spec-sheet roofline. `gpus_per_node` is None when
    the source does not say."""

    name: str
    memory_bytes: int
    memory_bandwidth: float
    memory_efficiency: float
    launch_latency_ns: int
    peak_flops: dict[str, float]
    tdp_w: float | None
    idle_w: float | None
    links: dict[str, LinkSpec]
    gpus_per_node: int | None


def _ns(text: str) -> int:
    return round(quantity_value(text) * 10**9)


def device_spec(doc: dict[str, Any]) -> DeviceSpec:
    """Build a DeviceSpec from a `device:` mapping the schema has already accepted."""
    links = {
        name: LinkSpec(float(quantity_value(link["bandwidth"])), _ns(link["latency"]) if "latency" in link else 0)
        for name, link in doc["links"].items()
    }
    tdp = doc.get("tdp")
    idle = doc.get("idle_power")
    return DeviceSpec(
        name=doc["name"],
        memory_bytes=round(quantity_value(doc["memory_capacity"])),
        memory_bandwidth=float(quantity_value(doc["memory_bandwidth"])),
        memory_efficiency=float(dimensionless(doc.get("memory_efficiency", 1.0))),  # type: ignore[arg-type]
        launch_latency_ns=_ns(doc["launch_latency"]) if "launch_latency" in doc else 0,
        peak_flops={dt: float(quantity_value(v)) for dt, v in doc["peak_flops"].items()},
        tdp_w=float(quantity_value(tdp)) if tdp is not None else None,
        idle_w=float(quantity_value(idle)) if idle is not None else None,
        links=links,
        gpus_per_node=int(doc["gpus_per_node"]) if "gpus_per_node" in doc else None,
    )


def read_document(path: Path) -> Any:
    """Parse an entry.yaml; a YAML syntax error becomes an HwdbError at its line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HwdbError(path, "entry.yaml", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HwdbError(path, "entry.yaml", f"cannot read the file ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        raise HwdbError(path, "entry.yaml", f"not valid YAML: {problem}", line=line, col=col) from None


def content_sha256(entry_dir: Path, files: list[str]) -> str:
    """sha256 over the entry's files, each as `<relative path>\\n<byte length>\\n<bytes>`, sorted by
    relative path. `files` are paths relative to `entry_dir` (entry.yaml and every table file)."""
    h = hashlib.sha256()
    for rel in sorted(set(files)):
        data = (entry_dir / rel).read_bytes()
        inputs.note_read(entry_dir / rel, data)
        h.update(rel.encode("utf-8") + b"\n" + str(len(data)).encode("ascii") + b"\n")
        h.update(data)
    return h.hexdigest()


def declared_tables(doc: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, file) of every table file entry.yaml declares, op tables then layer-wise ones."""
    out: list[tuple[tuple[str | int, ...], str]] = [
        (("tables", name, "file"), t["file"]) for name, t in doc["tables"].items()
    ]
    for i, item in enumerate(doc.get("layerwise", [])):
        for kind, t in item["tables"].items():
            out.append((("layerwise", i, "tables", kind, "file"), t["file"]))
    return out


def check_entry_files(entry_dir: Path, doc: dict[str, Any], entry_file: Path) -> list[HwdbError]:
    """Declared files that do not exist: every table file and the licence file."""
    out: list[HwdbError] = []
    for field, file in declared_tables(doc):
        if not (entry_dir / file).is_file():
            out.append(
                HwdbError(
                    entry_file,
                    field,
                    f"table file `{file}` does not exist",
                    f"expected it at {entry_dir / file}",
                )
            )
    lic = doc["provenance"]["licence"]["file"]
    if (entry_dir / lic).is_file():
        inputs.note_path(entry_dir / lic)
    else:
        out.append(
            HwdbError(
                entry_file,
                ("provenance", "licence", "file"),
                f"licence file `{lic}` does not exist",
                "keep the source's licence text with the data derived from it",
            )
        )
    return out


def check_identity(ref: EntryRef, doc: dict[str, Any], entry_file: Path) -> list[HwdbError]:
    """`entry:` and `engine:` must agree with where the entry lives on disk."""
    out: list[HwdbError] = []
    if doc["entry"] != ref.entry:
        out.append(
            HwdbError(
                entry_file,
                ("entry",),
                f"says `{doc['entry']}` but the entry lives in `{ref.entry}/`",
                f"write `entry: {ref.entry}` or move the folder",
            )
        )
    engine = f"{doc['engine']['name']}@{doc['engine']['version']}"
    if engine != ref.engine:
        out.append(
            HwdbError(
                entry_file,
                ("engine",),
                f"says `{engine}` but the folder is `{ref.engine}`",
                "the folder name is `<engine>@<version>`",
            )
        )
    return out


def lookup_key(meta: dict[str, Any]) -> tuple:
    """What makes a table unique among its entry's tables (two tables may not share it)."""
    op = meta["op"]
    if op == "gemm":
        return (op, meta["dtype"])
    if op.startswith("attention"):
        return (
            op,
            meta["num_heads"],
            meta["num_kv_heads"],
            meta["head_dim"],
            meta["kv_dtype"],
            meta.get("window", 0),
        )
    if op == "moe":
        return (op, meta["dtype"], meta["distribution"])
    if op == "moe_a2a":
        return (op, meta["dtype"], meta["backend"], meta["phase"])
    return (op, meta["dtype"], meta["implementation"], meta.get("mode", "graph"))


def layerwise_key(item: dict[str, Any]) -> tuple[str, str, int]:
    return (item["model"], item["dtype"], int(item["tp"]))


class HardwareEntry:
    """One loaded entry. Table lookups return None when the entry has no such table."""

    def __init__(self, ref: EntryRef, doc: dict[str, Any], sha256: str):
        self.ref = ref
        self.path = ref.path
        self.doc = doc
        self.entry: str = doc["entry"]
        self.engine: str = f"{doc['engine']['name']}@{doc['engine']['version']}"
        self.engine_name: str = doc["engine"]["name"]
        self.engine_version: str = doc["engine"]["version"]
        self.kind: str = doc["kind"]
        self.sha256 = sha256
        self.provenance: dict[str, Any] = doc["provenance"]
        self.device = device_spec(doc["device"])
        self.tables_meta: dict[str, dict[str, Any]] = doc["tables"]
        self._index = {lookup_key(m): name for name, m in self.tables_meta.items()}
        self.layerwise_meta: dict[tuple[str, str, int], dict[str, Any]] = {
            layerwise_key(item): item for item in doc.get("layerwise", [])
        }
        self._raw: dict[str, np.ndarray] = {}
        self._cache: dict[Any, Any] = {}

    @property
    def spec_name(self) -> str:
        return self.ref.spec_name

    def table_names(self) -> list[str]:
        return sorted(self.tables_meta)

    def raw_table(self, name: str) -> np.ndarray:
        """The table's rows as read from its CSV (key columns then latency_us), parsed once."""
        data = self._raw.get(name)
        if data is None:
            meta = self.tables_meta[name]
            data = read_table(self.path / meta["file"], OP_KEYS[meta["op"]], meta["rows"])
            self._raw[name] = data
        return data

    def table(self, name: str) -> GemmTable | AttentionTable | dict[int, CommTable] | dict[tuple, MoeTable]:
        """Any table by name as its typed object; a collective table, which holds every group size,
        as {num_gpus: CommTable} for that one implementation; a MoE (all-to-all) table as
        {layout: MoeTable}."""
        meta = self.tables_meta[name]
        op = meta["op"]
        if op == "gemm":
            return self._gemm_named(name)
        if op.startswith("attention"):
            return self._attention_named(name)
        if op in ("moe", "moe_a2a"):
            return dict(self._moe_parts(name))
        return dict(self._comm_parts(name))

    # -- layer-wise tables --------------------------------------------------------------------------

    def layerwise_models(self) -> list[tuple[str, str, int]]:
        """(Hugging Face model id, dtype, tp) of every layer-wise table set, sorted."""
        return sorted(self.layerwise_meta)

    def layerwise(self, model_id: str, dtype: str, tp: int) -> LayerwiseTables | None:
        """The layer-wise tables measured for a model at a dtype and TP degree, or None."""
        key = (model_id, canonical_dtype(dtype), int(tp))
        item = self.layerwise_meta.get(key)
        if item is None:
            return None
        cache_key = ("layerwise", key)
        t = self._cache.get(cache_key)
        if t is None:
            files = {kind: (self.path / m["file"], int(m["rows"])) for kind, m in item["tables"].items()}
            meta = self.provenance.get("profiling", {}).get(f"{model_id} {key[1]}")
            t = LayerwiseTables(model_id, key[1], key[2], files, meta)
            self._cache[cache_key] = t
        return t

    # -- GEMM ---------------------------------------------------------------------------------------

    def gemm(self, dtype: str) -> GemmTable | None:
        name = self._index.get(("gemm", canonical_dtype(dtype)))
        return self._gemm_named(name) if name else None

    def _gemm_named(self, name: str) -> GemmTable:
        key = ("table", name)
        t = self._cache.get(key)
        if t is None:
            meta = self.tables_meta[name]
            t = GemmTable(name, meta["dtype"], self.raw_table(name), kernel=meta["kernel"])
            self._cache[key] = t
        return t

    # -- attention ----------------------------------------------------------------------------------

    def attention_prefill(
        self, num_heads: int, num_kv_heads: int, head_dim: int, kv_dtype: str
    ) -> AttentionTable | None:
        return self._attention("attention_prefill", num_heads, num_kv_heads, head_dim, kv_dtype)

    def attention_decode(
        self, num_heads: int, num_kv_heads: int, head_dim: int, kv_dtype: str
    ) -> AttentionTable | None:
        return self._attention("attention_decode", num_heads, num_kv_heads, head_dim, kv_dtype)

    def attention_layouts(self, op: str, kv_dtype: str) -> list[tuple[int, int, int]]:
        """Every measured (num_heads, num_kv_heads, head_dim) for an op and KV dtype, window 0."""
        kv = canonical_dtype(kv_dtype)
        return sorted((k[1], k[2], k[3]) for k in self._index if k[0] == op and k[4] == kv and k[5] == 0)

    def _attention(self, op: str, nh: int, nkv: int, hd: int, kv_dtype: str) -> AttentionTable | None:
        name = self._index.get((op, int(nh), int(nkv), int(hd), canonical_dtype(kv_dtype), 0))
        return self._attention_named(name) if name else None

    def _attention_named(self, name: str) -> AttentionTable:
        key = ("table", name)
        t = self._cache.get(key)
        if t is None:
            m = self.tables_meta[name]
            t = AttentionTable(
                name,
                m["op"],
                self.raw_table(name),
                num_heads=m["num_heads"],
                num_kv_heads=m["num_kv_heads"],
                head_dim=m["head_dim"],
                kv_dtype=m["kv_dtype"],
                kernel=m["kernel"],
            )
            self._cache[key] = t
        return t

    # -- all-reduce ---------------------------------------------------------------------------------

    def allreduce_implementations(self, dtype: str = "bf16") -> list[str]:
        """The all-reduce implementations the default path combines for this element size (e.g.
        ["nccl", "vllm_custom"]); eager-mode tables are not among them."""
        names = self._collective_tables("allreduce", dtype)
        return sorted(
            self.tables_meta[n]["implementation"] for n in names if self.tables_meta[n].get("mode") != "eager"
        )

    def allreduce_group_sizes(self, dtype: str = "bf16") -> list[int]:
        return self.collective_group_sizes("all_reduce", dtype)

    def collective_group_sizes(self, kind: str, dtype: str = "bf16") -> list[int]:
        sizes: set[int] = set()
        for name in self._collective_tables(COLLECTIVE_KINDS[kind], dtype):
            sizes.update(self._comm_parts(name))
        return sorted(sizes)

    def allreduce(self, num_gpus: int, dtype: str, implementation: str | None = None) -> CommTable | None:
        """All-reduce over `num_gpus` GPUs. By default the engine's fastest available path: the
        per-size minimum over every measured implementation run as the engine runs it (for vLLM:
        NCCL and its custom all-reduce under CUDA graphs; the eager custom all-reduce is left out).
        `implementation="nccl"` (or another measured one, e.g. "vllm_custom_eager") gives that one alone.

        bf16 and fp16 share tables: an all-reduce's cost depends on bytes, not on which 2-byte type."""
        return self.collective("all_reduce", num_gpus, dtype, implementation=implementation)

    def collective(
        self, kind: str, num_gpus: int, dtype: str, implementation: str | None = None
    ) -> CommTable | None:
        """A collective over `num_gpus` GPUs: kind all_reduce | all_gather | reduce_scatter | alltoall.

        `latency_us(message_bytes)` takes the total bytes of the op's buffer (the whole gathered or
        reduced tensor, as nccl-tests reports `size`), not the bytes per rank. Without
        `implementation`, the per-size minimum over the implementations measured for that kind
        (graph mode only); tables of the same element size serve each other (bf16 and fp16)."""
        if kind not in COLLECTIVE_KINDS:
            raise ValueError(f"unknown collective {kind!r}; expected one of {', '.join(COLLECTIVE_KINDS)}")
        op = COLLECTIVE_KINDS[kind]
        key = (op, int(num_gpus), ELEMENT_BYTES.get(canonical_dtype(dtype)), implementation)
        if key in self._cache:
            return self._cache[key]
        parts: list[tuple[str, CommTable]] = []
        for name in self._collective_tables(op, dtype):
            meta = self.tables_meta[name]
            impl = meta["implementation"]
            if implementation is None and meta.get("mode") == "eager":
                continue
            if implementation is not None and impl != implementation:
                continue
            t = self._comm_parts(name).get(int(num_gpus))
            if t is not None:
                parts.append((impl, t))
        if not parts:
            result = None
        elif len(parts) == 1:
            result = parts[0][1]
        else:
            parts.sort(key=lambda p: p[0])
            label = "fastest of " + ", ".join(p for p, _ in parts)
            result = CommTable.fastest(
                f"{op}[{num_gpus} gpus, {label}]", int(num_gpus), parts, dtype=canonical_dtype(dtype)
            )
        self._cache[key] = result
        return result

    def _collective_tables(self, op: str, dtype: str) -> list[str]:
        size = ELEMENT_BYTES.get(canonical_dtype(dtype))
        return sorted(
            name
            for name, m in self.tables_meta.items()
            if m["op"] == op and size is not None and ELEMENT_BYTES.get(m["dtype"]) == size
        )

    # -- MoE ----------------------------------------------------------------------------------------

    def moe(
        self,
        dtype: str,
        hidden_size: int,
        inter_size: int,
        topk: int,
        num_experts: int,
        *,
        moe_tp: int = 1,
        moe_ep: int = 1,
        distribution: str = "balanced",
    ) -> MoeTable | None:
        """The MoE block (routing, expert GEMMs, combine) of one layer for an exact model layout:
        `latency_us(num_tokens)`. dtype is the source's MoE quantisation name (bf16, fp8, fp8_block,
        nvfp4, int4_wo, w4a16_mxfp4, ...); distribution how tokens are routed (balanced,
        power_law_1.01, power_law_1.2). None when that layout was not measured: MoE tables are per
        model shape, and llmsim does not interpolate across shapes."""
        name = self._index.get(("moe", _moe_dtype(dtype), distribution))
        if name is None:
            return None
        return self._moe_parts(name).get((hidden_size, inter_size, topk, num_experts, moe_tp, moe_ep))

    def moe_layouts(self, dtype: str, distribution: str = "balanced") -> list[tuple[int, ...]]:
        """Measured (hidden_size, inter_size, topk, num_experts, moe_tp, moe_ep) for a dtype."""
        name = self._index.get(("moe", _moe_dtype(dtype), distribution))
        return sorted(self._moe_parts(name)) if name else []

    def moe_a2a(
        self, backend: str, phase: str, *, ep_size: int, node_num: int, hidden_size: int, topk: int,
        num_experts: int, dtype: str = "default",
    ) -> MoeTable | None:
        """The MoE all-to-all (dispatch or combine) of an expert-parallel group, e.g. DeepEP's
        `deepep_ht` (high throughput) or `deepep_ll` (low latency): `latency_us(num_tokens)`."""
        name = self._index.get(("moe_a2a", dtype, backend, phase))
        if name is None:
            return None
        return self._moe_parts(name).get((ep_size, node_num, hidden_size, topk, num_experts))

    def _moe_parts(self, name: str) -> dict[tuple[int, ...], MoeTable]:
        key = ("moe", name)
        parts = self._cache.get(key)
        if parts is None:
            data = self.raw_table(name)
            layouts = np.unique(data[:, :-2], axis=0)
            parts = {}
            for lay in layouts:
                rows = data[np.all(data[:, :-2] == lay, axis=1)]
                k = tuple(int(x) for x in lay)
                parts[k] = MoeTable(f"{name}{list(k)}", rows[:, -2], rows[:, -1])
            self._cache[key] = parts
        return parts

    def _comm_parts(self, name: str) -> dict[int, CommTable]:
        key = ("comm", name)
        parts = self._cache.get(key)
        if parts is None:
            meta = self.tables_meta[name]
            data = self.raw_table(name)
            parts = {}
            for g in np.unique(data[:, 0]).astype(int).tolist():
                rows = data[data[:, 0] == g]
                parts[g] = CommTable(
                    f"{name}[{g} gpus]",
                    g,
                    rows[:, 1],
                    rows[:, 2],
                    dtype=meta["dtype"],
                    implementations=(meta["implementation"],),
                    winner=(meta["implementation"],) * len(rows),
                )
            self._cache[key] = parts
        return parts

    def __repr__(self) -> str:
        n = len(self.tables_meta)
        return f"HardwareEntry({self.entry!r}, {self.engine!r}, {n} tables, sha256={self.sha256[:12]})"


# Parsed, schema-checked documents by the sha256 of their bytes: parsing a large entry.yaml is the
# slowest step of loading (PyYAML), and sweeps and tests load the same entry many times. Documents
# are shared between HardwareEntry objects and must be treated as read-only.
_CHECKED_DOCS: dict[str, dict[str, Any]] = {}
_CHECKED_DOCS_MAX = 16


def _checked_document(entry_file: Path) -> dict[str, Any]:
    try:
        raw = entry_file.read_bytes()
    except OSError:
        raw = None
    key = hashlib.sha256(raw).hexdigest() if raw is not None else None
    if key is not None and key in _CHECKED_DOCS:
        return _CHECKED_DOCS[key]
    doc = read_document(entry_file)
    problems = check_document(doc)
    if problems:
        p = problems[0]
        raise HwdbError(entry_file, p.path, p.message, p.help)
    if key is not None:
        if len(_CHECKED_DOCS) >= _CHECKED_DOCS_MAX:
            _CHECKED_DOCS.pop(next(iter(_CHECKED_DOCS)))
        _CHECKED_DOCS[key] = doc
    return doc


def check_unique(doc: dict[str, Any], entry_file: Path) -> list[HwdbError]:
    """Two tables (or two layer-wise sets) that describe the same thing."""
    out: list[HwdbError] = []
    seen: dict[tuple, str] = {}
    for name, meta in doc["tables"].items():
        k = lookup_key(meta)
        if k in seen:
            out.append(
                HwdbError(
                    entry_file,
                    ("tables", name),
                    f"describes the same table as `{seen[k]}`",
                    "an entry holds one table per op, dtype and layout",
                )
            )
        seen[k] = name
    sets: dict[tuple, int] = {}
    for i, item in enumerate(doc.get("layerwise", [])):
        k = layerwise_key(item)
        if k in sets:
            out.append(
                HwdbError(
                    entry_file,
                    ("layerwise", i),
                    f"repeats the layer-wise set of {k[0]} {k[1]} tp{k[2]} (item {sets[k]})",
                    "an entry holds one layer-wise set per model, dtype and TP degree",
                )
            )
        sets[k] = i
    return out


def load_document(ref: EntryRef) -> tuple[dict[str, Any], Path]:
    """entry.yaml parsed and schema-checked (first problem raised), identity and files checked."""
    entry_file = ref.path / ENTRY_FILE
    doc = _checked_document(entry_file)
    for errors in (
        check_identity(ref, doc, entry_file),
        check_entry_files(ref.path, doc, entry_file),
        check_unique(doc, entry_file),
    ):
        if errors:
            raise errors[0]
    return doc, entry_file


def load_entry(ref: EntryRef) -> HardwareEntry:
    """Load an entry's spec sheet and table index; raises HwdbError naming file and field."""
    doc, _ = load_document(ref)
    files = [ENTRY_FILE, *(file for _, file in declared_tables(doc))]
    return HardwareEntry(ref, doc, content_sha256(ref.path, files))
