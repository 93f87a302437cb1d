"""Where dmdviz finds and keeps things, read from the environment each time it is asked.

Nothing here is fixed at import, so a setting changed in a running process (a test's
``monkeypatch.setenv``, a server's configuration) reaches every reader. The size limits
are in ``limits`` (``Limits.from_env``), the sample cache's place and size in
``analysis.cache``; everything else that reads a ``DMDVIZ_*`` path is here.

    DMDVIZ_CHECKPOINTS  the shipped checkpoints (default ``<project>/checkpoints``)
    DMDVIZ_RUNS_DIR     the app's runs (default ``./runs``; sweeps in ``runs/sweeps``)
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the source tree: not a setting


def shipped_root() -> Path:
    """The folder of the shipped checkpoints: ``chessboard4d/teacher`` names ``<this>/chessboard4d/teacher``."""
    return Path(os.environ.get("DMDVIZ_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")


def runs_root() -> Path:
    """Where the app's runs live: ``$DMDVIZ_RUNS_DIR``, default ``./runs``; sweeps in ``sweeps/``."""
    return Path(os.environ.get("DMDVIZ_RUNS_DIR", "runs")).resolve()
