"""Where each stage reads and writes (``build/<model>/``, written atomically), and what it was made from.

The artifact contract: every artifact a stage writes is recorded in the
folder's ``provenance.json`` with the content hash of the artifact itself and
of each artifact it was made from, plus the settings of the stage and the fqsr
version. A stage trusts an input only if :func:`why_stale` finds nothing: the
artifact is unchanged since it was written (a hand-edited or truncated file is
caught by its hash) and its inputs are still the ones it was made from, all
the way up the chain. An artifact without a record (a QONNX file a user made
elsewhere) is a root: it is trusted as given, and what is made from it records
its hash.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from fqsr.models.errors import FqsrError
from fqsr.models.files import atomic_path  # noqa: F401 (the stages' one atomic writer)

PROVENANCE_NAME = "provenance.json"

# the artifacts of a model folder, by the name each stage writes (one place for every file name)
ONNX_NAME = "model.qonnx.onnx"
NETWORK_NAME = "network.pt"  # the exported network itself (config and weights), for checks that run it again
DATAFLOW_NAME = "dataflow.onnx"
FOLDING_NAME = "folding.json"
ESTIMATES_NAME = "estimates.json"
COMPILE_NAME = "compile.json"
RTL_DIRNAME = "rtl"
VERIFY_NAME = "sim/verify.json"
HIL_NAME = "hil.json"


def build_root() -> Path:
    """``$FQSR_BUILD``, else ``build/`` in the working directory (never inside the installed package)."""
    return Path(os.environ.get("FQSR_BUILD", Path.cwd() / "build"))


def model_dir(cfg, root: Path | None = None) -> Path:
    """``build/<model>``; extra per-layer bit overrides get their own folder (a hash of them)."""
    from fqsr.models.registry import file_stem

    return Path(root or build_root()) / file_stem(cfg)


def write_json(path: Path, data: dict) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return Path(path)


def fqsr_version() -> str:
    try:
        return metadata.version("fqsr")
    except metadata.PackageNotFoundError:
        return "unknown"


def content_hash(path: Path) -> str | None:
    """sha256 of a file, or of a folder's files (relative names and bytes, sorted); None if absent."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        files = [(path.name, path)]
    elif path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    else:
        return None
    for name, file in files:
        digest.update(name.encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _records(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / PROVENANCE_NAME).read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise FqsrError(f"{Path(folder) / PROVENANCE_NAME} is corrupt; delete {folder} and rebuild it") from None


def record(folder, artifact: str, inputs=(), settings: dict | None = None) -> dict:
    """Record ``artifact`` (a path relative to ``folder``) as made from ``inputs`` with ``settings``."""
    folder = Path(folder)
    entry = {"sha256": content_hash(folder / artifact),
             "inputs": {name: content_hash(folder / name) for name in inputs},
             "settings": settings or {}, "fqsr": fqsr_version()}
    if entry["sha256"] is None:
        raise FqsrError(f"{folder / artifact} was not written")
    records = _records(folder)
    records[artifact] = entry
    write_json(folder / PROVENANCE_NAME, records)
    return entry


def forget(folder, *artifacts: str) -> None:
    """Drop the records (a stage that starts again makes them void until it succeeds)."""
    records = _records(folder)
    dropped = [a for a in artifacts if records.pop(a, None) is not None]
    if dropped:
        write_json(Path(folder) / PROVENANCE_NAME, records)


def why_stale(folder, artifact: str, _records_cache: dict | None = None) -> str | None:
    """None if ``artifact`` and its whole chain are as recorded; else what is wrong, in a few words."""
    folder = Path(folder)
    records = _records(folder) if _records_cache is None else _records_cache
    path = folder / artifact
    if not path.exists():
        return f"{artifact} does not exist"
    entry = records.get(artifact)
    if entry is None:
        return f"{artifact} has no provenance record"
    if content_hash(path) != entry["sha256"]:
        return f"{artifact} was changed after fqsr wrote it"
    for name, digest in entry["inputs"].items():
        reason = why_stale(folder, name, records) if name in records else None  # the earliest break first
        if reason:
            return reason
        if content_hash(folder / name) != digest:
            return f"{artifact} was made from another {name} than the one now in {folder}"
    return None


def settings_of(folder, artifact: str) -> dict:
    return _records(folder).get(artifact, {}).get("settings", {})


def require_current(folder, artifact: str, command: str) -> None:
    """Raise one sentence naming ``command`` unless ``artifact``'s chain is intact.

    An artifact with no record is a user's own input (a QONNX or dataflow graph made
    elsewhere) and is used as given; the proofs of the stages after it still hold for it."""
    folder = Path(folder)
    if not (folder / artifact).exists():
        raise FqsrError(f"{folder / artifact} does not exist; run `{command}` first")
    if artifact not in _records(folder):
        return
    reason = why_stale(folder, artifact)
    if reason:
        raise FqsrError(f"{folder / artifact} cannot be trusted ({reason}); run `{command}` again")
