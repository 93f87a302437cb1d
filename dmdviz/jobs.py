"""Background training runs for the app: a teacher, then its student, in a subprocess.

A run is a folder under the runs root (``$DMDVIZ_RUNS_DIR``, default ``./runs``)::

    job.json      what to train (JobSpec)
    status.json   state (running, done, failed, cancelled), phase, pid, message
    log.txt       the worker's stdout and stderr
    teacher/      train_teacher's run folder; a checkpoint once config.json exists
    student/      distill's run folder, likewise
    STOP          present while a cancel is pending

Why a subprocess and not a thread: torch's thread count is per process (a job beside the
server must use one thread, ``DMDVIZ_JOB_THREADS``), the job outlives the browser tab and
even a server restart (it runs in its own session), and a crash in training cannot take
the server down. A worker that died without writing its final state (killed, machine
restarted) reads as ``interrupted``; ``resume`` starts a new worker on the same folder and
the trainers continue from their last saved state (``resume=True``), so ``metrics.jsonl``
goes on where it stopped.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dmdviz import hub, noise
from dmdviz.config import GAN_WEIGHT_D, get_preset
from dmdviz.errors import DmdvizError
from dmdviz.limits import Limits

ACTIVE = ("starting", "running")
_NAME = re.compile(r"^[\w.-]{1,64}$")
_children: dict[int, subprocess.Popen] = {}
_tails: dict[Path, tuple[int, int, list]] = {}
_lock = threading.Lock()


def runs_root() -> Path:
    return Path(os.environ.get("DMDVIZ_RUNS_DIR", "runs")).resolve()


@dataclass(frozen=True)
class JobSpec:
    """A teacher/student run; ``dim`` 0 keeps the preset's dimension (vector sets only) and
    ``batch`` 0 the preset's batch sizes."""

    preset: str = "chessboard4d"
    dim: int = 0
    teacher_steps: int = 1000
    student_steps: int = 300
    ratio: int = 5
    gan_weight: float = 0.0
    init: str = "teacher"
    seed: int = 0
    batch: int = 0

    def check(self, limits: Limits) -> None:
        p = get_preset(self.preset)
        noise.check_seed(self.seed)
        for name in ("teacher_steps", "student_steps"):
            value = getattr(self, name)
            if not 1 <= value <= limits.max_steps:
                raise DmdvizError(f"{name.replace('_', ' ')} must be between 1 and {limits.max_steps}, got {value}")
        if self.dim and (len(p.net.shape) != 1 or not 2 <= self.dim <= 1024):
            raise DmdvizError(f"dimension applies to vector presets only and must be 2..1024, got {self.dim}"
                              if len(p.net.shape) == 1 else f"preset {self.preset} has a fixed image shape")
        # written so that a NaN GAN weight fails too (every comparison with NaN is false)
        if self.ratio < 1 or not 0 <= self.gan_weight < float("inf") or self.init not in ("teacher", "random") or self.batch < 0:
            raise DmdvizError("need ratio >= 1, a finite GAN weight >= 0, batch >= 0 and init 'teacher' or 'random'")

    def configs(self):
        """(data, net, teacher, distill) configs: the preset with this spec's overrides."""
        p = get_preset(self.preset)
        data, net = p.data, p.net
        if self.dim:
            data, net = replace(data, dim=self.dim), replace(net, shape=(self.dim,))
        # short runs still log often enough to draw a curve and probe the copying meter
        teacher = replace(p.teacher, steps=self.teacher_steps, seed=self.seed,
                          log_every=max(1, min(p.teacher.log_every, self.teacher_steps // 40)),
                          snapshots=tuple(s for s in p.teacher.snapshots if s < self.teacher_steps),
                          batch=self.batch or p.teacher.batch)
        # the app's GAN weight is the generator's; the discriminator's is DMD2's whenever the term is on
        gan = {"gan_weight_g": self.gan_weight, "gan_weight_d": GAN_WEIGHT_D} if self.gan_weight else {}
        student = replace(p.distill, steps=self.student_steps, ratio=self.ratio, **gan,
                          init=self.init, seed=self.seed, batch=self.batch or p.distill.batch,
                          probe_every=max(1, min(p.distill.probe_every, self.student_steps // 10)))
        return data, net, teacher, student


@dataclass
class Progress:
    """What the Train tab shows: state, position in the two phases, the metric records."""

    run: str
    state: str
    phase: str
    step: int
    total: int
    message: str = ""
    teacher: list[dict] = field(default_factory=list)
    student: list[dict] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0


def _folder(run: str, root: Path | None) -> Path:
    if not _NAME.match(run or ""):
        raise DmdvizError(f"{run!r} is not a run name (letters, digits, . _ - only)")
    folder = (root or runs_root()) / run
    if not (folder / "job.json").is_file():
        raise DmdvizError(f"no run named {run!r} in {folder.parent}")
    return folder


def _write_status(folder: Path, **status) -> None:
    status["updated"] = time.time()
    hub.atomic_write(folder / "status.json", lambda p: p.write_text(json.dumps(status) + "\n"))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def track(child: subprocess.Popen) -> None:
    """Remember a child process this server started, so ``process_alive`` can reap it."""
    _children[child.pid] = child


def process_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:  # our own child: poll() also reaps it, so it leaves no zombie
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def state(folder: Path) -> tuple[str, dict]:
    """(state, status.json); a worker that died while running reads as ``interrupted``."""
    status = _read_json(folder / "status.json")
    current = status.get("state", "interrupted")
    if current in ACTIVE and not process_alive(int(status.get("pid", 0)) or -1):
        current = "interrupted"
    return current, status


def list_runs(root: Path | None = None) -> list[str]:
    """Run names under the root, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / "job.json").is_file()]
    return [p.name for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def finished_pairs(root: Path | None = None) -> list[tuple[str, Path, Path]]:
    """(run name, teacher folder, student folder) of every run whose student is written."""
    root = root or runs_root()
    return [(name, root / name / "teacher", root / name / "student") for name in list_runs(root)
            if (root / name / "student" / "config.json").is_file()]


def running(root: Path | None = None) -> list[str]:
    root = root or runs_root()
    return [name for name in list_runs(root) if state(root / name)[0] in ACTIVE]


def _spawn(folder: Path, limits: Limits) -> None:
    env = {**os.environ, "DMDVIZ_THREADS": str(limits.job_threads)}
    with open(folder / "log.txt", "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "dmdviz.jobs", str(folder)], stdout=log,
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                 cwd=Path(__file__).resolve().parent.parent)
    track(child)
    # the worker's first status write comes after its torch import (seconds later), so this
    # one cannot overwrite it
    _write_status(folder, state="starting", phase="starting", pid=child.pid, message="")


def _check_capacity(root: Path, limits: Limits) -> None:
    active = running(root)
    if len(active) >= limits.max_jobs:
        raise DmdvizError(f"{len(active)} job(s) already running (limit {limits.max_jobs}): "
                          "wait for one to finish or cancel it")


def start(spec: JobSpec, name: str = "", root: Path | None = None, limits: Limits | None = None) -> str:
    """Create a run folder for ``spec`` and start its worker; returns the run name."""
    limits, root = limits or Limits.from_env(), root or runs_root()
    spec.check(limits)
    with _lock:
        _check_capacity(root, limits)
        name = name.strip() or f"{spec.preset}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        if not _NAME.match(name):
            raise DmdvizError(f"{name!r} is not a run name (letters, digits, . _ - only, at most 64)")
        folder = root / name
        if folder.exists():
            raise DmdvizError(f"a run named {name!r} exists already; choose another name")
        folder.mkdir(parents=True)
        (folder / "job.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
        _spawn(folder, limits)
    return name


def resume(run: str, root: Path | None = None, limits: Limits | None = None) -> None:
    """Start a new worker on an interrupted, cancelled or failed run; it continues the run."""
    limits, folder = limits or Limits.from_env(), _folder(run, root)
    with _lock:
        current, _ = state(folder)
        if current in ACTIVE:
            raise DmdvizError(f"run {run} is already running")
        if current == "done":
            raise DmdvizError(f"run {run} has finished; start a new one")
        _check_capacity(folder.parent, limits)
        (folder / "STOP").unlink(missing_ok=True)
        _spawn(folder, limits)


def cancel(run: str, root: Path | None = None) -> None:
    """Ask the worker to stop: it saves its state at the next step and exits (resumable)."""
    folder = _folder(run, root)
    if state(folder)[0] not in ACTIVE:
        raise DmdvizError(f"run {run} is not running")
    (folder / "STOP").touch()


def _records(path: Path) -> list[dict]:
    """metrics.jsonl, read incrementally: polls parse only the lines added since the last poll.

    A resumed trainer rewrites the file (a new inode) when it cuts it back; that resets the
    cache. A torn last line is left for the next read.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return []
    with _lock:
        inode, offset, recs = _tails.get(path, (st.st_ino, 0, []))
        if inode != st.st_ino or st.st_size < offset:
            offset, recs = 0, []
        if st.st_size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(st.st_size - offset)
            end = chunk.rfind(b"\n") + 1
            recs = recs + [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
            offset += end
        _tails[path] = (st.st_ino, offset, recs)
        return recs


def progress(run: str, root: Path | None = None) -> Progress:
    folder = _folder(run, root)
    spec = JobSpec(**_read_json(folder / "job.json"))
    current, status = state(folder)
    teacher, student = _records(folder / "teacher" / "metrics.jsonl"), _records(folder / "student" / "metrics.jsonl")
    if student:
        step = spec.teacher_steps + student[-1]["step"]
    else:
        step = teacher[-1]["step"] if teacher else 0
    if current == "done":
        step = spec.teacher_steps + spec.student_steps
    return Progress(run, current, status.get("phase", ""), step, spec.teacher_steps + spec.student_steps,
                    status.get("message", ""), teacher, student)


def push_run(run: str, repo_id: str, token: str, root: Path | None = None) -> tuple[str, str]:
    """Push a finished run: the teacher to ``<repo_id>-teacher``, the student to ``repo_id``.

    The uploaded student's config names the uploaded teacher (not the local folder), so the
    pair loads from the Hub alone. Returns the two commit URLs.
    """
    folder = _folder(run, root)
    if state(folder)[0] != "done":
        raise DmdvizError(f"run {run} has not finished: nothing to push")
    if not token.strip():
        raise DmdvizError("pushing needs a Hugging Face token with write access")
    teacher_repo = f"{repo_id.strip()}-teacher"
    teacher_url = hub.push(folder / "teacher", teacher_repo, token=token.strip())
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "student"
        shutil.copytree(folder / "student", staged, ignore=shutil.ignore_patterns("state.*", "metrics.jsonl"))
        student = hub.load_folder(staged)
        config = dict(student.config, teacher={"ref": teacher_repo, "revision": ""})
        hub.save_checkpoint(staged, student.model, config)
        student_url = hub.push(staged, repo_id.strip(), token=token.strip())
    return teacher_url, student_url


# --------------------------------------------------------------------------- the worker


def work(folder: Path) -> str:
    """Run (or continue) the job in ``folder``; returns the final state."""
    from dmdviz.runtime import Runtime
    from dmdviz.train import distill, train_teacher

    folder = Path(folder).resolve()
    stop_file = folder / "STOP"
    status = {"pid": os.getpid(), "message": ""}

    def should_stop() -> bool:
        return stop_file.exists()

    try:
        spec = JobSpec(**_read_json(folder / "job.json"))
        data, net, teacher_cfg, student_cfg = spec.configs()
        rt = Runtime.create()
        if not (folder / "teacher" / "config.json").is_file():
            _write_status(folder, state="running", phase="teacher", **status)
            train_teacher(data, net, teacher_cfg, folder / "teacher", rt=rt, should_stop=should_stop, resume=True)
        if not should_stop() and not (folder / "student" / "config.json").is_file():
            _write_status(folder, state="running", phase="student", **status)
            teacher = hub.load_folder(folder / "teacher", device=rt.device)
            distill(teacher, student_cfg, folder / "student", rt=rt, should_stop=should_stop, resume=True)
        final = "done" if (folder / "student" / "config.json").is_file() else "cancelled"
    except DmdvizError as e:
        final, status["message"] = "failed", str(e)
    except Exception as e:  # the UI shows one line; log.txt keeps the traceback
        import traceback

        traceback.print_exc()
        final, status["message"] = "failed", f"unexpected {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    stop_file.unlink(missing_ok=True)
    _write_status(folder, state=final, phase=final, **status)
    return final


if __name__ == "__main__":
    sys.exit(0 if work(Path(sys.argv[1])) in ("done", "cancelled") else 1)


__all__ = ["JobSpec", "Progress", "start", "resume", "cancel", "progress", "list_runs", "finished_pairs",
           "running", "push_run", "runs_root", "state", "work"]
