"""The Hugging Face Hub: the files a request needs, planned from the Hub's listing and bounded
before the first byte (``fetch_files``; ``HF_HUB_OFFLINE`` and the cache respected), a dmdviz
checkpoint downloaded through it, and a checkpoint folder pushed.

While the files stream, each is cut off at the size the listing gave for it (a server that
streams more than it listed gets one read, 10 MB, further), and all of one reference's downloads at
``DMDVIZ_DOWNLOAD_S`` seconds; a cut leaves no partial blob in the cache. A server that stops
sending is dropped by the Hub client's own read timeout (``HF_HUB_DOWNLOAD_TIMEOUT``, 10 s,
and its five retries).

With ``DMDVIZ_HUB_CACHE_MB`` set (public mode: 4,096), the Hub cache is kept under it, least
recently used repos evicted after each fetch (``used``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from dmdviz.checkpoint.card import card, naming_teacher, pushed_teacher, record_push
from dmdviz.checkpoint.format import load_folder, max_bytes
from dmdviz.checkpoint.names import REPO_ID, split_revision
from dmdviz.errors import DmdvizError
from dmdviz.files import write_json
from dmdviz.limits import Limits

FILES = ["config.json", "model.safetensors", "README.md"]  # all a checkpoint repo is read for
SMALL_BYTES = 2**20  # any listed file but weights (.safetensors): configs, cards, pair files
DATA_BYTES = 64 * 2**20  # any one file of a data set (MNIST's largest IDX file: 47 MB)


def download(ref: str) -> tuple[Path, str, str]:
    """A dmdviz checkpoint repo's ``FILES`` (``fetch_files``'s bounds)."""
    return fetch_files(ref, FILES)


def fetch_files(ref: str, patterns: list[str], limits: Limits | None = None,
                small: int = SMALL_BYTES, repo_type: str = "model") -> tuple[Path, str, str]:
    """(snapshot folder, repo, revision) holding the files of Hub repo ``ref`` whose paths
    match ``patterns`` (fnmatch), planned before the first byte: listed (``get_paths_info``
    for plain names, else ``list_repo_tree``), each ``.safetensors`` file at most
    ``DMDVIZ_MAX_MODEL_MB``, each other file at most ``small`` bytes, all together at most
    ``DMDVIZ_MAX_DOWNLOAD_MB``; then those files alone downloaded. Offline, or with the Hub
    unreachable, only the cache is read. ``repo_type``: "model", or "dataset" (``fetch_dataset``)."""
    repo, rev = split_revision(ref)
    limits = limits or Limits.from_env()
    kind = f"{repo_type}s"
    used(repo, limits, kind)  # before the download too: no other request's trim evicts it meanwhile
    folder = _fetch(ref, patterns, limits, small, repo_type)
    used(repo, limits, kind)
    return folder, repo, rev or folder.name


def _fetch(ref: str, patterns: list[str], limits: Limits, small: int, repo_type: str) -> Path:
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import snapshot_download

    repo, rev = split_revision(ref)
    try:
        listing = _listing(repo, rev, patterns, repo_type)
        if listing is None:
            folder = Path(snapshot_download(repo, revision=rev, repo_type=repo_type, allow_patterns=patterns,
                                            local_files_only=True))
        else:
            _check_plan(repo, listing, limits, small)
            folder = _download(repo, rev, listing, limits.download_s, repo_type)
    except _Cut as e:
        _drop_partial(repo, f"{repo_type}s")
        raise DmdvizError(f"{ref}: {e}: download stopped") from None
    except hf_errors.OfflineModeIsEnabled:
        raise DmdvizError(f"{ref}: Hub is in offline mode and the repo is not in the local cache") from None
    except hf_errors.LocalEntryNotFoundError:
        raise DmdvizError(f"{ref}: not in the local Hugging Face cache and the Hub is unreachable") from None
    except hf_errors.RevisionNotFoundError:
        raise DmdvizError(f"{ref}: revision {rev!r} not found on the Hub") from None
    except hf_errors.RepositoryNotFoundError:
        raise DmdvizError(f"{ref}: no such {repo_type} repo on the Hub (or it is private)") from None
    except hf_errors.HfHubHTTPError as e:
        raise DmdvizError(f"{ref}: Hub error ({str(e).splitlines()[0][:120]})") from None
    except (OSError, ValueError) as e:
        raise DmdvizError(f"{ref}: could not be fetched ({type(e).__name__}: {str(e)[:120]})") from None
    return folder


def fetch_dataset(repo: str, patterns: list[str]) -> Path:
    """The files of Hub dataset ``repo`` matching ``patterns`` (``fetch_files``: planned and
    bounded; any one file at most ``DATA_BYTES``): what data/ is given for its Hub fallback."""
    return fetch_files(repo, patterns, small=DATA_BYTES, repo_type="dataset")[0]


def used(repo: str, limits: Limits, kind: str = "models") -> list[str]:
    """Record that this process uses ``repo`` now (its cache folder's time stamp, the cache's
    least-recently-used order), then, with ``DMDVIZ_HUB_CACHE_MB`` set, ``trim_cache``: the
    repos this process used within the last ``DMDVIZ_REQUEST_S`` seconds (an hour without that
    limit) are never evicted, so no request loses a repo between its download and its use.
    Returns the evicted repos' folder names."""
    from huggingface_hub import constants

    root, name, now = Path(constants.HF_HUB_CACHE), f"{kind}--{repo.replace('/', '--')}", time.monotonic()
    with contextlib.suppress(OSError):
        os.utime(root / name)
    with _RECENT_LOCK:
        _RECENT[name] = now
        window = limits.request_s if limits.request_s > 0 else 3600
        for old in [n for n, t in _RECENT.items() if now - t >= window]:
            del _RECENT[old]
        keep = set(_RECENT)
    return trim_cache(root, limits.hub_cache_mb * 2**20, keep) if limits.hub_cache_mb > 0 else []


