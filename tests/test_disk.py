"""The server's disk: an upload refused while it would leave the disk nearly full (nothing kept),
and what earlier processes left behind (old upload roots, empty sample-cache key folders)
cleaned when the app starts, never this process's own or a young one."""

from __future__ import annotations

import os
import shutil
import time
from collections import namedtuple
from dataclasses import replace

import pytest

from dmdviz.errors import DmdvizError

Usage = namedtuple("Usage", "total used free")


def test_an_upload_that_would_fill_the_disk_is_refused_and_leaves_nothing(tmp_path, monkeypatch, tiny_pair):
    from dmdviz.limits import Limits
    from dmdviz.web import disk
    from dmdviz.web.registry import Registry

    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    reg = Registry(replace(Limits.from_env(), disk_margin_mb=100))
    files = [str(tiny_pair[1] / name) for name in ("config.json", "model.safetensors")]
    size = sum(os.path.getsize(f) for f in files)
    try:
        monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(2**40, 2**40, 100 * 2**20 + size - 1))
        with pytest.raises(DmdvizError, match=r"^the server's disk is nearly full \(100 MB free; an upload must leave "
                                              r"100 MB, DMDVIZ_DISK_MARGIN_MB\): try again later$"):
            reg.import_upload(files, "s")
        pair = tmp_path / "pair.json"
        pair.write_text("{}")
        monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(2**40, 2**40, 100 * 2**20 + 1))
        with pytest.raises(DmdvizError, match="disk is nearly full"):
            reg.import_pairfile(str(pair), "s")
        assert not any(reg.uploads.iterdir()) and not reg._uploads
        monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(2**40, 2**40, 100 * 2**20 + size))
        assert reg.import_upload(files, "s").startswith("upload:")  # exactly the margin left: accepted
    finally:
        shutil.rmtree(reg.uploads, ignore_errors=True)


def test_leftovers_of_earlier_processes_are_cleaned_at_start(tmp_path, monkeypatch):
    from dmdviz.web import disk

    monkeypatch.setattr(disk.tempfile, "tempdir", str(tmp_path))
    old, young, mine = (tmp_path / f"dmdviz-uploads-{n}" for n in ("old", "young", "mine"))
    cache = tmp_path / "samples"
    empty, full, fresh, other = cache / ("a" * 32), cache / ("b" * 32), cache / ("c" * 32), cache / "notes"
    for folder in (old / "ckpt-1", young, mine, empty, full, fresh, other):
        folder.mkdir(parents=True)
    (full / "block-0.safetensors").write_bytes(b"x")
    day = time.time() - 86_400
    for folder in (old, mine, empty, full, other):
        os.utime(folder, (day, day))
    assert disk.clean_leftovers(3600, cache, keep=mine) == 2
    assert not old.exists() and not empty.exists()
    assert all(f.exists() for f in (young, mine, full, fresh, other))
