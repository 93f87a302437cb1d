"""The one rule for a Hub repo id, ``org/name[@revision]``, and the bound on a reference's length."""

from __future__ import annotations

import re

REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")
MAX_REF = 1024  # characters of a checkpoint reference


def is_repo_id(ref: str) -> bool:
    """Whether ``ref`` reads as a Hub repo id ``org/name[@revision]`` (``..`` is never a part)."""
    repo = split_revision(ref)[0]
    return bool(REPO_ID.match(ref)) and not any(part.strip(".") == "" for part in repo.split("/"))


def split_revision(ref: str) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev``); no revision -> None."""
    if "@" in ref:
        repo, rev = ref.rsplit("@", 1)
        return repo, rev or None
    return ref, None