_RECENT: dict[str, float] = {}  # a repo's cache folder name -> when this process last used it (monotonic)
_RECENT_LOCK = threading.Lock()


def trim_cache(root: Path, cap: int, keep: set[str]) -> list[str]:
    """Evict whole repos (``models--*``, ``datasets--*``) from the Hub cache at ``root``, least
    recently used first (their folders' time stamps), until it holds at most ``cap`` bytes;
    never one named in ``keep``. Returns the evicted folder names."""
    repos = [d for pattern in ("models--*", "datasets--*") for d in root.glob(pattern) if d.is_dir()]
    sizes = {d: _bytes(d) for d in repos}
    total, gone = sum(sizes.values()), []
    for folder in sorted(repos, key=_stamp):
        if total <= cap:
            break
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            total -= sizes[folder]
            gone.append(folder.name)
    return gone


def _stamp(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:  # evicted meanwhile
        return 0.0


def _bytes(folder: Path) -> int:
    """Bytes a cache folder holds (its blobs; snapshots are links to them)."""
    try:
        return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    except OSError:  # evicted meanwhile
        return 0


def _listing(repo: str, rev: str | None, patterns: list[str], repo_type: str = "model") -> dict[str, int] | None:
    """{path: size} of the repo's files ``patterns`` match, from the Hub's listing; None
    offline or when the Hub cannot be reached (then nothing can be downloaded)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub import errors as hf_errors

    if constants.HF_HUB_OFFLINE:
        return None
    plain = not any(c in p for p in patterns for c in "*?[")
    try:
        api = HfApi()
        kind = {} if repo_type == "model" else {"repo_type": repo_type}  # "model", the default, left unnamed
        entries = (api.get_paths_info(repo, patterns, revision=rev, **kind) if plain
                   else api.list_repo_tree(repo, revision=rev, recursive=True, **kind))
        return {e.path: int(e.size or 0) for e in entries
                if getattr(e, "size", None) is not None and any(fnmatch(e.path, p) for p in patterns)}
    except hf_errors.HfHubHTTPError:
        raise  # no such repo or revision: the caller words it
    except Exception:  # the HTTP stack's own errors: the Hub is unreachable
        return None


def _check_plan(repo: str, listing: dict[str, int], limits: Limits, small: int) -> None:
    if not listing:
        raise DmdvizError(f"{repo}: the repo holds none of the files needed here")
    weights = max_bytes(limits)
    for path, size in sorted(listing.items()):
        heavy = path.endswith(".safetensors")
        limit, var = (weights, " (DMDVIZ_MAX_MODEL_MB)") if heavy else (small, "")
        if size > limit:
            raise DmdvizError(f"{repo}: {path} is {_mb(size)} MB, over the {_mb(limit)} MB limit{var}")
    total, cap = sum(listing.values()), limits.max_download_mb * 2**20
    if total > cap:
        raise DmdvizError(f"{repo}: the files needed come to {_mb(total)} MB, over the {_mb(cap)} MB download "
                          "limit (DMDVIZ_MAX_DOWNLOAD_MB)")


def _mb(size: int) -> str:
    return f"{size / 2**20:.2f}".rstrip("0").rstrip(".") if size < 2**20 else f"{size / 2**20:,.0f}"


def _download(repo: str, rev: str | None, listing: dict[str, int], seconds: int = 0, repo_type: str = "model") -> Path:
    """The listed files alone, through the cache, each metered (``_meter``); their snapshot folder."""
    from huggingface_hub import hf_hub_download

    deadline = time.monotonic() + seconds if seconds > 0 else None
    folder = None
    for path in sorted(listing):
        meter = _meter(path, listing[path], deadline, seconds)
        got = Path(hf_hub_download(repo, path, revision=rev, repo_type=repo_type, tqdm_class=meter))
        folder = got.parents[len(PurePosixPath(path).parts) - 1]
    return folder


class _Cut(Exception):
    """A download stopped while it streamed (more bytes than listed, or past its time)."""


def _meter(path: str, size: int, deadline: float | None, seconds: int) -> type:
    """The progress-bar class ``hf_hub_download`` is given for one file: told of every chunk
    before it is written, it stops the stream past ``size`` bytes or past ``deadline``."""

    class Meter:
        def __init__(self, *args, initial: int = 0, **kwargs):
            self.n = initial

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def close(self) -> None:
            pass

        def update(self, n: int | None = 1) -> None:
            self.n += n or 0
            if self.n > size:
                raise _Cut(f"the Hub streamed more of {path} than the {size:,} bytes its listing gave")
            if deadline is not None and time.monotonic() > deadline:
                raise _Cut(f"its downloads ran past the {seconds} s limit (DMDVIZ_DOWNLOAD_S)")

    return Meter


def _drop_partial(repo: str, kind: str = "models") -> None:
    """The partial blobs (``*.incomplete``) a cut download left in the repo's cache folder."""
    from huggingface_hub import constants

    for blob in (Path(constants.HF_HUB_CACHE) / f"{kind}--{repo.replace('/', '--')}" / "blobs").glob("*.incomplete"):
        blob.unlink(missing_ok=True)


def push(folder, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a validated checkpoint folder to a Hub model repo; returns the commit URL.

    A teacher's push is recorded (``card.record_push``); a student whose teacher (a local
    folder or shipped name) was pushed from the same weights goes up naming that repo, in its
    config (so it loads its teacher from the Hub) and as its card's ``base_model``."""
    import tempfile

    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    folder = Path(folder)
    config = load_folder(folder).config
    if not REPO_ID.match(repo_id) or "@" in repo_id:
        raise DmdvizError(f"{repo_id!r} is not a Hub repo id (org/name)")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, exist_ok=True, private=private)
        with tempfile.TemporaryDirectory() as tmp:
            info = api.upload_folder(repo_id=repo_id, folder_path=str(_naming_pushed_teacher(folder, config, Path(tmp))),
                                     allow_patterns=FILES, commit_message="Upload dmdviz checkpoint")
    except hf_errors.OfflineModeIsEnabled:
        raise DmdvizError("cannot push: the Hub is in offline mode (HF_HUB_OFFLINE)") from None
    except hf_errors.HfHubHTTPError as e:
        raise DmdvizError(f"push to {repo_id} failed ({str(e).splitlines()[0][:120]})") from None
    except OSError as e:
        raise DmdvizError(f"push to {repo_id} failed: Hub unreachable ({type(e).__name__})") from None
    if config.get("role") == "teacher":
        record_push(folder, repo_id, str(getattr(info, "oid", "") or ""))
    return str(getattr(info, "commit_url", info))


def _naming_pushed_teacher(folder: Path, config: dict, tmp: Path) -> Path:
    """``folder``, or for a student of a pushed teacher (``card.pushed_teacher``) a copy in
    ``tmp`` whose config.json and card name the teacher's Hub repo and commit."""
    pushed = pushed_teacher((config.get("teacher") or {}).get("ref", "")) if config.get("role") == "student" else None
    if pushed is None:
        return folder
    for name in FILES:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, tmp / name)
    teacher = {**config["teacher"], "ref": pushed["repo"], "revision": pushed["revision"]}
    write_json(tmp / "config.json", {**config, "teacher": teacher})
    text = (folder / "README.md").read_text() if (folder / "README.md").is_file() else card(config)
    (tmp / "README.md").write_text(naming_teacher(text, pushed["repo"], pushed["revision"]))
    return tmp
