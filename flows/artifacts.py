"""Where each stage reads and writes: ``build/<model>/``, written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path

from fqsr.models.files import atomic_path  # noqa: F401 (the stages' one atomic writer)

REPO_ROOT = Path(__file__).resolve().parents[1]


def build_root() -> Path:
    return Path(os.environ.get("FQSR_BUILD", REPO_ROOT / "build"))


def model_dir(cfg, root: Path | None = None) -> Path:
    """``build/<model>``; extra per-layer bit overrides get their own folder (a hash of them)."""
    from fqsr.models.registry import file_stem

    return Path(root or build_root()) / file_stem(cfg)


def write_json(path: Path, data: dict) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return Path(path)
