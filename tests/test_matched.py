"""The matched-start freedom test (experiments.matched, analysis.freedom.matched_start) on a
tiny teacher: closed forms at the start, a resumable run, the calibration."""

import copy
import json
import shutil

import pytest

from dmdviz import checkpoint
from dmdviz.analysis import scales
from dmdviz.analysis.freedom import extra_noise_use, matched_start
from dmdviz.experiments import matched
from dmdviz.training.runtime import Runtime
from dmdviz.training.student import make_student

FAM = matched.Family("tiny", 2, (0,))


def test_a_student_against_itself_keeps_its_start_at_every_scale(tiny_pair):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    start, _ = make_student(teacher, matched.run_config(FAM, 2.0, 0))
    out = matched_start(teacher.model, start.eval(), copy.deepcopy(start).eval(), n=40,
                        cells=scales.chessboard_cells(teacher.data))
    assert out["scale_start"]["agreement"] == [1.0] * len(out["scale_start"]["k"])
    assert out["natural_start"]["agreement"] == 1.0
    assert out["scale_phi"]["agreement"] == out["scale_phi"]["agreement_init"]
    assert out["pairing_start"] == out["pairing_end"] and out["use_start"] == out["use_end"]


def test_one_run_at_w_zero_starts_at_phi_1_and_is_not_recomputed(tiny_pair, tmp_path):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    cfg = matched.run_config(FAM, 0.0, 0)
    result = tmp_path / "res" / "plain-s0.json"
    out = matched.one_run(teacher, cfg, tmp_path / "run", result, Runtime.create("cpu"), n=40)
    start = out["pairing_start"]  # W' = 0: G₀ is Φ_1, so its pairing is Φ_1's
    assert start["ot_agreement"] == start["ot_agreement_init"] and start["copy_ratio"] == pytest.approx(1.0)
    assert out["use_start"]["extra_sensitivity"] == 0.0 and out["use_start"]["z_sensitivity"] == 1.0
    assert 0.0 <= out["quality"]["on_support_g"] <= 1.0 and out["steps"] == 2
    assert json.loads(result.read_text()) == out
    shutil.rmtree(tmp_path / "run")  # a finished run's result is read back, not retrained
    assert matched.one_run(teacher, cfg, tmp_path / "run", result, Runtime.create("cpu"), n=40) == out
    assert not (tmp_path / "run").exists()


def test_calibration_finds_the_scale_of_a_reading_it_is_given(tiny_pair):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    use = matched.start_sensitivity(teacher, matched.run_config(FAM, 3.0, 0), 60)
    found = matched.calibrate(teacher, FAM, (use["extra_sensitivity"], use["z_sensitivity"]), n=60)
    assert found["scale"] == pytest.approx(3.0, rel=0.1)
    assert found["extra_sensitivity"] == pytest.approx(use["extra_sensitivity"], abs=0.02)
    start, _ = make_student(teacher, matched.run_config(FAM, found["scale"], 0))
    assert extra_noise_use(start, n=60)["extra_sensitivity"] == pytest.approx(found["extra_sensitivity"])
