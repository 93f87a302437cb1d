"""Files a run leaves, written so a kill never leaves half of one: the one place that
writes, reads and watches them.

- ``atomic_write``: a file written through a temp sibling and ``os.replace``, so a kill
  leaves the old file or the new one, never half of one.
- JSON Lines (``metrics.jsonl``, ``results.jsonl``): ``append``, ``read_jsonl``, ``Tail``
  (incremental reads for polling) and ``cut_torn_tail``, under ONE torn-line rule: a line
  counts once its newline is written. A kill can leave a last line without one; no reader
  returns it, and ``cut_torn_tail`` drops it before anything is appended after it.
- ``status.json`` (``write_status`` / ``read_json``) and the ``STOP`` file
  (``request_stop`` / ``stop_requested`` / ``clear_stop``): the one stop protocol. A worker
  polls ``stop_requested`` at each step, leaves its folder resumable and clears the file.

Background workers are started and counted by ``experiments.launcher``. No torch here.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path

from dmdviz.errors import DmdvizError

NAME = re.compile(r"^(?!\.+$)[\w.-]{1,64}$")  # a run or sweep name: one path component, never ".." or "a/b"
METRICS = "metrics.jsonl"
STOP = "STOP"
FINAL = ("done", "failed", "cancelled")  # states a worker writes last, just before it exits
_tail_lock = threading.Lock()


def check_name(name: str, what: str = "run") -> str:
    if not NAME.match(name or ""):
        raise DmdvizError(f"{name!r} is not a {what} name (letters, digits, . _ - only, at most 64)")
    return name


# --------------------------------------------------------------------------- files


def atomic_write(path, write) -> None:
    """``write(tmp_path)`` then ``os.replace``: a kill leaves the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path, value, indent: int | None = 2) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(value, indent=indent) + "\n"))


def read_json(path) -> dict:
    """A JSON object file, {} when it is missing or unreadable (a status being replaced)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _parse(lines: list[bytes], path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError:
        raise DmdvizError(f"{path} holds a line that is not JSON (not a torn last line: the file is damaged)") from None


def _complete(data: bytes) -> bytes:
    """The bytes up to the last newline: the torn-line rule."""
    return data[: data.rfind(b"\n") + 1]


def read_jsonl(path) -> list[dict]:
    """Every complete line of a JSON Lines file (a folder: its ``metrics.jsonl``); [] when absent."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return _parse(_complete(data).splitlines(), path)


def read_metrics(folder) -> list[dict]:
    """A run folder's ``metrics.jsonl`` records (or those of the file given)."""
    return read_jsonl(folder)


def cut_torn_tail(path) -> None:
    """Drop a last line torn by a kill, so that the next appended line stays whole."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        atomic_write(path, lambda p: p.write_bytes(_complete(data)))


def append(path, record: dict) -> None:
    """Append one record as one line (callers cut a torn tail once, when they open the file)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def keep_until(path, step: int) -> None:
    """Rewrite a metrics file with its complete lines of ``step`` <= ``step`` only (a resume)."""
    path = Path(path)
    try:
        lines = _complete(path.read_bytes()).splitlines()
    except FileNotFoundError:
        return
    kept = [line for line, rec in zip([x for x in lines if x.strip()], _parse(lines, path)) if rec.get("step", 0) <= step]
    atomic_write(path, lambda p: p.write_bytes(b"".join(line + b"\n" for line in kept)))


class Tail:
    """Incremental reads of JSON Lines files for polling: each read parses only the lines
    added since the last one. A file rewritten (a new inode, or shorter: a resumed trainer
    cut it back) is read again from the start."""

    def __init__(self):
        self._seen: dict[Path, tuple[int, int, list]] = {}

    def read(self, path) -> list[dict]:
        path = Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            return []
        with _tail_lock:
            inode, offset, recs = self._seen.get(path, (st.st_ino, 0, []))
            if inode != st.st_ino or st.st_size < offset:
                offset, recs = 0, []
            if st.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = _complete(f.read(st.st_size - offset))
                recs = recs + _parse(chunk.splitlines(), path)
                offset += len(chunk)
            self._seen[path] = (st.st_ino, offset, recs)
            return recs


# --------------------------------------------------------------------------- status and stop


def write_status(folder, **status) -> None:
    status["updated"] = time.time()
    write_json(Path(folder) / "status.json", status, indent=None)


def request_stop(folder) -> None:
    """Ask the folder's worker to stop at its next step (it leaves the run resumable)."""
    (Path(folder) / STOP).touch()


def stop_requested(folder) -> bool:
    return (Path(folder) / STOP).exists()


def clear_stop(folder) -> None:
    (Path(folder) / STOP).unlink(missing_ok=True)


__all__ = ["FINAL", "NAME", "Tail", "append", "atomic_write", "check_name", "clear_stop", "cut_torn_tail", "keep_until",
           "read_json", "read_jsonl", "read_metrics", "request_stop", "stop_requested", "write_json", "write_status"]
