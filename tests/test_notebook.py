"""examples/quickstart.ipynb runs offline on the shipped checkpoints, top to bottom, in a real
kernel (nbclient), and says what the README says of the moons pair: the student copies."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def test_the_quickstart_notebook_executes_and_reads_the_moons_student_as_copying(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel's torch: 2 threads collapse on a shared 2-core machine
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    numbers = {key: float(v) for key, v in re.findall(r"^(copy_ratio|chance ρ|resolution)\s+([\d.]+)", text, re.M)}
    assert numbers["copy_ratio"] < 1 < numbers["chance ρ"]  # onto its own seed's target, far below chance
    assert numbers["resolution"] > 1  # ... where A_OT cannot see it (README, "Copying at every scale")
    assert "application/vnd.plotly.v1+json" in nb.cells[-1].outputs[0]["data"]  # the figure, drawn
    assert (tmp_path / "copying-at-every-scale.svg").read_text().startswith("<?xml")
