"""A real serving run on disk, in the layout of LLMServingSim's benchmark (`<hardware>/<model>/`).

```
vllm/meta.json         engine settings, the KV capacity the engine had, the GPU
vllm/requests.jsonl    per request: token counts and engine timestamps (queued, scheduled, first and last token)
vllm/timeseries.csv    per second: running and waiting requests, throughput, KV usage   (optional)
dataset.jsonl[.gz]     the same requests with their prompt token ids, in order             (optional)
```

Requests are kept in the order the engine queued them (stable for equal timestamps), which is the
order the simulation replays them.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsim.diagnostics import UserError

REQUEST_KEYS = ("input_toks", "output_toks", "queued_ts", "scheduled_ts", "first_token_ts", "last_token_ts")


@dataclass
class RunDir:
    path: Path
    meta: dict[str, Any]
    requests: list[dict[str, Any]]  # sorted by queued_ts
    token_ids: list[list[int]] | None  # prompt token ids, aligned with `requests`
    timeseries: list[dict[str, float]] | None

    @property
    def hardware_hint(self) -> str:
        """The run's hardware as the folder layout names it (`RTX4090`)."""
        return self.path.resolve().parent.name

    @property
    def engine_kwargs(self) -> dict[str, Any]:
        return self.meta.get("engine_kwargs") or {}

    @property
    def resolved(self) -> dict[str, Any]:
        return self.meta.get("resolved_config") or {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{n}: not valid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise UserError(f"{path}:{n}: expected a JSON object")
                rows.append(row)
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    return rows


def load_run(path: Path) -> RunDir:
    """Read a run folder; a missing or malformed file is a user error naming the file and line."""
    if not path.is_dir():
        raise UserError(f"no such run folder `{path}`",
                        help="give a folder holding vllm/meta.json and vllm/requests.jsonl")
    meta_path, req_path = path / "vllm" / "meta.json", path / "vllm" / "requests.jsonl"
    for p in (meta_path, req_path):
        if not p.is_file():
            raise UserError(f"`{path}` is not a run folder: `{p.relative_to(path)}` is missing",
                            help="a run folder holds vllm/meta.json and vllm/requests.jsonl")
    meta = _read_json(meta_path)
    if not isinstance(meta, dict):
        raise UserError(f"{meta_path}: expected a JSON object")
    raw = _jsonl(req_path)
    for n, row in enumerate(raw, start=1):
        for key in REQUEST_KEYS:
            if not isinstance(row.get(key), (int, float)) or isinstance(row.get(key), bool):
                raise UserError(f"{req_path}: request {n} has no numeric `{key}`",
                                help="each line needs " + ", ".join(f"`{k}`" for k in REQUEST_KEYS))
        if row["output_toks"] < 1 or row["input_toks"] < 1:
            raise UserError(f"{req_path}: request {n} has no input or output tokens")
    order = sorted(range(len(raw)), key=lambda i: (raw[i]["queued_ts"], i))
    requests = [raw[i] for i in order]
    token_ids = None
    for name in ("dataset.jsonl", "dataset.jsonl.gz"):
        ds_path = path / name
        if ds_path.is_file():
            dataset = _jsonl(ds_path)
            if len(dataset) != len(raw):
                raise UserError(f"{ds_path} has {len(dataset)} requests, requests.jsonl {len(raw)}",
                                help="the dataset must list the run's requests in order")
            ids = []
            for i in order:
                row = dataset[i]
                toks = row.get("input_tok_ids")
                if not isinstance(toks, list) or len(toks) != raw[i]["input_toks"]:
                    raise UserError(f"{ds_path}: request {i + 1}: `input_tok_ids` does not match "
                                    f"input_toks = {raw[i]['input_toks']}")
                ids.append(toks)
            token_ids = ids
            break
    timeseries = None
    ts_path = path / "vllm" / "timeseries.csv"
    if ts_path.is_file():
        try:
            with ts_path.open(encoding="utf-8", newline="") as f:
                timeseries = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        except (ValueError, TypeError, OSError) as e:
            raise UserError(f"{ts_path}: not a numeric CSV ({e})") from None
    return RunDir(path, meta, requests, token_ids, timeseries)
