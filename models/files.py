"""Writing artifacts atomically: the one mechanism every stage and checkpoint uses."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"  # package data: the shipped checkpoints
SHIPPED_PSNR_NAME = "psnr.json"  # the model stage's PSNR of every shipped checkpoint (make eval-zoo)


def short_path(path) -> str:
    """``path`` relative to the working directory when it lies below it (what a user would type), else as given."""
    path = Path(str(path))
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; it becomes ``path`` only if the block succeeds.

    A stage that fails half-way leaves nothing a later stage could mistake
    for a finished artifact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
