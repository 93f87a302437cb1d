"""Background training runs for the app: a teacher, then its student, in a subprocess.

A run is a folder under the runs root (``$DMDVIZ_RUNS_DIR``, default ``./runs``)::

    job.json      what to train (JobSpec)
    status.json   state (running, done, failed, cancelled), phase, pid, message
    pid           the worker's process id (``launcher.launch``)
    log.txt       the worker's stdout and stderr
    teacher/      train_teacher's run folder; a checkpoint once config.json exists
    student/      distill's run folder, likewise
    STOP          present while a cancel is pending
    owner.json    started from a public app: its session, hashed (only it cancels or resumes)

With ``DMDVIZ_MAX_RUNS`` or ``DMDVIZ_RUNS_MB`` set (public mode: 20 runs, 2,048 MB), a start
first deletes the oldest runs that are not running beyond them (``retain``).

Why a subprocess and not a thread: torch's thread count is per process (``DMDVIZ_JOB_THREADS``:
one on a public Space, whose server computes for other visitors beside the job; every core
locally, as the CLI), the job outlives the browser tab and
even a server restart (it runs in its own session), and a crash in training cannot take
the server down. The folder, its status and STOP files are ``dmdviz.files``, the launcher ``experiments.launcher``;
one cap counts these jobs and the app's sweeps together. A worker that died without writing
its final state (killed, machine restarted) reads as ``interrupted``; ``resume`` starts a
new worker on the same folder and the trainers continue from their last saved state
(``resume=True``), so ``metrics.jsonl`` goes on where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dmdviz import checkpoint, files
from dmdviz.config import GAN_WEIGHT_D, customize, get_preset
from dmdviz.core import noise
from dmdviz.errors import DmdvizError
from dmdviz.experiments import launcher
from dmdviz.limits import Limits
from dmdviz.settings import runs_root

ACTIVE = ("starting", "running")
OWNER = "owner.json"  # the hashed session that started the run from a public app
_tail = files.Tail()


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
        """The one check of a request from the app, against ``limits``: the trainers trust it."""
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
        # short runs still log often enough to draw a curve and probe the copying meter
        teacher = {"steps": self.teacher_steps, "seed": self.seed, "batch": self.batch or p.teacher.batch,
                   "log_every": max(1, min(p.teacher.log_every, self.teacher_steps // 40))}
        # the app's GAN weight is the generator's; the discriminator's is DMD2's whenever the term is on
        gan = {"gan_weight_g": self.gan_weight, "gan_weight_d": GAN_WEIGHT_D} if self.gan_weight else {}
        student = {"steps": self.student_steps, "ratio": self.ratio, **gan, "init": self.init, "seed": self.seed,
                   "batch": self.batch or p.distill.batch,
                   "probe_every": max(1, min(p.distill.probe_every, self.student_steps // 10))}
        c = customize(p, dim=self.dim, teacher=teacher, distill=student)
        return c.data, c.net, c.teacher, c.distill


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
    folder = (root or runs_root()) / files.check_name(run)
    if not (folder / "job.json").is_file():
        raise DmdvizError(f"no run named {run!r} in {folder.parent}")
    return folder


def state(folder: Path) -> tuple[str, dict]:
    """(state, status.json); a worker that died while running reads as ``interrupted``."""
    status = files.read_json(folder / "status.json")
    current = status.get("state", "interrupted")
    if current in ACTIVE and not launcher.worker_alive(folder):
        current = "interrupted"
    return current, status


def list_runs(root: Path | None = None) -> list[str]:
    """Run names under the root, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / "job.json").is_file()]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def finished_pairs(root: Path | None = None) -> list[tuple[str, Path, Path]]:
    """(run name, teacher folder, student folder) of every run whose student is written."""
    root = root or runs_root()
    return [(name, root / name / "teacher", root / name / "student") for name in list_runs(root)
            if (root / name / "student" / "config.json").is_file()]


def running(root: Path | None = None) -> list[str]:
    root = root or runs_root()
    return [name for name in list_runs(root) if state(root / name)[0] in ACTIVE]


def _launch(folder: Path, limits: Limits) -> None:
    pid = launcher.launch("job", folder, limits)
    # the worker's first status write comes after its torch import (seconds later), so this
    # one cannot overwrite it
    files.write_status(folder, state="starting", phase="starting", pid=pid, message="")


def start(spec: JobSpec, name: str = "", root: Path | None = None, limits: Limits | None = None,
          owner: str | None = None) -> str:
    """Create a run folder for ``spec`` and start its worker; returns the run name.

    Refused when ``limits.max_jobs`` background runs (jobs and sweeps) already run. An
    ``owner`` (a public app's session id) is recorded, hashed: only it may cancel or resume."""
    limits, root = limits or Limits.from_env(), root or runs_root()
    spec.check(limits)
    with launcher.launching(root, limits):
        name = files.check_name(name.strip() or f"{spec.preset}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}")
        folder = root / name
        if folder.exists():
            raise DmdvizError(f"a run named {name!r} exists already; choose another name")
        retain(root, limits, room=1)
        try:
            folder.mkdir(parents=True)
            files.write_json(folder / "job.json", asdict(spec))
            if owner is not None:
                files.write_json(folder / OWNER, {"owner": _tag(owner)})
            _launch(folder, limits)
        except BaseException as e:  # a failed start leaves no folder to block the name
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(e, OSError):
                raise DmdvizError(f"run {name} could not be started ({e.strerror or type(e).__name__})") from None
            raise
    return name


