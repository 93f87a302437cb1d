"""A Hugging Face Hub for tests, on this machine: a tiny diffusers pipeline folder, an offline
cache holding a repo, and an online Hub whose listing claims any sizes (the files it does
not hold are only listed) and whose downloads are recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch


def tiny_pipe(root: Path, **config) -> Path:
    """A 2 × 8 × 8 UNet2DModel (unet/) with a DDIM scheduler (scheduler/); ``config`` entries
    then overwrite unet/config.json (the weights stay those of the tiny network)."""
    import diffusers

    torch.manual_seed(0)
    net = diffusers.UNet2DModel(sample_size=8, in_channels=2, out_channels=2, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    net.save_pretrained(root / "unet")
    diffusers.DDIMScheduler().save_pretrained(root / "scheduler")
    if config:
        path = root / "unet" / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))
    return root


def cached_repo(cache: Path, repo: str, folder: Path, sha: str = "d" * 40) -> None:
    """``folder`` as the main revision of ``repo`` in an (offline) Hub cache."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(sha)
    shutil.copytree(folder, root / "snapshots" / sha, dirs_exist_ok=True)


class OnlineHub:
    """Online mode against ``folder``: ``list_repo_tree`` / ``get_paths_info`` list its files
    and the ``claimed`` ones ({path: size}, listed only); ``hf_hub_download`` copies a file
    into a snapshot folder and records its path in ``fetched``; ``snapshot_download`` fails."""

    def __init__(self, monkeypatch, tmp: Path, folder: Path, claimed: dict[str, int] | None = None):
        import huggingface_hub
        import huggingface_hub.constants
        from huggingface_hub.hf_api import RepoFile

        self.fetched: list[str] = []
        sizes = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
        entries = [RepoFile(path=k, size=v, oid="0" * 40) for k, v in {**sizes, **(claimed or {})}.items()]
        snapshot = tmp / "online-snapshots" / ("e" * 40)

        def download(repo, filename, revision=None, **kwargs):
            self.fetched.append(filename)
            assert (folder / filename).is_file(), f"{filename} is only listed: downloading it streams its claimed size"
            (snapshot / filename).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / filename, snapshot / filename)
            return str(snapshot / filename)

        def refuse(*args, **kwargs):
            raise AssertionError("snapshot_download called online: the plan was skipped")

        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_tree",
                            lambda self, repo, revision=None, recursive=False, **kw: iter(entries))
        monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info",
                            lambda self, repo, paths, revision=None, **kw: [e for e in entries if e.path in paths])
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
