"""torchrun data parallelism on the CPU (gloo): ranks stay in sync, only rank 0 writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dmdviz import checkpoint
from dmdviz.config import DistillConfig, from_dict
from dmdviz.errors import DmdvizError
from dmdviz.files import read_metrics
from dmdviz.training import distill
from dmdviz.training.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(*args, cwd):
    env = {**os.environ, "DMDVIZ_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _weights(folder):
    return checkpoint.load_checkpoint(str(folder)).model.state_dict()


@pytest.fixture(scope="module")
def ddp_runs(tiny_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    _torchrun(WORKER, tiny_pair[0], out, cwd=out)
    return out


def test_two_ranks_distill_in_sync_and_rank_0_alone_writes(ddp_runs, tiny_pair, tmp_path):
    a = ddp_runs / "a"
    assert sorted(p.name for p in a.iterdir()) == ["README.md", "config.json", "metrics.jsonl", "model.safetensors",
                                                    "run.json", "state.safetensors"]
    steps = [m["step"] for m in read_metrics(a)]
    assert steps == list(range(9)), "a second writer would duplicate lines"
    assert checkpoint.load_checkpoint(str(a)).config["train"]["world_size"] == 2
    assert json.loads((a / "run.json").read_text())["world_size"] == 2
    assert all(m["world_size"] == 2 for m in read_metrics(a) if "ot_agreement" in m)
    ranks = [json.loads((ddp_runs / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert all("rank" in r["desync_error"] and "'probe'" in r["desync_error"] for r in ranks)
    # rank 1 contributed: a single process with rank 0's stream alone ends elsewhere
    run = json.loads((a / "run.json").read_text())
    single = distill(checkpoint.load_checkpoint(str(tiny_pair[0])), from_dict(DistillConfig, run["train"]), tmp_path / "one",
                     rt=Runtime.create("cpu"))
    assert any(not torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(single).values()))


def test_resume_under_torchrun_is_exact_and_a_new_world_size_is_refused(ddp_runs, tiny_pair):
    a, b = ddp_runs / "a", ddp_runs / "b"
    for (k, x), (_, y) in zip(_weights(a).items(), _weights(b).items()):
        assert torch.equal(x, y), k
    assert [m["step"] for m in read_metrics(b)] == list(range(9))
    assert [m["critic_loss"] for m in read_metrics(a)[1:]] == [m["critic_loss"] for m in read_metrics(b)[1:]]
    run = json.loads((a / "run.json").read_text())
    with pytest.raises(DmdvizError, match="nproc_per_node"):
        distill(checkpoint.load_checkpoint(str(tiny_pair[0])), from_dict(DistillConfig, run["train"]), a,
                rt=Runtime.create("cpu"), resume=True)


def test_torchrun_cli_trains_a_teacher(tmp_path):
    proc = _torchrun("-m", "dmdviz", "train-teacher", "--preset", "chessboard4d", "--steps", "30", "--batch", "32",
                     "--out", tmp_path / "t", "--device", "cpu", cwd=tmp_path)
    assert proc.stdout.count("teacher written to") == 1
    ckpt = checkpoint.load_checkpoint(str(tmp_path / "t"))
    assert ckpt.config["train"]["world_size"] == 2
    assert [m["world_size"] for m in read_metrics(tmp_path / "t")] == [2]
    assert not (tmp_path / "t" / "snapshots").exists()