def retain(root: Path, limits: Limits, room: int = 0) -> list[str]:
    """Delete the oldest runs under ``root`` (by their last write) that are not running, until
    at most ``limits.max_runs`` - ``room`` runs are left and they take at most
    ``limits.runs_mb`` MB (0: no bound); returns the names deleted. ``start`` calls it (room
    for the new run) under the launch lock, so no run starts meanwhile."""
    if not (limits.max_runs or limits.runs_mb):
        return []
    names = list_runs(root)  # newest first
    sizes = {name: _bytes(root / name) for name in names}
    count, total, gone = len(names), sum(sizes.values()), []
    for name in reversed(names):
        over_count = limits.max_runs and count + room > limits.max_runs
        if not (over_count or (limits.runs_mb and total > limits.runs_mb * 2**20)):
            break
        if state(root / name)[0] not in ACTIVE:
            shutil.rmtree(root / name, ignore_errors=True)
            count, total = count - 1, total - sizes[name]
            gone.append(name)
    return gone


def _bytes(folder: Path) -> int:
    try:
        return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file())
    except OSError:  # deleted meanwhile
        return 0


def resume(run: str, root: Path | None = None, limits: Limits | None = None, owner: str | None = None) -> None:
    """Start a new worker on an interrupted, cancelled or failed run; it continues the run.
    With an ``owner`` (a public app's session), only the run's own."""
    limits, folder = limits or Limits.from_env(), _folder(run, root)
    _check_owner(run, folder, owner)
    _check_resumable(run, folder)
    with launcher.launching(folder.parent, limits):
        _check_resumable(run, folder)  # again under the lock: two clicks start one worker
        _launch(folder, limits)


def _check_resumable(run: str, folder: Path) -> None:
    current, _ = state(folder)
    if current in ACTIVE:
        raise DmdvizError(f"run {run} is already running")
    if current == "done":
        raise DmdvizError(f"run {run} has finished; start a new one")


def cancel(run: str, root: Path | None = None, owner: str | None = None) -> None:
    """Ask the worker to stop: it saves its state at the next step and exits (resumable).
    With an ``owner`` (a public app's session), only the run's own."""
    folder = _folder(run, root)
    _check_owner(run, folder, owner)
    if state(folder)[0] not in ACTIVE:
        raise DmdvizError(f"run {run} is not running")
    files.request_stop(folder)


def _tag(owner: str) -> str:
    """What a run folder records of its owner: a hash, so the folder never holds a session id."""
    return hashlib.sha256(f"dmdviz-run-owner:{owner}".encode()).hexdigest()[:32]


def _check_owner(run: str, folder: Path, owner: str | None) -> None:
    if owner is not None and files.read_json(folder / OWNER).get("owner") != _tag(owner):
        raise DmdvizError(f"run {run} was started from another page: only that page can cancel or resume it")


def progress(run: str, root: Path | None = None) -> Progress:
    folder = _folder(run, root)
    spec = JobSpec(**files.read_json(folder / "job.json"))
    current, status = state(folder)
    teacher, student = _tail.read(folder / "teacher" / files.METRICS), _tail.read(folder / "student" / files.METRICS)
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
    teacher_url = checkpoint.push(folder / "teacher", teacher_repo, token=token.strip())
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "student"
        shutil.copytree(folder / "student", staged, ignore=shutil.ignore_patterns("state.*", "metrics.jsonl"))
        student = checkpoint.load_folder(staged)
        config = dict(student.config, teacher={"ref": teacher_repo, "revision": ""})
        checkpoint.save_checkpoint(staged, student.model, config)
        student_url = checkpoint.push(staged, repo_id.strip(), token=token.strip())
    return teacher_url, student_url


# --------------------------------------------------------------------------- the worker


def work(folder: Path) -> str:
    """Run (or continue) the job in ``folder``; returns the final state."""
    from dmdviz.training import distill, train_teacher
    from dmdviz.training.runtime import Runtime

    folder = Path(folder).resolve()
    status = {"pid": os.getpid(), "message": ""}

    def should_stop() -> bool:
        return files.stop_requested(folder)

    try:
        spec = JobSpec(**files.read_json(folder / "job.json"))
        data, net, teacher_cfg, student_cfg = spec.configs()
        rt = Runtime.create()
        if not (folder / "teacher" / "config.json").is_file():
            files.write_status(folder, state="running", phase="teacher", **status)
            train_teacher(data, net, teacher_cfg, folder / "teacher", rt=rt, should_stop=should_stop, resume=True)
        if not should_stop() and not (folder / "student" / "config.json").is_file():
            files.write_status(folder, state="running", phase="student", **status)
            teacher = checkpoint.load_folder(folder / "teacher", device=rt.device)
            distill(teacher, student_cfg, folder / "student", rt=rt, should_stop=should_stop, resume=True)
        final = "done" if (folder / "student" / "config.json").is_file() else "cancelled"
    except DmdvizError as e:
        final, status["message"] = "failed", str(e)
    except Exception as e:  # the UI shows one line; log.txt keeps the traceback
        import traceback

        traceback.print_exc()
        final, status["message"] = "failed", f"unexpected {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    files.clear_stop(folder)
    files.write_status(folder, state=final, phase=final, **status)
    return final



__all__ = ["JobSpec", "Progress", "start", "retain", "resume", "cancel", "progress", "list_runs", "finished_pairs",
           "running", "push_run", "state", "work"]
