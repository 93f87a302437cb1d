"""Settings read when asked: a Space's persistent storage (/data) holds runs and the sample
cache when it is mounted; an explicit variable always wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmdviz import settings
from dmdviz.analysis.cache import SampleCache


@pytest.fixture
def storage(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(settings, "SPACE_DATA", data)
    monkeypatch.chdir(tmp_path)
    for name in ("SPACE_ID", "DMDVIZ_RUNS_DIR", "DMDVIZ_CACHE_DIR", "DMDVIZ_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    return data


def test_a_space_with_storage_keeps_runs_and_samples_there(storage, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "me/dmdviz")
    assert settings.space_storage() == storage
    assert settings.runs_root() == storage / "runs"
    assert SampleCache.from_env().root == storage / "cache" / "samples"


def test_elsewhere_the_defaults_are_local(storage, monkeypatch, tmp_path):
    assert settings.space_storage() is None  # /data alone does not make a Space
    assert settings.runs_root() == tmp_path / "runs"
    assert settings.sample_cache_dir() == Path.home() / ".cache" / "dmdviz" / "samples"
    monkeypatch.setenv("SPACE_ID", "me/dmdviz")
    storage.rmdir()  # a Space without persistent storage
    assert settings.space_storage() is None and settings.runs_root() == tmp_path / "runs"


def test_an_explicit_variable_wins(storage, monkeypatch, tmp_path):
    monkeypatch.setenv("SPACE_ID", "me/dmdviz")
    monkeypatch.setenv("DMDVIZ_RUNS_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    assert settings.runs_root() == tmp_path / "mine" and settings.sample_cache_dir() == tmp_path / "cache"


def test_the_app_device_defaults_to_cpu(storage, monkeypatch):
    assert settings.app_device() == "cpu"
    monkeypatch.setenv("DMDVIZ_DEVICE", "auto")
    assert settings.app_device() == "auto"


@pytest.mark.parametrize("idle,expected", [(195, 2), (120, 1), (100, 1), (0, 1)])
def test_the_default_threads_are_the_cores_idle_now(monkeypatch, idle, expected):
    """2 cores, 200 ticks between two reads of /proc/stat: 195 idle is 1.95 idle cores (2
    threads); 120 or 100 idle is one core held by a neighbour (1); none idle still 1."""
    monkeypatch.setattr(settings.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    ticks = iter([(1000, 5000), (1000 + idle, 5200)])
    monkeypatch.setattr(settings, "_idle_ticks", lambda cpus: next(ticks))
    assert settings.default_threads(sample_s=0.0) == expected


def test_without_proc_stat_the_load_average_decides(monkeypatch):
    monkeypatch.setattr(settings.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(settings, "_idle_ticks", lambda cpus: None)
    monkeypatch.setattr(settings.os, "getloadavg", lambda: (1.1, 0.0, 0.0))
    assert settings.default_threads() == 3  # 4 cores less 1.1: 2.9 idle, the last 90 % idle
    assert settings.threads_for(7.9, 4) == 4 and settings.threads_for(-3.0, 4) == 1


def test_the_idle_ticks_of_this_machine_are_read():
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat here")
    idle, total = settings._idle_ticks({0})
    assert 0 <= idle <= total and total > 0


def test_a_process_reads_its_default_threads_once(monkeypatch):
    """Runtime.create without --threads takes the first reading for the whole process: a later,
    busier machine does not change the thread count of the process's later runs."""
    import torch

    from dmdviz.training.runtime import Runtime

    before = torch.get_num_threads()
    monkeypatch.delenv("DMDVIZ_THREADS", raising=False)
    settings.process_threads.cache_clear()
    readings = iter([1, 2])
    monkeypatch.setattr(settings, "default_threads", lambda: next(readings))
    try:
        assert Runtime.create("cpu") and torch.get_num_threads() == 1
        assert Runtime.create("cpu") and torch.get_num_threads() == 1  # not 2: read once
    finally:
        settings.process_threads.cache_clear()
        torch.set_num_threads(before)


@pytest.mark.parametrize("value,on", [("", False), ("0", False), ("1", True), ("true", True), ("off", False)])
def test_the_app_samples_in_bf16_only_when_asked(monkeypatch, value, on):
    monkeypatch.setenv("DMDVIZ_BF16", value)
    assert settings.app_bf16() is on


def test_the_shipped_samples_folder_is_beside_the_checkpoints_and_may_be_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("DMDVIZ_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("DMDVIZ_SHIPPED_SAMPLES", raising=False)
    assert settings.shipped_samples() is None  # deleted (or never built): none, and the app samples
    (tmp_path / "samples").mkdir()
    assert settings.shipped_samples() == tmp_path / "samples"
    monkeypatch.setenv("DMDVIZ_SHIPPED_SAMPLES", "off")
    assert settings.shipped_samples() is None
