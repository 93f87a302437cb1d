"""Process-wide stores behind the app: loaded checkpoints and sample sets, both bounded.

Gradio deep-copies ``gr.State`` per session, so models never go there: sessions hold only
references (strings) and look the models up here. Analyses (samples, costs,
OT assignments) are cached per (teacher, student, n, seed, K) so redrawing, drilling into a seed or switching tabs
samples nothing again. Both caches are LRU with sizes from ``Limits``; a lock makes a
checkpoint load once even when two sessions ask at the same moment. Under them, the on-disk
``SampleCache`` keeps every sampled set across restarts (``$DMDVIZ_CACHE_DIR``, bounded by
``$DMDVIZ_CACHE_MB``).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from dmdviz import analysis, hub, jobs, models, noise
from dmdviz.analysis.cache import SampleCache
from dmdviz.errors import DmdvizError
from dmdviz.limits import Limits

DRILL_KS = (1, 8, 32)  # the per-seed view shows Φ_1, Φ_8, Φ_32 next to G (paper Fig. 1)


class _LRU:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.RLock()

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            value = make()
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return value


class Registry:
    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits.from_env()
        # The app's networks are small and its two cores are shared with jobs and other
        # processes: with one busy neighbour, sampling 500 seeds of the 4-D pair took 11 s
        # with 2 threads and 0.14 s with 1 (measured here).
        torch.set_num_threads(self.limits.app_threads)
        self._models = _LRU(self.limits.max_models)
        self._analyses = _LRU(self.limits.max_cached)
        self._memo = _LRU(self.limits.max_cached)
        self._views = weakref.WeakKeyDictionary()  # per cached analysis: the views built from it
        self._views_lock = threading.RLock()
        self.cache = SampleCache.from_env()
        self.uploads = Path(tempfile.mkdtemp(prefix="dmdviz-uploads-"))

    def checkpoint(self, ref: str) -> hub.Checkpoint:
        ref = str(ref).strip()
        return self._models.get(ref, lambda: hub.load_checkpoint(ref))

    def pair(self, student_ref: str, teacher_ref: str = "") -> tuple[hub.Checkpoint, hub.Checkpoint]:
        """(teacher, student); the teacher defaults to the one the student's config records."""
        student = self.checkpoint(student_ref)
        if student.role == "teacher":
            raise DmdvizError(f"{student_ref} is a teacher: choose a student (its teacher is found from it)")
        teacher_ref = teacher_ref.strip() or analysis.recorded_teacher(student.config)
        if not teacher_ref:
            raise DmdvizError(f"{student_ref} does not record its teacher: give the teacher's reference")
        teacher = self.checkpoint(teacher_ref)
        analysis.check_pair(teacher, student)
        return teacher, student

    def analysis(self, student_ref: str, teacher_ref: str, n: int, seed: int, k: int) -> analysis.PairAnalysis:
        """The pair's analysis on seeds 0..n-1 of ``seed``: Φ_1, Φ_8, Φ_32, Φ_K and G sampled
        once, costs and OT assignments computed on first use (all cached)."""
        return self.analysis_of(*self.pair(student_ref, teacher_ref), n, seed, k)

    def models(self, pair: dict):
        """(teacher, student) of an app pair: ``{"pairfile": path}`` or ``{"student", "teacher"}``."""
        if pair.get("pairfile"):
            return self.pairfile(pair["pairfile"])
        return self.pair(pair["student"], pair.get("teacher", ""))

    def pairfile_path(self, choice: str) -> str:
        """The pair file a visitor chose: a shipped one, an earlier upload, or a Hub repo id
        holding ``pair.json`` / ``pair.toml``; any other path on this machine is refused."""
        from dmdviz.models import pairfile

        choice = str(choice or "").strip()
        local = Path(choice).resolve() if choice else None
        shipped_or_uploaded = local and (local.parent == PAIRS.resolve() or local.is_relative_to(self.uploads.resolve()))
        if shipped_or_uploaded and local.is_file():
            return str(local)
        if pairfile.REPO_ID.match(choice):
            return str(pairfile.fetch(choice))
        raise DmdvizError("choose a shipped pair file, a Hub repo id holding pair.json, or upload a pair file")

    def pairfile(self, path: str):
        """A pair file's (teacher, student), cached; entry points are refused (no visitor code)."""
        from dmdviz.models import pairfile

        p = Path(path)
        key = ("pairfile", str(p.resolve()), p.stat().st_mtime_ns if p.is_file() else 0)
        return self._models.get(key, lambda: pairfile.build(pairfile.read(p), allow_code=False,
                                                              checkpoint=self.checkpoint))

    def analysis_of(self, teacher, student, n: int, seed: int, k: int) -> analysis.PairAnalysis:
        """``analysis`` for any protocol pair (or checkpoints), keyed by model identities."""
        n, seed, k = int(n), noise.check_seed(seed), int(k)
        if not 2 <= n <= self.limits.max_seeds:
            raise DmdvizError(f"number of seeds must be between 2 and {self.limits.max_seeds}, got {n}")
        if not 1 <= k <= self.limits.max_k:
            raise DmdvizError(f"K must be between 1 and {self.limits.max_k}, got {k}")
        t, s = models.as_teacher(teacher), models.as_student(student)
        ks = tuple(sorted({*DRILL_KS, k}))
        key = (t.identity, s.identity, n, seed, k)
        return self._analyses.get(key, lambda: analysis.PairAnalysis(
            analysis.sample_pair(t, s, n, seed, ks, cache=self.cache), k))

    def second_analysis(self, first: analysis.PairAnalysis, teacher: hub.Checkpoint, ref: str) -> analysis.PairAnalysis:
        """Another student of ``teacher`` (``analysis.check_sibling``) on the seeds and teacher
        targets of ``first``: only its G is sampled (cached like ``analysis``)."""
        ref = str(ref or "").strip()
        if not ref:
            raise DmdvizError("choose a second student to compare with")
        other = self.checkpoint(ref)
        analysis.check_sibling(teacher, other)
        s = first.s
        key = ("second", teacher.ref, teacher.revision, other.ref, other.revision, s.n, s.seed, first.k)
        return self._analyses.get(key, lambda: analysis.PairAnalysis(
            analysis.with_student(s, teacher, other, cache=self.cache), first.k))

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

    def import_pairfile(self, path: str) -> str:
        """An uploaded pair file kept under the upload folder, built once to validate it.

        Only its own text is kept: the refs it names are resolved as the app resolves refs
        (``checkpoint``), and a prompts file would have to lie beside it, which an upload
        cannot provide (prompt pairs are shipped or run from the command line)."""
        from dmdviz.models import pairfile

        src = Path(path or "")
        if src.suffix not in (".json", ".toml") or not src.is_file():
            raise DmdvizError("upload one pair file, .json or .toml")
        dest = Path(tempfile.mkdtemp(prefix="pair-", dir=self.uploads)) / f"pair{src.suffix}"
        shutil.copyfile(src, dest)
        pairfile.build(pairfile.read(dest), allow_code=False, checkpoint=self.checkpoint)  # refuse a bad one now
        return str(dest)

    def import_upload(self, paths: list[str]) -> str:
        """A checkpoint folder from uploaded files: one zip, or config.json + model.safetensors.

        A zip is checked entry by entry (no absolute or ``..`` paths, a bounded unpacked
        size) and may hold the two files at its top or in one folder. Returns the folder.
        """
        files = [Path(p) for p in paths or []]
        if not files:
            raise DmdvizError("no files uploaded")
        dest = Path(tempfile.mkdtemp(prefix="ckpt-", dir=self.uploads))
        if len(files) == 1 and files[0].suffix == ".zip":
            _unzip(files[0], dest, self.limits.max_upload_mb * 2**20)
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
        hub.load_folder(folder)  # validate now, so a bad upload is reported at once
        return str(folder)


