"""Process-wide stores behind the app: loaded checkpoints and sample sets, both bounded, and
the visitors' uploads.

What a visitor may name (``locate``): a shipped name (``chessboard4d/student``, relative to
``checkpoints/``), a finished run (``runs/<name>/student`` or ``/teacher``), one of their own
session's uploads (``upload:<token>``, shown as "your upload") or a Hub repo id. Never a
folder of the server: ``Registry(local=True)`` (the library, its tests and benchmarks) alone
resolves local paths as the command line does. Messages name things by these names.
Uploads are deleted when their session ends (``forget_session``) and by age (``expire``), refused
when they would leave the disk nearly full; an earlier process's leftovers go at start (``web.disk``).

Gradio deep-copies ``gr.State`` per session, so models never go there: sessions hold only
references (strings) and look the models up here. Analyses (samples, costs,
OT assignments) are cached per (teacher, student, n, seed, K) so redrawing, drilling into a seed or switching tabs
samples nothing again. Both caches are LRU with sizes from ``Limits``; a per-key lock makes a
checkpoint load once even when two sessions ask at the same moment, and a slow load (a Hub
download) holds up no other lookup. Under them, the on-disk ``SampleCache`` keeps every
sampled set across restarts (``$DMDVIZ_CACHE_DIR``, bounded by ``$DMDVIZ_CACHE_MB``). A pair
file's diffusers sides follow ``web.sides``: Hub ids only, fetched planned and bounded.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
import weakref
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from dmdviz import analysis, checkpoint, data, models, settings
from dmdviz.analysis.cache import SampleCache
from dmdviz.core import noise
from dmdviz.errors import DmdvizError
from dmdviz.experiments import jobs
from dmdviz.limits import MIN_SEEDS, Limits
from dmdviz.models import budget
from dmdviz.training.runtime import pick_device
from dmdviz.web import disk, sides
from dmdviz.web.catalog import shipped_pair_files
from dmdviz.web.gpu import zero_gpu
from dmdviz.web.sides import shown as _shown

UPLOAD = "upload:"  # a session's upload: upload:<token>
RUN_PARTS = ("teacher", "student")
YOUR_UPLOAD = "your upload"


@dataclass(frozen=True)
class Upload:
    session: str
    folder: Path  # a checkpoint folder, or the folder holding an uploaded pair file
    path: Path  # what the upload resolves to: the checkpoint folder or the pair file
    created: float


class _LRU:
    """Bounded, least recently used first out; a value is made once per key, under that key's
    own lock, so a slow ``make`` (a download, a build) never holds up other keys' lookups."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.RLock()
        self.building: dict = {}  # key -> the lock held while its value is made

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            build = self.building.setdefault(key, threading.Lock())
        with build:
            try:
                with self.lock:
                    if key in self.items:  # made by the caller this one waited for
                        return self.items[key]
                value = make()
                with self.lock:
                    self.items[key] = value
                    while len(self.items) > self.size:
                        self.items.popitem(last=False)
                return value
            finally:
                with self.lock:
                    self.building.pop(key, None)


