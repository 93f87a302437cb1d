"""The dimension sweep's bookkeeping: one sub-run per (variant, D, seed), resumable, complete
metrics, and summaries (mean/std over seeds, onset of copying)."""

import json
import math
from dataclasses import asdict

import pytest

from dmdviz.cli import main
from dmdviz.errors import DmdvizError
from dmdviz.experiments import sweep
from dmdviz.training.runtime import Runtime

TINY = sweep.SweepConfig(dims=(2, 4), seeds=(0,), variants=tuple(sweep.VARIANTS), hidden=16, depth=2,
                         teacher_steps=30, teacher_batch=64, student_steps=6, student_batch=32, n=64)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """The tiny sweep stopped inside the second sub-run's distillation (after 1 result)."""
    folder = tmp_path_factory.mktemp("sweep") / "s"
    calls = []

    def should_stop():
        if sweep.read_results(folder):
            calls.append(1)
        return len(calls) > 3

    complete = sweep.run_sweep(folder, TINY, rt=Runtime.create("cpu"), should_stop=should_stop, log=lambda *_: None)
    return folder, complete


@pytest.fixture(scope="module")
def finished(interrupted):
    folder, _ = interrupted
    with open(folder / "results.jsonl", "a") as f:
        f.write('{"variant": "plain", "di')  # a line torn by a kill
    complete = sweep.run_sweep(folder, TINY, rt=Runtime.create("cpu"), log=lambda *_: None)
    return folder, complete


def test_a_stop_leaves_one_result_and_a_resumable_state(interrupted):
    folder, complete = interrupted
    assert not complete
    assert [(r["variant"], r["dim"]) for r in sweep.read_results(folder)] == [("plain", 2)]
    second = folder / "runs" / "random-init" / "d2-s0"
    assert (second / "state.safetensors").is_file() and not (second / "config.json").exists()


def test_rerun_finishes_every_sub_run_once(finished):
    folder, complete = finished
    assert complete
    lines = (folder / "results.jsonl").read_text().splitlines()
    keys = [(r["variant"], r["dim"], r["seed"]) for r in map(json.loads, lines)]
    assert sorted(keys) == sorted(TINY.sub_runs()) and len(set(keys)) == len(keys)
    assert sorted(p.name for p in (folder / "teachers").iterdir()) == ["d2-s0", "d4-s0"]  # shared by the variants
    for variant in sweep.VARIANTS:
        assert sorted(p.name for p in (folder / "runs" / variant).iterdir()) == ["d2-s0", "d4-s0"]
    # the interrupted student resumed: its metrics.jsonl holds each iteration once
    steps = [json.loads(line)["step"] for line in (folder / "runs/random-init/d2-s0/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(TINY.student_steps + 1))
    assert not list(folder.rglob("state.safetensors"))  # finished sub-runs keep only their checkpoint


def test_every_line_has_the_metrics_and_timings(finished):
    folder, _ = finished
    for r in sweep.read_results(folder):
        assert set(sweep.KEY_METRICS) <= set(r)
        assert all(0 <= r[k] <= 1 for k in ("ot_agreement", "ot_agreement_init", "nn_agreement"))
        assert r["ot_agreement_chance"] == pytest.approx(1 / TINY.n)
        assert "support_g_on_support" in r and "swd_phi_8" in r
        assert r["teacher_s"] > 0 and r["student_s"] > 0 and r["analysis_s"] >= 0


def test_variants_train_the_student_they_name(finished):
    folder, _ = finished
    cfgs = {v: json.loads((folder / "runs" / v / "d4-s0" / "config.json").read_text()) for v in sweep.VARIANTS}
    assert cfgs["plain"]["student"]["init"] == "teacher" and cfgs["random-init"]["student"]["init"] == "random"
    assert cfgs["wide"]["net"]["hidden"] == 32 and cfgs["deep"]["net"]["depth"] == 4
    assert cfgs["rotation"]["student"]["noise_rotation"] is True
    teacher = json.loads((folder / "teachers" / "d4-s0" / "config.json").read_text())
    assert teacher["data"]["embed"] == "random" and teacher["net"]["shape"] == [4] and teacher["net"]["hidden"] == 16


def test_rerun_of_a_finished_sweep_adds_nothing_and_a_changed_one_is_refused(finished, capsys):
    folder, _ = finished
    before = (folder / "results.jsonl").read_text()
    assert main(["sweep", "--out", str(folder), "--threads", "1"]) == 0  # options default to sweep.json
    assert (folder / "results.jsonl").read_text() == before
    assert "| plain | 4 | 1 |" in capsys.readouterr().out
    assert main(["sweep", "--out", str(folder), "--dims", "2,8"]) == 2
    assert "different sweep" in capsys.readouterr().err
    with pytest.raises(DmdvizError, match="variants"):
        sweep.run_sweep(folder / "other", sweep.SweepConfig(variants=("huge",)))


def _write(folder, cfg, rows):
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps(asdict(cfg)))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn": ')


def test_summarize_gives_mean_and_std_over_seeds(tmp_path):
    cfg = sweep.SweepConfig(dims=(2, 8, 32), seeds=(0, 1, 2), variants=("plain", "wide"))
    a_ot = {2: [0.0, 0.02, 0.01], 8: [0.4, 0.6, 0.8], 32: [0.9, 1.0, 0.95]}
    rows = [{"variant": "plain", "dim": d, "seed": s, "ot_agreement": v, "copy_ratio": 1 - v}
            for d, vals in a_ot.items() for s, v in enumerate(vals)]
    rows += [{"variant": "wide", "dim": 2, "seed": 0, "ot_agreement": 0.5, "copy_ratio": 2.0}, dict(rows[0])]  # a duplicate line
    _write(tmp_path / "s", cfg, rows)
    s = sweep.summarize(tmp_path / "s")
    plain = s["metrics"]["ot_agreement"]["plain"]
    assert plain["n"] == [3, 3, 3] and s["n_results"] == 10 and s["n_sub_runs"] == 18
    assert plain["mean"] == pytest.approx([0.01, 0.6, 0.95])
    assert plain["std"] == pytest.approx([0.01, 0.2, 0.05])  # sample std, ddof = 1
    wide = s["metrics"]["copy_ratio"]["wide"]
    assert wide["n"] == [1, 0, 0] and wide["std"][0] == 0.0 and math.isnan(wide["mean"][1])
    assert sweep.copy_onset(s) == 8 and sweep.copy_onset(s, threshold=0.9) == 32 and sweep.copy_onset(s, "wide") is None
    assert "| plain | 8 | 3 | 0.600 ± 0.200 |" in sweep.results_table(s) and "| wide | 8 | 0 | – |" in sweep.results_table(s)


def test_configs_keep_the_network_fixed_across_d_and_take_the_data_sets_learning_rate():
    cfg = sweep.SweepConfig(dataset="mlp-manifold")
    (d8, n8), (d784, n784) = cfg.data_net(8), cfg.data_net(784)
    assert (n8.hidden, n8.depth, n8.shape, n784.shape) == (256, 3, (8,), (784,)) and n784.n_classes == d784.n_classes == 10
    assert (cfg.distill_config("plain", 0).lr, cfg.distill_config("plain", 0).critic_lr) == (1e-4, 2e-4)
    assert sweep.SweepConfig(lr=3e-4).distill_config("wide", 1).lr == 3e-4
    wide = sweep.SweepConfig().distill_config("wide", 1)
    assert (wide.lr, wide.init, wide.student_hidden, wide.seed) == (1e-3, "random", 512, 1)
