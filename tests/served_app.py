"""What the app-serving tests share (imported by name: a conftest of tests/e2e would shadow
tests/conftest.py): the tiny pair as a finished run, and a free port."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

TINY_RUN = "runs/tiny/student"  # the tiny pair as the served app sees it: a finished run


def finished_run(tiny_pair, runs: Path, name: str = "tiny", records: Path | None = None) -> Path:
    """A teacher and student copied into ``runs`` as a finished run (as ``jobs`` leaves one:
    job.json, status done, the student recording the run's own teacher folder, or ``records``)."""
    folder = runs / name
    shutil.copytree(tiny_pair[0], folder / "teacher", ignore=shutil.ignore_patterns("snapshots", "state.*"))
    shutil.copytree(tiny_pair[1], folder / "student", ignore=shutil.ignore_patterns("state.*"))
    cfg = json.loads((folder / "student" / "config.json").read_text())
    cfg["teacher"] = {"ref": str((records or folder / "teacher").resolve()), "revision": ""}
    (folder / "student" / "config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "job.json").write_text(json.dumps({"preset": "chessboard4d"}))
    (folder / "status.json").write_text(json.dumps({"state": "done", "phase": "done", "step": 1, "total": 1}))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
