"""What a checkpoint reference names, for the command line and the library.

A reference is resolved in this order:
1. an existing local folder;
2. a shipped name: ``chessboard4d/teacher`` is ``<shipped root>/chessboard4d/teacher``
   (``settings.shipped_root``);
3. a Hub repo id ``org/name[@revision]`` (downloaded through ``checkpoint.hub``).

This is the command line's rule (anything local or on the Hub). The web app has its own,
narrower one (``web.registry``); the layers below take resolved folders or loaded models,
never a reference string.
"""

from __future__ import annotations

from pathlib import Path

from dmdviz import settings
from dmdviz.checkpoint.format import PICKLE_SUFFIXES, Checkpoint, load_folder
from dmdviz.checkpoint.hub import download
from dmdviz.checkpoint.names import MAX_REF, REPO_ID, split_revision
from dmdviz.errors import DmdvizError

__all__ = ["MAX_REF", "REPO_ID", "is_shipped", "load_checkpoint", "resolve", "shipped_names", "split_revision"]


def shipped_names() -> list[str]:
    """Shipped references, e.g. ``chessboard4d/teacher``, sorted."""
    root = settings.shipped_root()
    if not root.is_dir():
        return []
    return sorted(str(p.parent.relative_to(root)) for p in root.rglob("config.json")
                  if _visible(p.relative_to(root).parts))


def _visible(parts) -> bool:
    """No hidden part (``.cache``, ``.git``), nothing under ``pairs/`` (pair files and the
    diffusers folders they name): such folders are never shipped names."""
    return not any(part.startswith(".") for part in parts) and tuple(parts[:1]) != ("pairs",)


def is_shipped(ref: str) -> bool:
    """Whether ``ref`` is one of ``shipped_names()``, without walking the folder (every app
    request asks: the walk was most of a cached view's server time)."""
    parts = ref.split("/")
    if not all(parts) or not _visible(parts) or "\\" in ref:
        return False
    root = settings.shipped_root()
    folder = root / ref
    try:
        return (folder / "config.json").is_file() and folder.resolve().is_relative_to(root.resolve())
    except OSError:  # a name the file system refuses (too long): not a shipped one
        return False


def resolve(ref: str) -> tuple[Path, str, str]:
    """(folder, canonical ref, revision) for a local folder, shipped name or Hub repo id."""
    ref = str(ref).strip()
    if not ref:
        raise DmdvizError("empty checkpoint reference")
    if len(ref) > MAX_REF:
        raise DmdvizError(f"checkpoint reference of {len(ref)} characters (at most {MAX_REF})")
    try:
        found = _resolve_local(ref)
    except OSError as e:  # e.g. a path component over the file system's name limit
        raise DmdvizError(f"{ref[:60]!r}... is not a usable path ({e.strerror or type(e).__name__})") from None
    if found:
        return found
    if not REPO_ID.match(ref):
        raise DmdvizError(f"{ref!r} is neither a folder, a shipped checkpoint nor a Hub repo id (org/name[@revision])")
    return download(ref)


def _resolve_local(ref: str) -> tuple[Path, str, str] | None:
    """A local folder or a shipped name; None when ``ref`` is neither (it may be a Hub id)."""
    local, root = Path(ref).expanduser(), settings.shipped_root()
    if local.is_dir():
        try:
            return local, str(local.resolve().relative_to(root.resolve())), ""
        except ValueError:
            return local, str(local.resolve()), ""
    if local.suffix in PICKLE_SUFFIXES and local.exists():
        raise DmdvizError(f"{ref} is a pickle file: only safetensors checkpoint folders are loaded")
    if local.exists():
        raise DmdvizError(f"{ref} is a file: a checkpoint is a folder with config.json and model.safetensors")
    if (root / ref / "config.json").is_file():
        return root / ref, ref, ""
    return None


def load_checkpoint(ref: str, device="cpu") -> Checkpoint:
    """Resolve a reference (folder, shipped name, Hub id) and load it, fully validated."""
    folder, canonical, revision = resolve(ref)
    return load_folder(folder, canonical, revision, device)
