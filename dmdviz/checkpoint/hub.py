"""The Hugging Face Hub: a checkpoint downloaded (its size checked from the listing first,
``HF_HUB_OFFLINE`` and the cache respected) and a checkpoint folder pushed."""

from __future__ import annotations

from pathlib import Path

from dmdviz.checkpoint.format import load_folder, max_bytes
from dmdviz.checkpoint.names import REPO_ID, split_revision
from dmdviz.errors import DmdvizError

FILES = ["config.json", "model.safetensors", "README.md"]  # all a checkpoint repo is read for


def download(ref: str) -> tuple[Path, str, str]:
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import snapshot_download

    repo, rev = split_revision(ref)
    try:
        _check_remote_size(repo, rev)
        path = snapshot_download(repo, revision=rev, allow_patterns=FILES)
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
    folder = Path(path)
    return folder, repo, rev or folder.name


def _check_remote_size(repo: str, rev: str | None) -> None:
    """Online, refuse an oversized model.safetensors before downloading it (the local check
    in ``read_safetensors_header`` would come only after the disk had filled)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub import errors as hf_errors

    if constants.HF_HUB_OFFLINE:
        return  # only the cache is read
    try:
        infos = HfApi().get_paths_info(repo, ["model.safetensors"], revision=rev)
    except hf_errors.HfHubHTTPError:
        raise  # no such repo or revision: the caller words it
    except Exception:  # the HTTP stack's own errors: Hub unreachable, so nothing can be downloaded
        return  # and snapshot_download falls back to the cache
    limit = max_bytes()
    for info in infos:
        size = getattr(info, "size", 0) or 0
        if size > limit:
            raise DmdvizError(f"{repo}: model.safetensors is {size / 2**20:.0f} MB, over the "
                              f"{limit / 2**20:.0f} MB limit (DMDVIZ_MAX_MODEL_MB)")


def push(folder, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a validated checkpoint folder to a Hub model repo; returns the commit URL."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    folder = Path(folder)
    load_folder(folder)
    if not REPO_ID.match(repo_id) or "@" in repo_id:
        raise DmdvizError(f"{repo_id!r} is not a Hub repo id (org/name)")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, exist_ok=True, private=private)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                                 allow_patterns=FILES,
                                 commit_message="Upload dmdviz checkpoint")
    except hf_errors.OfflineModeIsEnabled:
        raise DmdvizError("cannot push: the Hub is in offline mode (HF_HUB_OFFLINE)") from None
    except hf_errors.HfHubHTTPError as e:
        raise DmdvizError(f"push to {repo_id} failed ({str(e).splitlines()[0][:120]})") from None
    except OSError as e:
        raise DmdvizError(f"push to {repo_id} failed: Hub unreachable ({type(e).__name__})") from None
    return str(getattr(info, "commit_url", info))
