"""The built-in model catalog: Hugging Face configs shipped with llmsim, looked up by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"


def names() -> list[str]:
    """Every catalog name, sorted; the names a spec may write as `catalog = "..."`."""
    return sorted(p.stem for p in CATALOG_DIR.glob("*.json"))


def config_path(name: str) -> Path:
    """The `config.json` of a catalog model; KeyError if the name is not in the catalog."""
    path = CATALOG_DIR / f"{name}.json"
    if name not in names():
        raise KeyError(name)
    return path


def load_config(name: str) -> dict[str, Any]:
    return json.loads(config_path(name).read_text(encoding="utf-8"))
