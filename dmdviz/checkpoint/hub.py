"""The Hugging Face Hub: the files a request needs, planned from the Hub's listing and bounded
before the first byte (``fetch_files``; ``HF_HUB_OFFLINE`` and the cache respected), a dmdviz
checkpoint downloaded through it, and a checkpoint folder pushed."""

from __future__ import annotations

import shutil
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


def download(ref: str) -> tuple[Path, str, str]:
    """A dmdviz checkpoint repo's ``FILES`` (``fetch_files``'s bounds)."""
    return fetch_files(ref, FILES)


def fetch_files(ref: str, patterns: list[str], limits: Limits | None = None,
                small: int = SMALL_BYTES) -> tuple[Path, str, str]:
    """(snapshot folder, repo, revision) holding the files of Hub repo ``ref`` whose paths
    match ``patterns`` (fnmatch), planned before the first byte: listed (``get_paths_info``
    for plain names, else ``list_repo_tree``), each ``.safetensors`` file at most
    ``DMDVIZ_MAX_MODEL_MB``, each other file at most ``small`` bytes, all together at most
    ``DMDVIZ_MAX_DOWNLOAD_MB``; then those files alone downloaded. Offline, or with the Hub
    unreachable, only the cache is read."""
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import snapshot_download

    repo, rev = split_revision(ref)
    try:
        listing = _listing(repo, rev, patterns)
        if listing is None:
            folder = Path(snapshot_download(repo, revision=rev, allow_patterns=patterns, local_files_only=True))
        else:
            _check_plan(repo, listing, limits or Limits.from_env(), small)
            folder = _download(repo, rev, listing)
    except hf_errors.OfflineModeIsEnabled:
        raise DmdvizError(f"{ref}: Hub is in offline mode and the repo is not in the local cache") from None
    except hf_errors.LocalEntryNotFoundError:
        raise DmdvizError(f"{ref}: not in the local Hugging Face cache and the Hub is unreachable") from None
    except hf_errors.RevisionNotFoundError:
        raise DmdvizError(f"{ref}: revision {rev!r} not found on the Hub") from None
    except hf_errors.RepositoryNotFoundError:
        raise DmdvizError(f"{ref}: no such model repo on the Hub (or it is private)") from None
    except hf_errors.HfHubHTTPError as e:
        raise DmdvizError(f"{ref}: Hub error ({str(e).splitlines()[0][:120]})") from None
    except (OSError, ValueError) as e:
        raise DmdvizError(f"{ref}: could not be fetched ({type(e).__name__}: {str(e)[:120]})") from None
    return folder, repo, rev or folder.name


def _listing(repo: str, rev: str | None, patterns: list[str]) -> dict[str, int] | None:
    """{path: size} of the repo's files ``patterns`` match, from the Hub's listing; None
    offline or when the Hub cannot be reached (then nothing can be downloaded)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub import errors as hf_errors

    if constants.HF_HUB_OFFLINE:
        return None
    plain = not any(c in p for p in patterns for c in "*?[")
    try:
        api = HfApi()
        entries = (api.get_paths_info(repo, patterns, revision=rev) if plain
                   else api.list_repo_tree(repo, revision=rev, recursive=True))
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


def _download(repo: str, rev: str | None, listing: dict[str, int]) -> Path:
    """The listed files alone, through the cache; their snapshot folder."""
    from huggingface_hub import hf_hub_download

    folder = None
    for path in sorted(listing):
        got = Path(hf_hub_download(repo, path, revision=rev))
        folder = got.parents[len(PurePosixPath(path).parts) - 1]
    return folder


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
