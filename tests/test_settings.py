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
