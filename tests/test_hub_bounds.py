"""Hub downloads bounded while they stream, against a fake Hub on loopback (a real HTTP server
the Hub client talks to; only the listing is patched): a file that streams more than its
listing claimed is cut off at the claimed size and leaves no partial blob, and one reference's
downloads stop at ``DMDVIZ_DOWNLOAD_S``. And the Hub cache kept under ``DMDVIZ_HUB_CACHE_MB``
(a fake offline cache): least recently used repos go, never one a request still uses."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dmdviz.errors import DmdvizError

CHUNK = 64 * 1024


class LoopbackHub:
    """Serves ``/<org>/<name>/resolve/<rev>/<file>``: HEAD answers with the claimed size, GET
    streams ``streamed`` bytes (no Content-Length), ``pause`` seconds between chunks; ``sent``
    counts the bytes the client took."""

    def __init__(self, claimed: int, streamed: int, pause: float = 0.0):
        self.claimed, self.streamed, self.pause, self.sent = claimed, streamed, pause, 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _head(self, length: int | None):
                self.send_response(200)
                self.send_header("X-Repo-Commit", "c" * 40)
                self.send_header("ETag", '"' + "b" * 40 + '"')
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def do_HEAD(self):
                self._head(hub.claimed)

            def do_GET(self):
                self._head(None)
                try:
                    while hub.sent < hub.streamed:
                        self.wfile.write(b"\0" * CHUNK)
                        hub.sent += CHUNK
                        time.sleep(hub.pause)
                except OSError:  # the client hung up
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def loopback(monkeypatch, tmp_path):
    """``make(claimed, streamed, pause)``: a loopback Hub the Hub client downloads from (online,
    an empty cache under ``tmp_path``), listing ``org/big``'s ``model.safetensors`` at ``claimed``."""
    import huggingface_hub
    import huggingface_hub.constants as c
    from huggingface_hub.hf_api import RepoFile

    hubs = []

    def make(claimed: int, streamed: int, pause: float = 0.0) -> LoopbackHub:
        hub = LoopbackHub(claimed, streamed, pause)
        hubs.append(hub)
        monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(c, "DOWNLOAD_CHUNK_SIZE", CHUNK)  # the client's read size (10 MB): the meter's step
        monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setattr(c, "ENDPOINT", hub.url)
        monkeypatch.setattr(c, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", lambda self, repo, paths, revision=None, **kw:
                            [RepoFile(path=p, size=claimed, oid="0" * 40) for p in paths])
        return hub

    yield make
    for hub in hubs:
        hub.server.shutdown()
        hub.server.server_close()


def test_a_file_streaming_past_its_listed_size_is_cut_off(loopback, tmp_path):
    from dmdviz.checkpoint import fetch_files

    hub = loopback(claimed=CHUNK * 4, streamed=CHUNK * 4096)  # listed at 256 KiB, streams 256 MiB
    with pytest.raises(DmdvizError) as e:
        fetch_files("org/big", ["model.safetensors"])
    assert str(e.value) == ("org/big: the Hub streamed more of model.safetensors than the 262,144 bytes its listing "
                            "gave: download stopped"), e.value
    assert hub.sent < CHUNK * 64  # a few socket buffers beyond the cut, not the 256 MiB
    assert not list((tmp_path / "hub").rglob("*.incomplete"))  # no partial blob kept (nor resumed later)


def test_downloads_stop_at_their_time_limit(loopback):
    from dmdviz.checkpoint import fetch_files
    from dmdviz.limits import Limits

    hub = loopback(claimed=CHUNK * 4096, streamed=CHUNK * 4096, pause=0.05)  # honest, but a 3-minute drip
    limits = replace(Limits.from_env(), download_s=1)
    started = time.monotonic()
    with pytest.raises(DmdvizError, match=r"^org/big: its downloads ran past the 1 s limit \(DMDVIZ_DOWNLOAD_S\)"):
        fetch_files("org/big", ["model.safetensors"], limits)
    assert time.monotonic() - started < 30 and hub.sent < CHUNK * 1024


