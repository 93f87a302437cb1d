"""Every benchmark module imports and runs end to end on a tiny configuration.

Speed is never asserted here (benchmarks/ measure it, the README reports it); these tests
catch a benchmark that no longer starts, or whose numbers no longer mean what they say.
"""

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from served_app import TINY_RUN, finished_run

from dmdviz.training.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_imports(name):
    importlib.import_module(f"benchmarks.{name}")


@pytest.mark.parametrize("name", ["bench_load", "bench_quality", "bench_scaling", "bench_cache", "bench_analysis"])
def test_benchmark_command_lines_start(name):
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0 and "usage" in done.stdout, done.stderr


def test_training_rates_and_the_torchcfm_loop(tmp_path):
    from benchmarks import bench_train as b

    rt = Runtime.create("cpu")
    assert b.gemm_peak(torch.float32, n=64, seconds=0.05) > 0
    assert b.teacher_rate("chessboard4d", 12, tmp_path / "t", rt, batch=32) > 0
    assert b.dmd_rate("chessboard4d", tmp_path / "t", 12, 2, tmp_path / "s", rt) > 0
    if importlib.util.find_spec("torchcfm"):
        r = b.torchcfm_rate(12)
        assert r["steps_per_s"] > 0 and r["params"] > 0


def test_quality_race_scores_both_sides_on_the_board(tmp_path):
    from benchmarks import bench_quality as b

    if not importlib.util.find_spec("torchcfm"):
        pytest.skip("torchcfm is a benchmark requirement (requirements-bench.txt)")
    res = b.run(rounds=1, cap=20, check_every=10, n_eval=32, steps=20, threads=1)
    ours, theirs = res["ours"][0], [runs[0] for runs in res["theirs"].values()]
    assert [c["step"] for c in ours["checks"]] == [10, 20]
    assert all(0 <= c["on_board"] <= 1 for x in [ours, *theirs] for c in x["checks"])
    assert all(c["step"] <= 20 for x in theirs for c in x["checks"])
    assert "dmdviz" in b.summary(res) and "torchcfm" in b.summary(res)


def test_on_board_share_is_one_on_the_board_and_low_for_noise():
    """The race's quality measure against closed forms: data on the black squares scores 1."""
    from benchmarks.bench_quality import on_board

    class ToData(torch.nn.Module):  # v = x* - z: Φ_1 lands exactly on x*
        def __init__(self, target):
            super().__init__()
            self.target = target

        def forward(self, x, t, y=None):
            return (self.target - x) / (1 - t)[:, None]

    board = torch.tensor([[-1.5, -1.5, 0.0, 0.0]]).repeat(64, 1)  # the centre of a black cell
    assert on_board(ToData(board), 64) == 1.0
    off = torch.tensor([[-0.5, -1.5, 0.0, 0.0]]).repeat(64, 1)  # the white cell beside it
    assert on_board(ToData(off), 64) == 0.0


def test_scaling_table_fits_an_exponent_per_stage():
    from benchmarks import bench_scaling as b

    assert b.fit([10, 100, 1000], [1.0, 100.0, 10000.0])[0] == pytest.approx(2.0)
    res = b.run(ns=(16, 32, 64), dims=(4,), threads=1)
    assert {(r["dim"], r["n"]) for r in res["rows"]} == {(4, 16), (4, 32), (4, 64)}
    assert set(res["fits"]) == {"4/sample", "4/ot", "4/intervals", "4/figures"}
    assert "| 4 | ot |" in b.markdown(res) and "| 4 | intervals |" in b.markdown(res)


def test_analysis_stages(tmp_path):
    from benchmarks import bench_analysis

    out = bench_analysis.run(net="mlp", n=16, threads=1)
    assert out["n"] == 16 and out["total"] >= out["sample"] >= 0


def test_cache_cold_then_warm():
    from benchmarks import bench_cache

    out = bench_cache.run(n=8, threads=1, repeats=1)
    assert out["n"] == 8 and out["cache_mb"] > 0 and len(out["warm_s"]) == 1


def test_the_train_tab_race_times_a_finished_job(tmp_path):
    from benchmarks import bench_quality as b

    out = b.train_tab(tmp_path / "runs", timeout=300, teacher_steps=20, student_steps=4)
    assert out["train_tab_s"] > 0 and 0 <= out["on_board"] <= 1, out


