"""Every shipped checkpoint loads, validates, records its lineage and is listed by the CLI."""

import json
import subprocess
import sys

import pytest

from dmdviz import checkpoint, settings
from dmdviz.experiments.reproduce import FAMILIES

EXPECTED = {f"{family}/{name}" for family, fam in FAMILIES.items()
            for name in [*fam.teachers, *(s.name for s in fam.students)]}


def test_every_family_member_is_shipped():
    assert EXPECTED <= set(checkpoint.shipped_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_checkpoint_loads_with_its_config(name):
    ckpt = checkpoint.load_checkpoint(name)
    assert ckpt.ref == name and ckpt.config["format"] == checkpoint.FORMAT
    assert (ckpt.path / "README.md").exists()
    if ckpt.role == "student":
        family = name.split("/")[0]
        teacher_ref = ckpt.config["teacher"]["ref"]
        assert teacher_ref.startswith(family + "/"), teacher_ref
        assert checkpoint.load_checkpoint(teacher_ref).role == "teacher"
        metrics = ckpt.config["metrics"]
        assert {"ot_agreement", "ot_agreement_init", "copy_ratio", "nn_agreement", "diag_contrast"} <= set(metrics)
        steps = [json.loads(line)["step"] for line in (ckpt.path / "metrics.jsonl").read_text().splitlines()]
        assert steps == list(range(ckpt.config["train"]["steps"] + 1))


@pytest.mark.parametrize("family", ["mnist", "mnist-unet"])
def test_mnist_snapshots_record_their_training_length(family):
    for step in (1024, 2048, 4096, 8192):
        assert checkpoint.load_checkpoint(f"{family}/teacher-{step}").config["train"]["step"] == step


def test_list_shows_every_shipped_checkpoint():
    out = subprocess.run([sys.executable, "-m", "dmdviz", "list"], capture_output=True, text=True, check=True).stdout
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert EXPECTED <= listed


def test_shipped_folder_stays_small():
    total = sum(p.stat().st_size for p in settings.shipped_root().rglob("*") if p.is_file())
    assert total < 60 * 2**20  # 50 MiB before the class-conditional family and the freedom test, 57 before the converged UNet students
    assert not [p for p in settings.shipped_root().rglob("*") if p.suffix in checkpoint.PICKLE_SUFFIXES or p.name == "state.safetensors"]


def test_the_teacher_length_series_keeps_the_plain_students_and_curves_name_the_variants():
    from dmdviz import analysis

    students = [checkpoint.load_checkpoint(f"mnist/{name}")
                for name in ("student-8192-gan", "student-1024", "student-8192", "student-8192-random-init")]
    assert [analysis.variant(s) for s in students] == ["GAN 0.1", "", "", "random init"]
    students = [(checkpoint.load_checkpoint(s.spec.teacher_ref), s) for s in students]
    series = analysis.teacher_length_series(students, n=16)
    assert [(e["teacher_step"], e["student"]) for e in series] == [(1024, "mnist/student-1024"), (8192, "mnist/student-8192")]
    assert [c["label"] for c in analysis.dm_loss_curves(students)] == [
        "teacher @ 1024", "teacher @ 8192", "teacher @ 8192 · GAN 0.1", "teacher @ 8192 · random init · 10,000 iterations"]
    unet = [checkpoint.load_checkpoint(f"mnist-unet/{name}") for name in ("student-8192-long", "student-1024", "student-8192")]
    unet = [(checkpoint.load_checkpoint(s.spec.teacher_ref), s) for s in unet]
    assert [e["student"] for e in analysis.teacher_length_series(unet, n=16)] == ["mnist-unet/student-1024",
                                                                                   "mnist-unet/student-8192"]
    assert "teacher @ 8192 · 1,500 iterations" in [c["label"] for c in analysis.dm_loss_curves(unet)]


def test_the_shipped_chessboard_teacher_puts_nine_tenths_of_phi_8_on_the_black_squares():
    """Goal of the chessboard4d preset: a crisp board (paper Fig. 2), extra coordinates near 0."""
    from dmdviz.core import flow, noise
    from dmdviz.data import get_dataset

    teacher = checkpoint.load_checkpoint("chessboard4d/teacher")
    z, _ = noise.seeded(0, 2000, tuple(teacher.net.shape), 0)
    support = get_dataset(teacher.data).support(flow.euler(teacher.model, z, 8))
    assert support["on_support"] >= 0.90 and support["off_plane_median"] < 0.02, support


@pytest.mark.parametrize("args", [[], ["--spread"]])
def test_readme_tables_are_what_the_shipped_metrics_print(args):
    """The README's results and spread tables are docs/results_table.py's output on the shipped
    configs and spread.json files, line for line (a retrained or rescored student changes both)."""
    root = settings.shipped_root().parent
    out = subprocess.run([sys.executable, "docs/results_table.py", *args], cwd=root, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    readme = (root / "README.md").read_text()
    for line in out.splitlines():
        assert line in readme, line
