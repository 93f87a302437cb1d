"""Shared fixtures: the real MNIST test split shipped in data/mnist and tiny trained checkpoints."""

from __future__ import annotations

import html
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from served_app import TINY_RUN, finished_run, free_port

ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = ROOT / "data" / "mnist"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DMDVIZ_THREADS", "1")
os.environ.setdefault("DMDVIZ_CACHE_DIR", tempfile.mkdtemp(prefix="dmdviz-test-cache-"))  # never ~/.cache
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read at import by huggingface_hub (gradio imports it)
os.environ.pop("DMDVIZ_DATA_DIR", None)  # the suite reads MNIST from the repo, as on a fresh clone


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"the MNIST test split the repo ships is missing from {MNIST_DIR}")
    return MNIST_DIR


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory):
    """A chessboard-4D teacher (300 steps) and its student (40 DMD iterations), on disk."""
    from dmdviz.checkpoint import load_checkpoint
    from dmdviz.config import get_preset
    from dmdviz.training import distill, train_teacher
    from dmdviz.training.runtime import Runtime

    root = tmp_path_factory.mktemp("pair")
    p = get_preset("chessboard4d")
    net = replace(p.net, hidden=64)
    rt = Runtime.create("cpu")
    train_teacher(p.data, net, replace(p.teacher, steps=300, batch=256, snapshots=(100,)), root / "teacher", rt=rt)
    teacher = load_checkpoint(str(root / "teacher"))
    distill(teacher, replace(p.distill, steps=40, batch=128, probe_every=20, probe_n=64), root / "student", rt=rt)
    return root / "teacher", root / "student"


@pytest.fixture(scope="session")
def tiny_sibling(tiny_pair, tmp_path_factory):
    """A second student of the tiny teacher, initialised at random (20 DMD iterations)."""
    from dmdviz.checkpoint import load_checkpoint
    from dmdviz.config import get_preset
    from dmdviz.training import distill
    from dmdviz.training.runtime import Runtime

    out = tmp_path_factory.mktemp("sibling") / "student-random-init"
    distill(load_checkpoint(str(tiny_pair[0])),
            replace(get_preset("chessboard4d").distill, steps=20, batch=128, init="random", probe_every=10, probe_n=64),
            out, rt=Runtime.create("cpu"))
    return out


@pytest.fixture(scope="module")
def served(request, tiny_pair, tmp_path_factory):
    """The app on a free port, opening on the tiny pair (a finished run ``runs/tiny``, or the
    module's ``DEFAULT_PAIR``), with its own runs root and an empty offline Hub cache, and the
    module's ``SERVED_ENV`` on top: (demo, url, tmp folder). One server per test module; a
    module with ``SERVED_WARM = True`` gets the app as ``app.py`` builds it (the default view
    drawn before the port opens, with its static first paints)."""
    import huggingface_hub.constants

    from dmdviz.web.app import build_demo
    from dmdviz.web.page import launch_kwargs

    tmp = tmp_path_factory.mktemp("ui")
    finished_run(tiny_pair, tmp / "runs")
    env = {"DMDVIZ_DEFAULT_PAIR": getattr(request.module, "DEFAULT_PAIR", TINY_RUN), "DMDVIZ_RUNS_DIR": str(tmp / "runs"),
           "DMDVIZ_MAX_SEEDS": "300", "HF_HOME": str(tmp / "hf"),
           # a Gradio cache of its own: a closing server deletes its cached uploads, and another
           # server of this process may hold a file of the same content at the same cache path
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), **getattr(request.module, "SERVED_ENV", {})}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        demo = build_demo(warm=getattr(request.module, "SERVED_WARM", False))
        port = free_port()
        demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **launch_kwargs())
        yield demo, f"http://127.0.0.1:{port}/", tmp
        demo.close()


def _refusal(out) -> str:
    """The one line of a refused app event (its error box), checking that the event left
    every other output as it was (the status line may carry the same warning)."""
    out = list(out) if isinstance(out, (list, tuple)) else [out]
    boxes = [o for o in out if isinstance(o, dict) and o.get("visible") is True and 'role="alert"' in str(o.get("value"))]
    assert len(boxes) == 1, out
    line = html.unescape(re.sub(r"<[^>]+>", "", boxes[0]["value"])).removeprefix("⚠ ")
    for o in out:
        if o is not boxes[0]:
            # an upload box is emptied of the file it refused (``messages.guarded``'s reset)
            assert o in ({"__type__": "update"}, {"__type__": "update", "value": None}) or (
                isinstance(o, str) and line in o), o
    assert "\n" not in line and "Traceback" not in line, line
    return line


@pytest.fixture(scope="session")
def refusal():
    """``refusal(outputs) -> message`` (see ``_refusal``)."""
    return _refusal