def test_load_serves_clients_whose_answers_match_the_library(tmp_path, monkeypatch, tiny_pair):
    from benchmarks import bench_load

    finished_run(tiny_pair, tmp_path / "runs")  # the web app opens runs and shipped names, no folders
    monkeypatch.setenv("DMDVIZ_DEFAULT_PAIR", TINY_RUN)
    monkeypatch.setenv("DMDVIZ_RUNS_DIR", str(tmp_path / "runs"))
    out = bench_load.run(sessions=2, n=24)
    assert out["all_correct"] and out["cold"]["requests"] == out["warm"]["requests"] == 2


def test_gpu_check_functions_run_on_the_cpu(tmp_path):
    from benchmarks import gpu_check

    rt = Runtime.create("cpu")
    assert gpu_check.check_loops(rt, tmp_path)["loops_ok"]
    assert gpu_check.check_sampling_matches_cpu(rt, "chessboard4d", n=8) == 0.0


@pytest.mark.skipif(not (shutil.which("chromium") or Path("/usr/bin/chromium").exists())
                    or not importlib.util.find_spec("playwright"), reason="needs Chromium and playwright")
def test_first_paint_benchmark_opens_the_page(tiny_pair, tmp_path):
    finished_run(tiny_pair, tmp_path / "runs")
    env = {**os.environ, "DMDVIZ_RUNS_DIR": str(tmp_path / "runs"), "DMDVIZ_MAX_SEEDS": "40"}
    # a process of its own: the browser tests' session keeps Playwright's sync API busy in this one
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_app", "--pair", TINY_RUN, "--repeats", "1",
                           "--timeout", "240"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["first_byte_to_plots_cold_ms"] > 0 and out["pair"] == TINY_RUN


def test_goals_table_and_readme_markers(tmp_path):
    from benchmarks.__main__ import MARKS, goals, write_readme

    res = {"cache": {"n": 8, "cold_s": 3.0, "warm_s": [0.4, 0.3], "warm_with_ot_s": [0.5]},
           "load": {"sessions": 20, "warm": {"p50_s": 0.2, "p95_s": 0.7}, "cold": {"p50_s": 2.0, "p95_s": 4.0},
                    "all_correct": True}}
    table = goals(res)
    assert "| 2. sample cache, mnist-unet pair, N = 8, warm | 0.30 s | ≤ 1 s | cold 3.0 s | yes |" in table
    assert "| 0.70 s | ≤ 0.5 s |" in table and table.count("skipped") == 3  # quality, first paint, scaling
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{MARKS[0]}\nold\n{MARKS[1]}\nb\n")
    write_readme("new\n", readme)
    assert readme.read_text() == f"a\n{MARKS[0]}\nnew\n{MARKS[1]}\nb\n"


def test_the_thread_benchmark_sets_the_default_against_the_best_fixed_choice():
    from benchmarks import bench_threads

    rows = [{"workload": "train", "neighbour": nb, "setting": s, "seconds": t, "load": "1 1 1"}
            for nb, s, t in [(False, "1", 10.0), (False, "all", 6.0), (False, "default", 7.5),
                             (True, "1", 11.0), (True, "all", 80.0), (True, "default", 11.0)]]
    assert bench_threads.ratios(rows) == {"train/alone": 1.25, "train/neighbour": 1.0}
    text = bench_threads.markdown({"rows": rows, "ratios": bench_threads.ratios(rows), "cores": 2,
                                   "load_before": "1 1 1", "load_after": "1 1 1"})
    assert "train/alone 1.25" in text and "busy loop on 1 core" in text


def test_the_goals_table_carries_the_sampling_share_and_the_thread_ratios():
    from benchmarks.__main__ import goals

    rows = [{"pair": "mnist-unet", "threads": t, "chunk": c, "share_of_peak": s, "gflops": 10.0, "load": "1 1 1"}
            for t, c, s in [(1, 250, 0.3), (2, 100, 0.2), (2, 250, 0.4), (2, 1000, 0.55)]]
    table = goals({"sampling": {"rows": rows}, "threads": {"ratios": {"train/neighbour": 1.2}, "load_before": "1",
                                                            "load_after": "2"}})
    assert "share of fp32 peak (batch 250, 2 threads) | 40 % | ≥ 50 % (UNet) | 10.0 GFLOP/s; best 55 % at batch 1000" in table
    assert "| issue 26: default threads ÷ best fixed, train/neighbour | 1.20× | ≤ 1.5× |" in table