def _unzip(path: Path, dest: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
            if sum(e.file_size for e in entries) > max_bytes:
                raise DmdvizError(f"the zip unpacks to more than {max_bytes // 2**20} MB")
            for e in entries:
                target = (dest / e.filename).resolve()
                if e.filename.startswith("/") or not target.is_relative_to(dest.resolve()):
                    raise DmdvizError(f"the zip holds an unsafe path {e.filename!r}")
            zf.extractall(dest)
    except zipfile.BadZipFile:
        raise DmdvizError(f"{path.name} is not a valid zip file") from None


def siblings(teacher: hub.Checkpoint, root: Path | None = None) -> list[tuple[str, str]]:
    """(label, reference) of the shipped and run students that record ``teacher``."""
    mine = teacher.path.resolve()
    found = [(f"{name} (shipped)", name) for name in _shipped_students()
             if analysis.resolved_folder(analysis.recorded_teacher(hub.read_config(hub.SHIPPED / name))) == mine]
    found += [(f"{run} (run)", str(student)) for run, folder, student in jobs.finished_pairs(root)
              if folder.resolve() == mine]
    return found


def _shipped_students() -> list[str]:
    return [name for name in hub.shipped_names() if hub.read_config(hub.SHIPPED / name)["role"] == "student"]


PAIRS = hub.SHIPPED / "pairs"


def shipped_pair_files() -> list[tuple[str, str]]:
    """(label, path) of the shipped pair files, ``checkpoints/pairs/*.json|toml``."""
    files = sorted([*PAIRS.glob("*.json"), *PAIRS.glob("*.toml")]) if PAIRS.is_dir() else []
    return [(f"{p.stem} (pair file)", str(p)) for p in files]


def pair_choices(root: Path | None = None) -> list[tuple[str, str]]:
    """(label, student reference) of the shipped pairs and the finished runs."""
    return ([(f"{name} (shipped)", name) for name in _shipped_students()]
            + [(f"{run} (run)", str(student)) for run, _, student in jobs.finished_pairs(root)])


RUNS_FAMILY = "runs"


def families() -> list[str]:
    """Shipped folders holding students (``mnist``: the students of its teacher snapshots),
    plus ``runs``, every run trained here."""
    return sorted({name.split("/")[0] for name in _shipped_students() if "/" in name}) + [RUNS_FAMILY]


def family_students(name: str, root: Path | None = None) -> list[str]:
    """Student references of a family (see ``families``)."""
    if name == RUNS_FAMILY:
        refs = [str(student) for _, _, student in jobs.finished_pairs(root)]
    else:
        refs = [s for s in _shipped_students() if s.startswith(f"{name}/")]
    if not refs:
        raise DmdvizError(f"family {name!r} has no students")
    return refs