def _repo(cache, name: str, mb: float, age_s: float) -> None:
    """``org/<name>`` in an offline cache: one file of ``mb`` MB, last used ``age_s`` ago."""
    from fake_hub import cached_repo

    folder = cache.parent / f"src-{name}"
    folder.mkdir()
    (folder / "config.json").write_bytes(b"{}" + b" " * int(mb * 2**20))
    cached_repo(cache, f"org/{name}", folder)
    stamp = time.time() - age_s
    os.utime(cache / f"models--org--{name}", (stamp, stamp))


def test_the_hub_cache_evicts_least_recently_used_repos_but_never_one_in_use(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    from dmdviz.checkpoint import fetch_files, hub
    from dmdviz.limits import Limits

    cache = tmp_path / "hub"
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    for name, age in (("oldest", 300), ("older", 200), ("recent", 100), ("asked", 400)):
        _repo(cache, name, 0.9, age)
    # 3.6 MB held, a 2 MB cap: "asked" is the oldest by its stamp, but this request uses it now
    limits = replace(Limits.from_env(), hub_cache_mb=2, request_s=60)
    folder, repo, _ = fetch_files("org/asked", ["config.json"], limits)
    assert repo == "org/asked" and (folder / "config.json").is_file()
    assert sorted(p.name for p in cache.iterdir()) == ["models--org--asked", "models--org--recent"]
    # a repo this process used within the request limit stays too, whatever the cap
    assert hub.used("org/recent", replace(limits, hub_cache_mb=1)) == []
    assert sorted(p.name for p in cache.iterdir()) == ["models--org--asked", "models--org--recent"]
    assert hub.trim_cache(cache, 2**20, keep={"models--org--recent"}) == ["models--org--asked"]
    assert fetch_files("org/recent", ["config.json"], replace(limits, hub_cache_mb=0))[1] == "org/recent"  # 0: no cap


def test_mnist_from_the_hub_goes_through_the_bounded_planner(tmp_path, monkeypatch, mnist_dir):
    import shutil

    import huggingface_hub
    import huggingface_hub.constants as c
    from huggingface_hub.hf_api import RepoFile

    from dmdviz import checkpoint
    from dmdviz.data import images

    cache = tmp_path / "hub"
    monkeypatch.setattr(images, "_HUB", [])
    monkeypatch.setattr(images, "BUNDLED_MNIST", tmp_path / "not-shipped")
    monkeypatch.setenv("DMDVIZ_MNIST_REPO", "org/mnist")
    monkeypatch.delenv("DMDVIZ_DATA_DIR", raising=False)
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    with pytest.raises(DmdvizError, match=r"hub:org/mnist \(no Hub access given here\)"):
        images.mnist_folder()  # no edge gave a fetcher: the Hub is not tried
    images.use_hub(checkpoint.fetch_dataset)
    snapshot = cache / "datasets--org--mnist" / "snapshots" / ("d" * 40)
    shutil.copytree(mnist_dir, snapshot)
    (cache / "datasets--org--mnist" / "refs").mkdir()
    (cache / "datasets--org--mnist" / "refs" / "main").write_text("d" * 40)
    assert images.mnist_folder() == snapshot  # offline: the dataset repo's cache
    # online, the listing plans the download: an IDX file listed at 20 GiB is refused before a byte
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_tree", lambda self, repo, **kw: iter(
        [RepoFile(path="t10k-images-idx3-ubyte.gz", size=20 * 2**30, oid="0" * 40)]))
    with pytest.raises(DmdvizError, match=r"hub:org/mnist \(t10k-images-idx3-ubyte.gz is 20,480 MB, over the 64 MB "
                                          r"limit\)"):
        images.mnist_folder()