def test_the_sampling_table_names_each_lever_and_the_goals_row_its_best():
    from benchmarks import bench_sampling
    from benchmarks.__main__ import goals

    rows = [{"pair": "mnist-unet", "threads": 1, "chunk": c, "precision": p, "layout": "contiguous", "seeds_per_s": 1.0,
             "share_of_peak": s, "gflops": 10.0, "load": "1 1 1"}
            for c, p, s in [(250, "fp32", 0.3), (128, "bf16-autocast", 0.6)]]
    metric = {"fp32": 0.619, "bf16": 0.616, "delta": -0.003, "fp32_half_width": 0.013}
    error = {"pair": "mnist-unet", "n": 500, "fp32_s": 40.0, "bf16_s": 15.0, "load": "1 1 1", "metrics": {"copy_ratio": metric},
             **{key: {"max": 1.7, "median": 0.001, "share_over_0.1": 0.01} for key in ("phi_1", "phi_8", "phi_32", "g")}}
    text = bench_sampling.markdown({"rows": rows, "peak_fp32_gflops": {1: 150.0}, "peak_bf16_gflops": {1: 900.0},
                                    "load_before": "1", "load_after": "1", "bf16_error": [error]})
    assert "| mnist-unet | 1 | 128 | bf16-autocast | contiguous | 1.0 | 10.0 | 60 % | 1 1 1 |" in text
    assert "| copy_ratio | 0.619 | 0.616 | -0.003 | 0.013 |" in text and "bf16 peak 900.0 on 1" in text
    assert "| 30 % | ≥ 50 % (UNet) | 10.0 GFLOP/s; best 60 % at batch 128, 1 thread(s), bf16-autocast;" in goals(
        {"sampling": {"rows": rows}})


def test_the_cold_table_checks_the_shipped_samples_answer_as_sampling_does():
    from benchmarks import bench_cold

    rows = [{"case": "pair", "setting": s, "seconds": t, "computed_seeds": c, "load": "1 1 1", "shown": shown}
            for s, t, c, shown in [("fp32", 30.0, 2000, "ρ = 0.619"), ("shipped", 3.0, 0, "ρ = 0.619")]]
    res = {"rows": rows, "load_before": "1", "load_after": "1",
           "shipped_equal": {"pair": rows[0]["shown"] == rows[1]["shown"]}}
    text = bench_cold.markdown(res)
    assert "| pair | shipped | 3.0 | 0 | 1 1 1 |" in text and "{'pair': True}" in text
    from benchmarks.__main__ import goals

    table = goals({"cold": res})
    assert "| issue 26: cold mnist-unet pair in the app, N = 500, fp32 | 30.0 s | < 15 s | before 43.6 s; shipped 3.0 s;" in table
    absent = goals({"cold": {**res, "rows": rows[:1], "shipped_absent": True}})
    assert "before 43.6 s; shipped samples not built here" in absent


def test_sdxl_cost_benchmark_runs_tiny_and_its_config_is_sdxl_size():
    """benchmarks/gpu_sdxl: the shrunk UNet runs the timed calls on the CPU (numbers meaningless),
    and the written-out configuration is SDXL base's UNet: 2,567,463,684 parameters, built on
    the meta device (nothing allocated)."""
    import torch
    from diffusers import UNet2DConditionModel

    from benchmarks import gpu_sdxl

    out = gpu_sdxl.measure(gpu_sdxl.TINY_UNET, "cpu", "fp32", batch=1, reps=1)
    assert out["phi_8_per_100_s"] == pytest.approx(8 * out["phi_1_per_100_s"], rel=0.01) and out["g_per_100_s"] > 0
    with torch.device("meta"):
        unet = UNet2DConditionModel(**gpu_sdxl.SDXL_UNET)
    assert sum(p.numel() for p in unet.parameters()) == 2_567_463_684


def test_the_goals_table_carries_the_large_n_intervals_and_the_slab_error():
    from benchmarks.__main__ import goals

    large = {"intervals": {"n": 10_000, "pairs": {"chessboard4d": {"seconds": 95.2, "load": ["1", "2"]}}},
             "point": {"pair": "mlp-manifold", "n": 20_000, "rows": [
                 {"slab": 20_000, "ot_agreement": 0.25, "seconds": 60.0, "method": "exact", "error": 0.0},
                 {"slab": 10_000, "ot_agreement": 0.2487, "seconds": 30.0, "method": "approximate", "error": -0.0013}]}}
    table = goals({"large": large})
    assert "| issue 26: intervals, chessboard4d, N = 10,000 (point solves + bootstrap) | 95 s | ≤ 2 min |" in table
    assert "0.2500 in 60 s | exact, or a stated error | slabs of 10,000: 0.2487 (error -0.0013, 30 s) | yes |" in table
