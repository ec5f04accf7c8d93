"""Trace readers: request traces as numpy columns, with errors that name the file and line.

Formats (`TraceSource.format`):
- `sharegpt`: JSONL `{input_toks, output_toks, arrival_time_ns[, input_tok_ids]}` (LLMServingSim);
- `azure`: CSV `TIMESTAMP,ContextTokens,GeneratedTokens` (Azure LLM inference trace 2023);
- `mooncake`: JSONL `{timestamp (ms), input_length, output_length, hash_ids}` (Mooncake FAST'25);
- `vidur`: CSV `arrived_at (s),num_prefill_tokens,num_decode_tokens` (Vidur's processed traces;
  `arrived_at` may be absent, then the trace has lengths only).
Times are read exactly into integer nanoseconds (decimal strings are not passed through floats).
Any of them may be gzip-compressed (a `.gz` suffix).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

import numpy as np
from msgspec import Struct

from llmsim.diagnostics import UserError, did_you_mean, suggestion_text

FORMATS = ("azure", "mooncake", "sharegpt", "vidur")


class Ragged:
    """A list of int arrays stored as one flat array and offsets (row i is flat[off[i]:off[i+1]])."""

    __slots__ = ("flat", "offsets")

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        self.flat = flat
        self.offsets = offsets

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]], dtype: type = np.int64) -> Ragged:
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        flat = np.fromiter((x for r in rows for x in r), dtype=dtype, count=int(offsets[-1]))
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def take(self, order: np.ndarray) -> Ragged:
        """Rows in the given order."""
        return Ragged.from_rows([self[int(i)] for i in order], self.flat.dtype.type)


class TraceData(Struct, frozen=True, eq=False):
    path: Path
    arrival_ns: np.ndarray | None  # as recorded (the trace's own clock), int64 ns; None if absent
    prompt_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    token_ids: Ragged | None = None  # prompt token ids per request
    hash_ids: Ragged | None = None  # 512-token content ids per request

    def __len__(self) -> int:
        return len(self.prompt_tokens)


def _fail(path: Path, line: int, what: str) -> UserError:
    return UserError(f"{path}:{line}: {what}", help="fix or remove that line of the trace")


def _open(path: Path, newline: str | None = None) -> TextIO:
    """Open a trace as text; a `.gz` file is decompressed on the fly, so traces can be stored small."""
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8", newline=newline)
        return open(path, encoding="utf-8", newline=newline)
    except OSError as e:
        raise UserError(f"cannot read trace {path}: {e.strerror or e}") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with _open(path) as f:
        try:
            yield from enumerate(f, start=1)
        except UnicodeDecodeError as e:
            raise UserError(f"cannot read trace {path}: not UTF-8 text ({e.reason})") from None
        except (OSError, EOFError) as e:  # a damaged or truncated .gz file
            raise UserError(f"cannot read trace {path}: {e}") from None


def _positive_int(path: Path, line: int, key: str, value: object) -> int:
    if type(value) is str and value.isascii() and value.isdecimal():  # a CSV cell: the common case
        n = int(value)
        if n >= 1:
            return n
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        if isinstance(value, str) and value.strip().isdigit() and int(value) >= 1:
            return int(value)
        raise _fail(path, line, f"`{key}` must be a positive integer, got {value!r}")
    return value


def _number_ns(path: Path, line: int, key: str, value: object, ns_per_unit: int) -> int:
    """A non-negative time in some unit (int, float or decimal string) as integer ns, exactly."""
    if type(value) is str and value.isascii():  # a plain decimal (a CSV cell), exactly, without Decimal
        whole, dot, frac = value.partition(".")
        if whole.isdecimal() and (not dot or frac.isdecimal()):
            scale = 10 ** len(frac) if dot else 1
            if ns_per_unit % scale == 0:
                return int(whole) * ns_per_unit + (int(frac) * (ns_per_unit // scale) if dot else 0)
    if isinstance(value, bool):
        raise _fail(path, line, f"`{key}` must be a number, got {value!r}")
    if isinstance(value, int):
        ns = value * ns_per_unit
    else:
        try:
            d = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
            if not d.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise _fail(path, line, f"`{key}` must be a number, got {value!r}") from None
        ns = int((d * ns_per_unit).to_integral_value())
    if ns < 0:
        raise _fail(path, line, f"`{key}` must not be negative, got {value!r}")
    return ns


def _jsonl(path: Path, limit: int | None) -> Iterator[tuple[int, dict]]:
    taken = 0
    for line_no, text in _lines(path):
        if limit is not None and taken >= limit:
            return
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise _fail(path, line_no, f"not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise _fail(path, line_no, "expected a JSON object")
        taken += 1
        yield line_no, obj


def _require(path: Path, line: int, obj: dict, key: str) -> object:
    if key not in obj:
        raise _fail(path, line, f"missing `{key}`")
    return obj[key]


def _int_list(path: Path, line: int, key: str, value: object) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        raise _fail(path, line, f"`{key}` must be a list of integers")
    return value


def read_sharegpt(path: Path, limit: int | None = None) -> TraceData:
    arrivals: list[int] = []
    prompts: list[int] = []
    outputs: list[int] = []
    ids: list[list[int]] = []
    with_ids = None
    for line, obj in _jsonl(path, limit):
        p = _positive_int(path, line, "input_toks", _require(path, line, obj, "input_toks"))
        prompts.append(p)
        outputs.append(_positive_int(path, line, "output_toks", _require(path, line, obj, "output_toks")))
        arrivals.append(
            _number_ns(path, line, "arrival_time_ns", _require(path, line, obj, "arrival_time_ns"), 1)
        )
        has = "input_tok_ids" in obj
        if with_ids is None:
            with_ids = has
        elif has != with_ids:
            raise _fail(path, line, "`input_tok_ids` must be given on every line or on none")
        if has:
            tok = _int_list(path, line, "input_tok_ids", obj["input_tok_ids"])
            if len(tok) != p:
                raise _fail(path, line, f"`input_tok_ids` has {len(tok)} ids but `input_toks` is {p}")
            ids.append(tok)
    return TraceData(
        path,
        np.array(arrivals, dtype=np.int64),
        np.array(prompts, dtype=np.int64),
        np.array(outputs, dtype=np.int64),
        token_ids=Ragged.from_rows(ids, np.int64) if with_ids else None,
    )


def read_mooncake(path: Path, limit: int | None = None) -> TraceData:
    arrivals: list[int] = []
    prompts: list[int] = []
    outputs: list[int] = []
    hashes: list[list[int]] = []
    for line, obj in _jsonl(path, limit):
        arrivals.append(
            _number_ns(path, line, "timestamp", _require(path, line, obj, "timestamp"), 1_000_000)
        )
        prompts.append(_positive_int(path, line, "input_length", _require(path, line, obj, "input_length")))
        outputs.append(_positive_int(path, line, "output_length", _require(path, line, obj, "output_length")))
        hashes.append(_int_list(path, line, "hash_ids", _require(path, line, obj, "hash_ids")))
    return TraceData(
        path,
        np.array(arrivals, dtype=np.int64),
        np.array(prompts, dtype=np.int64),
        np.array(outputs, dtype=np.int64),
        hash_ids=Ragged.from_rows(hashes, np.int64),
    )


def _csv_columns(
    path: Path, required: Sequence[str], optional: Sequence[str], limit: int | None
) -> tuple[list[int], dict[str, list[str]]]:
    """The CSV's line numbers and, per column asked for that it has, its cells (blank lines skipped)."""
    with _open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise _fail(path, 1, "empty file: expected a header line")
            header = [h.strip() for h in header]
            for col in required:
                if col not in header:
                    help_text = suggestion_text(did_you_mean(col, header))
                    raise UserError(
                        f"{path}:1: missing column `{col}`",
                        help=help_text or f"the header must name {', '.join(required)}",
                    )
            index = {c: header.index(c) for c in (*required, *optional) if c in header}
            lines: list[int] = []
            rows: list[list[str]] = []
            width = len(header)
            for row in reader:
                if limit is not None and len(rows) >= limit:
                    break
                if len(row) != width:
                    if not row or all(not x.strip() for x in row):
                        continue
                    raise _fail(path, reader.line_num, f"expected {width} fields, found {len(row)}")
                if not row[0].strip() and all(not x.strip() for x in row):
                    continue
                lines.append(reader.line_num)
                rows.append(row)
        except csv.Error as e:
            raise _fail(path, reader.line_num, f"bad CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise UserError(f"cannot read trace {path}: not UTF-8 text ({e.reason})") from None
        except (OSError, EOFError) as e:  # a damaged or truncated .gz file
            raise UserError(f"cannot read trace {path}: {e}") from None
    return lines, {c: [row[i] for row in rows] for c, i in index.items()}


_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$")


def _timestamp_ns(path: Path, line: int, text: str) -> int:
    """`2023-11-16 18:15:46.6805900` (UTC unless an offset is given) as ns since the epoch."""
    m = _TIMESTAMP.match(text.strip())
    try:
        if m is None:
            raise ValueError
        base, frac, tz = m.groups()
        dt = datetime.fromisoformat(base + ("+00:00" if tz in (None, "Z") else tz))
    except ValueError:
        raise _fail(path, line, f"`TIMESTAMP` is not a date and time: {text!r}") from None
    import calendar  # here: it imports locale, which only Azure timestamps need

    seconds = calendar.timegm(dt.astimezone(UTC).timetuple())
    return seconds * 1_000_000_000 + int((frac or "0")[:9].ljust(9, "0"))


def read_azure(path: Path, limit: int | None = None) -> TraceData:
    lines, cols = _csv_columns(path, ("TIMESTAMP", "ContextTokens", "GeneratedTokens"), (), limit)
    arrivals: list[int] = []
    prompts: list[int] = []
    outputs: list[int] = []
    for line, stamp, prompt, output in zip(lines, cols["TIMESTAMP"], cols["ContextTokens"], cols["GeneratedTokens"]):
        arrivals.append(_timestamp_ns(path, line, stamp))
        prompts.append(_positive_int(path, line, "ContextTokens", prompt))
        outputs.append(_positive_int(path, line, "GeneratedTokens", output))
    return TraceData(
        path,
        np.array(arrivals, dtype=np.int64),
        np.array(prompts, dtype=np.int64),
        np.array(outputs, dtype=np.int64),
    )


def read_vidur(path: Path, limit: int | None = None) -> TraceData:
    lines, cols = _csv_columns(path, ("num_prefill_tokens", "num_decode_tokens"), ("arrived_at",), limit)
    times = cols.get("arrived_at")
    arrivals: list[int] = []
    prompts: list[int] = []
    outputs: list[int] = []
    for i, (line, prompt, output) in enumerate(zip(lines, cols["num_prefill_tokens"], cols["num_decode_tokens"])):
        if times is not None:
            arrivals.append(_number_ns(path, line, "arrived_at", times[i], 1_000_000_000))
        prompts.append(_positive_int(path, line, "num_prefill_tokens", prompt))
        outputs.append(_positive_int(path, line, "num_decode_tokens", output))
    return TraceData(
        path,
        np.array(arrivals, dtype=np.int64) if times is not None else None,
        np.array(prompts, dtype=np.int64),
        np.array(outputs, dtype=np.int64),
    )


READERS: dict[str, Callable[[Path, int | None], TraceData]] = {
    "azure": read_azure,
    "mooncake": read_mooncake,
    "sharegpt": read_sharegpt,
    "vidur": read_vidur,
}


def read_trace(path: Path, fmt: str, limit: int | None = None) -> TraceData:
    """The first `limit` requests (all if None) of a trace file."""
    reader = READERS.get(fmt)
    if reader is None:
        raise UserError(
            f"unknown trace format `{fmt}`",
            help=suggestion_text(did_you_mean(fmt, READERS)) or f"known formats: {', '.join(FORMATS)}",
        )
    data = reader(Path(path), limit)
    if len(data) == 0:
        raise UserError(f"trace {path} has no requests")
    return data
