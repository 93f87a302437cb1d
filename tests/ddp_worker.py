"""Run under ``torchrun --nproc_per_node 2`` by tests/test_distributed.py (not a test itself).

    ddp_worker.py TEACHER OUT

In one process group: an uninterrupted DMD run (OUT/a), the same run stopped after 4
iterations (OUT/b) and resumed, then a deliberate desync that ``assert_in_sync`` must catch.
Each rank writes ``OUT/rank{r}.json`` with what it saw; the library itself writes only from rank 0.
"""

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from dmdviz import checkpoint
from dmdviz.config import get_preset
from dmdviz.errors import DmdvizError
from dmdviz.training import distill
from dmdviz.training.runtime import Runtime

CFG = replace(get_preset("chessboard4d").distill, steps=8, batch=32, ratio=2, probe_every=4, probe_n=16)


def main(teacher_ref: str, out: Path) -> None:
    with Runtime.create("cpu") as rt:
        teacher = checkpoint.load_checkpoint(teacher_ref)
        distill(teacher, CFG, out / "a", rt=rt, state_every=2)
        calls = {"n": 0}

        def stop_on_rank_1_at_4():  # a stop seen by one rank only must stop both
            calls["n"] += 1
            return rt.rank == 1 and calls["n"] == 4

        distill(checkpoint.load_checkpoint(teacher_ref), CFG, out / "b", rt=rt, state_every=2, should_stop=stop_on_rank_1_at_4)
        distill(checkpoint.load_checkpoint(teacher_ref), CFG, out / "b", rt=rt, state_every=2, resume=True)
        net = torch.nn.Linear(2, 2)
        torch.nn.init.constant_(net.weight, 1.0 + rt.rank)
        try:
            rt.assert_in_sync({"probe": net})
            caught = ""
        except DmdvizError as e:
            caught = str(e)
        (out / f"rank{rt.rank}.json").write_text(json.dumps({"world_size": rt.world_size, "desync_error": caught}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
