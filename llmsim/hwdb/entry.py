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

from llmsim.hwdb.errors import HwdbError
from llmsim.hwdb.locate import ENTRY_FILE, EntryRef
from llmsim.hwdb.schema import OP_KEYS, check_document, dimensionless, quantity_value
from llmsim.hwdb.tables import AttentionTable, CommTable, GemmTable, read_table

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
    """One link of a device: bandwidth in bytes/s per direction, latency in integer ns."""

    bandwidth: float
    latency_ns: int


@dataclass(frozen=True)
class DeviceSpec:
    """The spec sheet: simulator units (bytes, bytes/s, FLOP/s, W, integer ns)."""

    name: str
    memory_bytes: int
    memory_bandwidth: float
    memory_efficiency: float
    launch_latency_ns: int
    peak_flops: dict[str, float]
    tdp_w: float | None
    idle_w: float | None
    links: dict[str, LinkSpec]
    gpus_per_node: int


def _ns(text: str) -> int:
    return round(quantity_value(text) * 10**9)


def device_spec(doc: dict[str, Any]) -> DeviceSpec:
    """Build a DeviceSpec from a `device:` mapping the schema has already accepted."""
    links = {
        name: LinkSpec(float(quantity_value(link["bandwidth"])), _ns(link["latency"]))
        for name, link in doc["links"].items()
    }
    tdp = doc.get("tdp")
    idle = doc.get("idle_power")
    return DeviceSpec(
        name=doc["name"],
        memory_bytes=round(quantity_value(doc["memory_capacity"])),
        memory_bandwidth=float(quantity_value(doc["memory_bandwidth"])),
        memory_efficiency=float(dimensionless(doc["memory_efficiency"])),  # type: ignore[arg-type]
        launch_latency_ns=_ns(doc["launch_latency"]),
        peak_flops={dt: float(quantity_value(v)) for dt, v in doc["peak_flops"].items()},
        tdp_w=float(quantity_value(tdp)) if tdp is not None else None,
        idle_w=float(quantity_value(idle)) if idle is not None else None,
        links=links,
        gpus_per_node=int(doc["gpus_per_node"]),
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
        h.update(rel.encode("utf-8") + b"\n" + str(len(data)).encode("ascii") + b"\n")
        h.update(data)
    return h.hexdigest()


def check_entry_files(entry_dir: Path, doc: dict[str, Any], entry_file: Path) -> list[HwdbError]:
    """Declared files that do not exist: every table file and the licence file."""
    out: list[HwdbError] = []
    for name, t in doc["tables"].items():
        if not (entry_dir / t["file"]).is_file():
            out.append(
                HwdbError(
                    entry_file,
                    ("tables", name, "file"),
                    f"table file `{t['file']}` does not exist",
                    f"expected it at {entry_dir / t['file']}",
                )
            )
    lic = doc["provenance"]["licence"]["file"]
    if not (entry_dir / lic).is_file():
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
    return (op, meta["dtype"], meta["implementation"])


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

    def table(self, name: str) -> GemmTable | AttentionTable | dict[int, CommTable]:
        """Any table by name as its typed object; an all-reduce table, which holds every group size,
        as {num_gpus: CommTable} for that one implementation."""
        meta = self.tables_meta[name]
        op = meta["op"]
        if op == "gemm":
            return self._gemm_named(name)
        if op.startswith("attention"):
            return self._attention_named(name)
        return dict(self._comm_parts(name))

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
        """The measured all-reduce implementations for this element size (e.g. ["nccl", "vllm_custom"])."""
        names = self._allreduce_tables(dtype)
        return sorted(self.tables_meta[n]["implementation"] for n in names)

    def allreduce_group_sizes(self, dtype: str = "bf16") -> list[int]:
        sizes: set[int] = set()
        for name in self._allreduce_tables(dtype):
            sizes.update(self._comm_parts(name))
        return sorted(sizes)

    def allreduce(self, num_gpus: int, dtype: str, implementation: str | None = None) -> CommTable | None:
        """All-reduce over `num_gpus` GPUs. By default the engine's fastest available path: the
        per-size minimum over every measured implementation (for vLLM: NCCL and its custom
        all-reduce). `implementation="nccl"` (or another measured one) gives that one alone.

        bf16 and fp16 share tables: an all-reduce's cost depends on bytes, not on which 2-byte type."""
        key = ("allreduce", int(num_gpus), ELEMENT_BYTES.get(canonical_dtype(dtype)), implementation)
        if key in self._cache:
            return self._cache[key]
        parts: list[tuple[str, CommTable]] = []
        for name in self._allreduce_tables(dtype):
            impl = self.tables_meta[name]["implementation"]
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
                f"allreduce[{num_gpus} gpus, {label}]", int(num_gpus), parts, dtype=canonical_dtype(dtype)
            )
        self._cache[key] = result
        return result

    def _allreduce_tables(self, dtype: str) -> list[str]:
        size = ELEMENT_BYTES.get(canonical_dtype(dtype))
        return sorted(
            name
            for name, m in self.tables_meta.items()
            if m["op"] == "allreduce" and size is not None and ELEMENT_BYTES.get(m["dtype"]) == size
        )

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


def load_document(ref: EntryRef) -> tuple[dict[str, Any], Path]:
    """entry.yaml parsed and schema-checked (first problem raised), identity and files checked."""
    entry_file = ref.path / ENTRY_FILE
    doc = _checked_document(entry_file)
    for errors in (check_identity(ref, doc, entry_file), check_entry_files(ref.path, doc, entry_file)):
        if errors:
            raise errors[0]
    seen: dict[tuple, str] = {}
    for name, meta in doc["tables"].items():
        k = lookup_key(meta)
        if k in seen:
            raise HwdbError(
                entry_file,
                ("tables", name),
                f"describes the same table as `{seen[k]}`",
                "an entry holds one table per op, dtype and layout",
            )
        seen[k] = name
    return doc, entry_file


def load_entry(ref: EntryRef) -> HardwareEntry:
    """Load an entry's spec sheet and table index; raises HwdbError naming file and field."""
    doc, _ = load_document(ref)
    files = [ENTRY_FILE, *(t["file"] for t in doc["tables"].values())]
    return HardwareEntry(ref, doc, content_sha256(ref.path, files))