class Registry:
    def __init__(self, limits: Limits | None = None, *, local: bool = False):
        self.limits = limits or Limits.from_env()
        self.local = local
        # The app's networks are small and its two cores are shared with jobs and other
        # processes: with one busy neighbour, sampling 500 seeds of the 4-D pair took 11 s
        # with 2 threads and 0.14 s with 1 (measured here).
        torch.set_num_threads(self.limits.app_threads)
        data.use_hub(checkpoint.fetch_dataset)  # MNIST's Hub fallback (training-set metrics), planned and bounded
        self._models = _LRU(self.limits.max_models)
        self._analyses = _LRU(self.limits.max_cached)
        self._memo = _LRU(self.limits.max_cached)
        self._views = weakref.WeakKeyDictionary()  # per cached analysis: the views built from it
        self._views_lock = threading.RLock()
        self.cache = SampleCache.from_env()
        self.analyses = zero_gpu(analysis.Analyses(self.cache, store=self._analyses,
                                                   device=pick_device(settings.app_device()),
                                                   bf16=settings.app_bf16()))
        self.uploads = Path(tempfile.mkdtemp(prefix="dmdviz-uploads-"))
        disk.clean_leftovers(self.limits.upload_ttl_s, self.cache.root if self.cache else None, keep=self.uploads)
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what a visitor may name

    def locate(self, ref: str, session: str = "") -> tuple[Path, str, str]:
        """(folder, name, revision) of a checkpoint reference (see the module docstring)."""
        ref = str(ref or "").strip()
        if not ref:
            raise DmdvizError("empty checkpoint reference")
        if self.local:
            return checkpoint.resolve(ref)
        if len(ref) > checkpoint.MAX_REF:
            raise DmdvizError(f"checkpoint reference of {len(ref)} characters (at most {checkpoint.MAX_REF})")
        if ref.startswith(UPLOAD):
            return self._upload(ref, session).path, YOUR_UPLOAD, ""
        run = self._run(ref)
        if run:
            return run
        if checkpoint.is_shipped(ref):
            return settings.shipped_root() / ref, ref, ""
        if checkpoint.is_repo_id(ref):
            return checkpoint.download(ref)  # neither shipped nor a run: a Hub repo id, never a folder here
        raise DmdvizError(f"{_shown(ref)} is not a shipped checkpoint, a finished run (runs/<name>/student), your "
                          "upload or a Hub repo id (org/name[@revision]); the web app opens no other folder")

    def _run(self, ref: str) -> tuple[Path, str, str] | None:
        """A finished run's teacher or student: ``runs/<name>/<part>``, or the absolute path a run
        student records for its teacher (inside the runs root)."""
        root = settings.runs_root()
        parts = ref.split("/")
        if len(parts) == 3 and parts[0] == "runs":
            name, part = parts[1], parts[2]
        elif ref.startswith("/") and Path(ref).parent.parent == root:
            name, part = Path(ref).parent.name, Path(ref).name
        else:
            return None
        if part not in RUN_PARTS or name not in {run for run, _, _ in jobs.finished_pairs(root)}:
            raise DmdvizError(f"no finished run {_shown(name)} with a {part}" if part in RUN_PARTS
                              else f"a run holds a teacher and a student, not {_shown(part)}")
        return root / name / part, f"runs/{name}/{part}", ""

    def _upload(self, ref: str, session: str) -> Upload:
        with self._lock:
            up = self._uploads.get(ref)
        if up is None or up.session != session or not up.path.exists():
            raise DmdvizError("that upload is not one of this session's (uploads last while their page is open, "
                              f"at most {self.limits.upload_ttl_s // 60} minutes): upload it again")
        return up

    def _keep(self, session: str, folder: Path, path: Path) -> str:
        token = UPLOAD + secrets.token_hex(16)
        with self._lock:
            self._uploads[token] = Upload(session, folder, path, time.time())
        return token

    def forget_session(self, session: str) -> int:
        """Delete a session's uploads (its page closed); returns how many."""
        with self._lock:
            gone = [t for t, u in self._uploads.items() if u.session == session]
            dropped = [self._uploads.pop(t) for t in gone]
        for up in dropped:
            shutil.rmtree(up.folder, ignore_errors=True)
        return len(dropped)

    def expire(self, now: float | None = None) -> int:
        """Delete uploads older than ``limits.upload_ttl_s``, and folders under the upload root
        no session holds (a failed upload); returns how many folders went."""
        now = time.time() if now is None else now
        with self._lock:
            old = [t for t, u in self._uploads.items() if now - u.created > self.limits.upload_ttl_s]
            for t in old:
                self._uploads.pop(t)
            held = {u.folder.resolve() for u in self._uploads.values()}
        gone = 0
        for folder in self.uploads.iterdir() if self.uploads.is_dir() else ():
            if folder.resolve() not in held and now - folder.stat().st_mtime > min(60, self.limits.upload_ttl_s):
                shutil.rmtree(folder, ignore_errors=True)
                gone += 1
        return gone

    # ------------------------------------------------------------------ models and analyses

    def checkpoint(self, ref: str, session: str = "") -> checkpoint.Checkpoint:
        folder, name, revision = self.locate(ref, session)
        key = (str(folder.resolve()), revision)
        return self._models.get(key, lambda: checkpoint.load_folder(folder, name, revision, shown=name,
                                                             limits=self.limits))

    def pair(self, student_ref: str, teacher_ref: str = "", session: str = "") -> models.Pair:
        """The checked pair of a student and its teacher (by default the one the student's
        config records), opened once and kept with the loaded models."""
        student = self.checkpoint(student_ref, session)
        if student.role == "teacher":
            raise DmdvizError(f"{student.ref} is a teacher: choose a student (its teacher is found from it)")
        given = str(teacher_ref or "").strip()
        teacher_ref = given or student.spec.teacher_ref
        if not teacher_ref:
            raise DmdvizError(f"{student.ref} does not record its teacher: give the teacher's reference")
        try:
            teacher = self.checkpoint(teacher_ref, session)
        except DmdvizError as e:
            if given:
                raise
            raise DmdvizError(f"{student.ref}'s recorded teacher cannot be opened here ({e}): give the teacher") from None
        key = ("pair", str(teacher.path.resolve()), teacher.revision, str(student.path.resolve()), student.revision)
        return self._models.get(key, lambda: models.open_pair(teacher, student))

    def models(self, pair: dict, session: str = "") -> models.Pair:
        """The checked pair of an app pair: ``{"pairfile": name}`` or ``{"student", "teacher"}``."""
        if not pair or not (pair.get("student") or pair.get("pairfile")):
            raise DmdvizError("choose a teacher/student pair first")
        if pair.get("pairfile"):
            return self.pairfile(pair["pairfile"], session)
        return self.pair(pair["student"], pair.get("teacher", ""), session)

    def pairfile_path(self, choice: str, session: str = "") -> Path:
        """The pair file a visitor chose: a shipped one (``pairs/<file>``), one of this session's
        uploads, or a Hub repo id holding ``pair.json`` / ``pair.toml``; nothing else."""
        from dmdviz.models import pairfile

        choice = str(choice or "").strip()
        if choice.startswith(UPLOAD):
            return self._upload(choice, session).path
        if choice in {name for _, name in shipped_pair_files()}:
            return settings.shipped_root() / choice
        if checkpoint.is_repo_id(choice):
            return pairfile.fetch(choice)
        if self.local and Path(choice).is_file():
            return Path(choice)
        raise DmdvizError("choose a shipped pair file, a Hub repo id holding pair.json, or upload a pair file")

    def pairfile(self, choice: str, session: str = "") -> models.Pair:
        """A pair file's checked pair, cached; entry points are refused (no visitor code),
        and in the web app every side names a shipped, run, uploaded or Hub model."""
        from dmdviz.models import pairfile

        path = self.pairfile_path(choice, session)
        spec = pairfile.read(path)
        shipped = path.resolve().is_relative_to(settings.shipped_root().resolve())
        if not self.local:
            sides.check(spec, shipped, self.limits)

        def make():  # the Hub sides fetched (planned, bounded) only when the pair is not kept already
            fetched = spec if self.local else sides.fetched(spec, shipped, self.limits)
            return models.open_pair(*pairfile.build(fetched, lambda ref: self.checkpoint(ref, session), allow_code=False))

        return self._models.get(("pairfile", str(path.resolve()), path.stat().st_mtime_ns), make)

    def analysis_of(self, pair: models.Pair, n: int, seed: int, k: int, drill: bool = False) -> analysis.PairAnalysis:
        """The pair's analysis on seeds 0..n-1 of ``seed`` (the one road, ``analysis.Analyses``,
        kept in this registry's bounded store), after the app's bounds on n and K. Φ_1, Φ_K and
        G of every seed; the per-seed view's other K (Φ_32) only where a page shows them
        (``drill_sets``), unless ``drill``."""
        n, seed, k = int(n), noise.check_seed(seed), int(k)
        if not MIN_SEEDS <= n <= self.limits.max_seeds:
            raise DmdvizError(f"number of seeds must be between {MIN_SEEDS} and {self.limits.max_seeds}, got {n}")
        if not 1 <= k <= self.limits.max_k:
            raise DmdvizError(f"K must be between 1 and {self.limits.max_k}, got {k}")
        budget.check_samples(pair.teacher.shape, n, self.limits)
        return self.analyses.analysis(pair, n, seed, k, drill=drill)

    def drill_sets(self, pair: models.Pair, pa: analysis.PairAnalysis, start: int, count: int) -> dict:
        """{K: (count, *shape)} Φ_K of every K of the per-seed view (``analysis.DRILL_KS``) on
        seeds start .. start + count - 1 of ``pa`` (``Analyses.drill``), once per analysis and range."""
        return self.view(pa, ("drill", int(start), int(count)),
                         lambda: self.analyses.drill(pair, pa.s, int(start), int(count)))

    def second_analysis(self, first: analysis.PairAnalysis, pair: models.Pair, ref: str,
                        session: str = "") -> analysis.PairAnalysis:
        """Another student of ``pair``'s dmdviz teacher on the seeds and teacher targets of
        ``first``: only its G is sampled. It must record that teacher (resolved as this
        registry resolves references) or none, and share its shapes."""
        ref = str(ref or "").strip()
        if not ref:
            raise DmdvizError("choose a second student to compare with")
        teacher = analysis.checkpoint_of(pair.given[0])
        if teacher is None:
            raise DmdvizError("a comparison needs a dmdviz teacher (its students are found from it)")
        other = self.checkpoint(ref, session)
        recorded = other.spec.teacher_ref
        analysis.check_sibling(teacher, other, self._folder_of(recorded, session) if recorded else None)
        return self.analyses.second(first, pair.with_student(other))

    def _folder_of(self, ref: str, session: str) -> Path | None:
        try:
            return self.locate(ref, session)[0].resolve()
        except DmdvizError:
            return None

    def view(self, pa: analysis.PairAnalysis, name, make):
        """``make()`` (the figures and tables of one view of ``pa``), built once per cached
        analysis and dropped with it: a repeat request for the same view builds nothing. The
        result is shared by every session, so callers must not mutate it."""
        with self._views_lock:
            views = self._views.setdefault(pa, {})
            if name not in views:
                views[name] = make()
            return views[name]

    def memo(self, key, make):
        """Any other derived result (a data set, a teacher-length series), cached by ``key``."""
        return self._memo.get(key, make)

    def import_pairfile(self, path: str, session: str = "") -> str:
        """An uploaded pair file kept under the upload folder, built once to validate it;
        returns its reference (``upload:<token>``, this session's only).

        Only its own text is kept: the refs it names are resolved as the app resolves refs
        (``checkpoint``), and a prompts file would have to lie beside it, which an upload
        cannot provide (prompt pairs are shipped or run from the command line)."""
        src = Path(path or "")
        if src.suffix not in (".json", ".toml") or not src.is_file():
            raise DmdvizError("upload one pair file, .json or .toml")
        disk.check_upload(self.uploads, [src], 0, self.limits.disk_margin_mb)
        folder = Path(tempfile.mkdtemp(prefix="pair-", dir=self.uploads))
        try:
            dest = folder / f"pair{src.suffix}"
            shutil.copyfile(src, dest)
            token = self._keep(session, folder, dest)
            self.pairfile(token, session)  # refuse a bad one now
        except BaseException:
            self._drop(folder)
            raise
        return token

    def import_upload(self, paths: list[str], session: str = "") -> str:
        """A checkpoint folder from uploaded files: one zip, or config.json + model.safetensors;
        returns its reference (``upload:<token>``, this session's only).

        A zip is checked entry by entry (at most ``limits.max_zip_entries`` entries, no
        absolute or ``..`` paths, a bounded unpacked size) and may hold the two files at its
        top or in one folder. A refused upload leaves nothing behind.
        """
        files = [Path(p) for p in paths or []]
        if not files:
            raise DmdvizError("no files uploaded")
        disk.check_upload(self.uploads, files, self.limits.max_upload_mb * 2**20, self.limits.disk_margin_mb)
        dest = Path(tempfile.mkdtemp(prefix="ckpt-", dir=self.uploads))
        try:
            if len(files) == 1 and files[0].suffix == ".zip":
                _unzip(files[0], dest, self.limits.max_upload_mb * 2**20, self.limits.max_zip_entries)
                inner = [p.parent for p in dest.rglob("config.json")]
                if len(inner) != 1:
                    raise DmdvizError("the zip must hold exactly one config.json (with its model.safetensors)")
                folder = inner[0]
            else:
                names = sorted(p.name for p in files)
                if names != ["config.json", "model.safetensors"]:
                    raise DmdvizError(f"upload a zip, or config.json and model.safetensors together (got {', '.join(names)})")
                for p in files:
                    shutil.copyfile(p, dest / p.name)
                folder = dest
            checkpoint.load_folder(folder, shown=YOUR_UPLOAD, limits=self.limits)  # validate now: a bad upload is reported at once
        except BaseException:
            self._drop(dest)
            raise
        return self._keep(session, dest, folder)

    def _drop(self, folder: Path) -> None:
        with self._lock:
            for t in [t for t, u in self._uploads.items() if u.folder == folder]:
                self._uploads.pop(t)
        shutil.rmtree(folder, ignore_errors=True)


def _unzip(path: Path, dest: Path, max_bytes: int, max_entries: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
            if len(entries) > max_entries:
                raise DmdvizError(f"the zip holds {len(entries):,} entries (at most {max_entries}: a checkpoint "
                                  "needs config.json and model.safetensors)")
            if sum(e.file_size for e in entries) > max_bytes:
                raise DmdvizError(f"the zip unpacks to more than {max_bytes // 2**20} MB")
            for e in entries:
                target = (dest / e.filename).resolve()
                if e.filename.startswith("/") or not target.is_relative_to(dest.resolve()):
                    raise DmdvizError(f"the zip holds an unsafe path {e.filename!r}")
            zf.extractall(dest)
    except zipfile.BadZipFile:
        raise DmdvizError(f"{path.name} is not a valid zip file") from None
