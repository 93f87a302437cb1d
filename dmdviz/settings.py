"""Where dmdviz finds and keeps things, read from the environment each time it is asked.

Nothing here is fixed at import, so a setting changed in a running process (a test's
``monkeypatch.setenv``, a server's configuration) reaches every reader. The size limits
are in ``limits`` (``Limits.from_env``), the sample cache's size in ``analysis.cache``;
everything else that reads a ``DMDVIZ_*`` path is here.

    DMDVIZ_CHECKPOINTS  the shipped checkpoints (default ``<project>/checkpoints``)
    DMDVIZ_RUNS_DIR     the app's runs (default ``/data/runs`` on a Space with persistent
                        storage, else ``./runs``; sweeps in ``runs/sweeps``)
    DMDVIZ_CACHE_DIR    the sample cache (default ``/data/cache/samples`` on a Space with
                        persistent storage, else ``~/.cache/dmdviz/samples``)
    DMDVIZ_PUSHED       which weights ``push`` uploaded where (default ``~/.cache/dmdviz/pushed.json``)
    DMDVIZ_DEVICE       where the web app computes (default ``cpu``; ``auto``, ``cuda``,
                        ``cuda:N``, ``mps``)
    DMDVIZ_BF16         ``1``: the web app samples under bf16 autocast (default off: fp32;
                        its error against fp32 is in ``benchmarks/bench_sampling.py``)
    DMDVIZ_SHIPPED_SAMPLES  a read-only sample cache shipped beside the checkpoints
                        (default ``<checkpoints>/samples``; ``off`` for none)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the source tree: not a setting
SPACE_DATA = Path("/data")  # where a Hugging Face Space mounts its persistent storage


def shipped_root() -> Path:
    """The folder of the shipped checkpoints: ``chessboard4d/teacher`` names ``<this>/chessboard4d/teacher``."""
    return Path(os.environ.get("DMDVIZ_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")


def space_storage() -> Path | None:
    """A Space's persistent storage (``/data``) when this process runs on a Space
    (``SPACE_ID`` is set) and the folder is there and writable; None otherwise. A Space
    without persistent storage loses everything written on a restart."""
    if not os.environ.get("SPACE_ID"):
        return None
    return SPACE_DATA if SPACE_DATA.is_dir() and os.access(SPACE_DATA, os.W_OK | os.X_OK) else None


def runs_root() -> Path:
    """Where the app's runs live: ``$DMDVIZ_RUNS_DIR``, else ``/data/runs`` on a Space with
    persistent storage, else ``./runs``; sweeps in ``sweeps/``."""
    given = os.environ.get("DMDVIZ_RUNS_DIR")
    if given:
        return Path(given).resolve()
    storage = space_storage()
    return storage / "runs" if storage else Path("runs").resolve()


def sample_cache_dir() -> Path:
    """The sample cache's folder: ``$DMDVIZ_CACHE_DIR``, else ``/data/cache/samples`` on a
    Space with persistent storage, else ``~/.cache/dmdviz/samples``."""
    given = os.environ.get("DMDVIZ_CACHE_DIR")
    if given:
        return Path(given)
    storage = space_storage()
    return storage / "cache" / "samples" if storage else Path.home() / ".cache" / "dmdviz" / "samples"


def pushed_record() -> Path:
    """The record of pushed teachers (their weights' SHA-256 -> Hub repo and commit), so a
    student pushed later names its teacher's repo: ``$DMDVIZ_PUSHED``, else
    ``~/.cache/dmdviz/pushed.json``."""
    return Path(os.environ.get("DMDVIZ_PUSHED") or Path.home() / ".cache" / "dmdviz" / "pushed.json")


def hub_login() -> bool:
    """Whether the app can log its visitors in with Hugging Face: on a Space (``SYSTEM=spaces``,
    Gradio's own test) whose README says ``hf_oauth: true``, which sets ``OAUTH_CLIENT_ID``.
    Only then does the app push (with the visitor's own login); elsewhere Gradio would mock
    the login with this machine's token, so a token is given on the command line only."""
    return bool(os.environ.get("SYSTEM") == "spaces" and os.environ.get("SPACE_ID") and os.environ.get("OAUTH_CLIENT_ID"))


def app_device() -> str:
    """The web app's device: ``$DMDVIZ_DEVICE``, default ``cpu`` (``auto`` takes CUDA or MPS
    when present; the command line picks its own with ``--device``)."""
    return os.environ.get("DMDVIZ_DEVICE", "").strip() or "cpu"


def app_bf16() -> bool:
    """Whether the web app samples under bf16 autocast: ``$DMDVIZ_BF16`` is ``1``/``true``/``yes``.
    Off by default, so the app's numbers are fp32's; on, every answer says so and the sample
    cache keeps its sets apart (their key records the precision)."""
    return os.environ.get("DMDVIZ_BF16", "").strip().lower() in ("1", "true", "yes", "on")


def shipped_samples() -> Path | None:
    """A read-only sample cache shipped with the checkpoints (``analysis.cache.SampleCache``
    reads it where its own folder misses): ``$DMDVIZ_SHIPPED_SAMPLES``, else
    ``<shipped_root()>/samples``; None when the variable is ``off`` or the folder is absent."""
    given = os.environ.get("DMDVIZ_SHIPPED_SAMPLES", "").strip()
    if given.lower() == "off":
        return None
    folder = Path(given) if given else shipped_root() / "samples"
    return folder if folder.is_dir() else None


def threads_for(idle_cores: float, cores: int) -> int:
    """Torch threads for a machine with ``cores`` of which ``idle_cores`` are idle now: the
    idle ones (rounded down, a core 80 % idle counting as one), at least 1. A thread on a
    core that another process holds waits at every parallel region's barrier for it, so one
    busy neighbour made all-core training 8x slower (2 cores: 74-99 s against 11 s)."""
    return max(1, min(cores, int(idle_cores + 0.2)))


def _idle_ticks(cpus: set[int]) -> tuple[int, int] | None:
    """(idle + iowait, total) clock ticks of the CPUs ``cpus`` so far, from ``/proc/stat``."""
    idle = total = 0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                ticks = [int(x) for x in fields[:8]]
                idle, total = idle + ticks[3] + ticks[4], total + sum(ticks)
    except (OSError, ValueError, IndexError):
        return None
    return (idle, total) if total else None


def default_threads(sample_s: float = 0.1) -> int:
    """Torch's CPU threads when neither ``--threads`` nor ``$DMDVIZ_THREADS`` names them: how
    many of the cores this process may use were idle over the last ``sample_s`` seconds
    (``/proc/stat``; elsewhere the cores less the 1-minute load average), at least 1
    (``threads_for``). Costs ``sample_s`` of waiting, once a process."""
    import time

    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    first = _idle_ticks(cpus)
    if first is not None:
        time.sleep(sample_s)
        second = _idle_ticks(cpus)
        if second is not None and second[1] > first[1]:
            return threads_for(len(cpus) * (second[0] - first[0]) / (second[1] - first[1]), len(cpus))
    try:
        return threads_for(len(cpus) - os.getloadavg()[0], len(cpus))
    except OSError:
        return len(cpus)


@functools.cache
def process_threads() -> int:
    """``default_threads()`` read once a process: every run a process starts after the first
    (a family of ``reproduce``, a sweep's sub-runs) keeps the first choice, so their thread
    counts, and with them their bit-for-bit results, do not follow the machine's load."""
    return default_threads()
