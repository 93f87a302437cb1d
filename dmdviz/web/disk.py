"""The server's disk: an upload refused while it would leave less than ``DMDVIZ_DISK_MARGIN_MB``
free (``check_free``), and, at start, what earlier processes left behind (``clean_leftovers``):
upload folders (``dmdviz-uploads-*`` in the temporary folder) older than
``DMDVIZ_UPLOAD_TTL_S``, and the sample cache's empty key folders."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from pathlib import Path

from dmdviz.errors import DmdvizError

UPLOADS_PREFIX = "dmdviz-uploads-"
_KEY = re.compile(r"[0-9a-f]{32}")  # a sample cache key folder's name
SETTLE_S = 60  # a folder younger than this may be one a running process just made


def check_free(folder: Path, incoming: int, margin_mb: int) -> None:
    """Refuse ``incoming`` more bytes under ``folder`` if they would leave less than
    ``margin_mb`` MB free on its disk."""
    free = shutil.disk_usage(folder).free
    if free - incoming < margin_mb * 2**20:
        raise DmdvizError(f"the server's disk is nearly full ({max(free, 0) // 2**20:,} MB free; an upload must leave "
                          f"{margin_mb:,} MB, DMDVIZ_DISK_MARGIN_MB): try again later")


def check_upload(root: Path, files: list[Path], unpacked_max: int, margin_mb: int) -> None:
    """``check_free`` for uploaded ``files`` about to be copied under ``root`` (made again if an
    earlier process's clean-up took it): a zip counted at the most it may unpack to."""
    root.mkdir(parents=True, exist_ok=True)
    size = sum(p.stat().st_size for p in files if p.is_file())
    check_free(root, size + (unpacked_max if any(p.suffix == ".zip" for p in files) else 0), margin_mb)


def clean_leftovers(max_age_s: float, cache_root: Path | None, keep: Path | None = None,
                    now: float | None = None) -> int:
    """Delete upload roots of earlier processes (older than ``max_age_s``; never ``keep``, this
    process's own) and the empty key folders of the sample cache at ``cache_root``; returns how
    many folders went."""
    now = time.time() if now is None else now
    gone = 0
    for folder in Path(tempfile.gettempdir()).glob(UPLOADS_PREFIX + "*"):
        if keep is not None and folder.resolve() == keep.resolve():
            continue
        if _age(folder, now) > max(max_age_s, SETTLE_S):
            shutil.rmtree(folder, ignore_errors=True)
            gone += 1
    if cache_root is not None and cache_root.is_dir():
        for folder in cache_root.iterdir():
            if _KEY.fullmatch(folder.name) and _age(folder, now) > SETTLE_S and _empty(folder):
                with contextlib.suppress(OSError):  # filled meanwhile
                    folder.rmdir()
                    gone += 1
    return gone


def _age(folder: Path, now: float) -> float:
    try:
        return now - folder.stat().st_mtime if folder.is_dir() else -1.0
    except OSError:
        return -1.0


def _empty(folder: Path) -> bool:
    try:
        return not any(folder.iterdir())
    except OSError:
        return False
