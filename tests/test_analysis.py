"""Analysis package (spec §4, §5): shared seeds, cached pairing, closed forms, series, report."""

import itertools
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dmdviz import analysis
from dmdviz.analysis import PairAnalysis, Samples
from dmdviz.checkpoint import load_checkpoint
from dmdviz.config import DataConfig
from dmdviz.core import metrics, noise
from dmdviz.errors import DmdvizError
from dmdviz.models import open_pair

ROOT = Path(__file__).resolve().parent.parent


def _samples(phi_1, phi_8, g, start=0) -> Samples:
    z = torch.zeros_like(phi_8)
    return Samples(0, z, None, {1: phi_1, 8: phi_8, 32: phi_8}, g, start)


@pytest.fixture(scope="module")
def pair(tiny_pair):
    return load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1]))


@pytest.fixture(scope="module")
def snapshot_student(tiny_pair, tmp_path_factory):
    """A second student, distilled from the tiny teacher's step-100 snapshot (fig 4 / 11 series)."""
    from dmdviz.config import get_preset
    from dmdviz.training import distill
    from dmdviz.training.runtime import Runtime

    snap = load_checkpoint(str(tiny_pair[0] / "snapshots" / "step-000100"))
    out = tmp_path_factory.mktemp("snap") / "student"
    distill(snap, replace(get_preset("chessboard4d").distill, steps=10, batch=64, probe_every=5, probe_n=32), out,
            rt=Runtime.create("cpu"))
    return out


def test_samples_are_a_pure_function_of_the_seed_index(pair):
    t, s = pair
    a = analysis.sample_pair(t, s, 40, seed=3, ks=(1, 8))
    b = analysis.sample_pair(t, s, 15, seed=3, ks=(1, 8), start=10, chunk=4)
    torch.testing.assert_close(b.phi[8], a.phi[8][10:25])
    torch.testing.assert_close(b.g, a.g[10:25])
    assert list(b.seeds) == list(range(10, 25)) and b.shape == (4,)


def test_trajectory_matches_the_sampled_seed(pair):
    t, s = pair
    smp = analysis.sample_pair(t, s, 12, seed=5, ks=(1, 8))
    tr = analysis.seed_trajectory(t, s, 7, seed=5, k=8)
    assert tr.states.shape == (9, 4) and tr.times[0] == 0 and tr.times[-1] == 1
    torch.testing.assert_close(tr.states[0], noise.seeded(5, 1, (4,), 0, 7)[0][0])
    torch.testing.assert_close(tr.states[-1], smp.phi[8][7])
    torch.testing.assert_close(tr.phi_1, smp.phi[1][7], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tr.g, smp.g[7])


def test_pairing_equals_the_core_metrics_and_caches_the_assignment(pair):
    t, s = pair
    smp = analysis.sample_pair(t, s, 120, ks=(1, 8))
    pa = PairAnalysis(smp, 8)
    core = metrics.pairing_metrics(smp.phi[1], smp.phi[8], smp.g)
    assert {k: pytest.approx(v) for k, v in core.items()} == {k: pa.pairing[k] for k in core}
    assert pa.pairing["ot_agreement_chance"] == pytest.approx(1 / 120)
    assert pa.assignment is pa.assignment and pa.cost_block(120)[1] is pa.assignment
    assert analysis.PairAnalysis(smp, 8).pairing["ot_agreement"] == pa.pairing["ot_agreement"]


def test_closed_forms_for_copying_and_remapping():
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    copy = PairAnalysis(_samples(x + 1.0, x, x.clone()), 8)
    assert copy.pairing["copy_ratio"] == 0 and copy.pairing["ot_agreement"] == 1.0
    d_init, d_student = copy.distances
    np.testing.assert_allclose(d_init, np.sqrt(6)) and np.testing.assert_allclose(d_student, 0)
    perm = torch.roll(torch.arange(50), 1)
    remap = PairAnalysis(_samples(x + 1.0, x, x[perm]), 8)
    assert remap.pairing["ot_agreement"] == 0.0 and np.array_equal(remap.assignment, np.argsort(perm.numpy()))


def test_cost_block_solves_its_own_block_exactly():
    g = torch.Generator().manual_seed(1)
    pa = PairAnalysis(_samples(torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g),
                               torch.randn(20, 3, generator=g)), 8)
    block, sigma = pa.cost_block(6)
    assert block.shape == (6, 6) and block.dtype == np.float32
    best = min(itertools.permutations(range(6)), key=lambda p: sum(block[i, p[i]] for i in range(6)))
    assert sum(block[i, sigma[i]] for i in range(6)) == pytest.approx(sum(block[i, best[i]] for i in range(6)), rel=1e-6)


def test_boundary_and_memorization_closed_forms():
    phi_8 = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    pa = PairAnalysis(_samples(phi_8 + torch.tensor([1.0, 0.0]), phi_8, phi_8 + torch.tensor([0.0, 2.0])), 8)
    train = torch.tensor([[0.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    d, ratio = pa.boundary(train)
    np.testing.assert_allclose(d, [(0 + 2 + 3) / 3, (5 + np.hypot(3, 2) + 4) / 3])
    np.testing.assert_allclose(ratio, [2 / 1, 2 / 1])
    # scale-free: scaling one seed's geometry (d_init and d_student alike) leaves its ratio
    far = PairAnalysis(_samples(phi_8 + torch.tensor([[1.0, 0.0], [5.0, 0.0]]), phi_8,
                                phi_8 + torch.tensor([[0.0, 2.0], [0.0, 10.0]])), 8)
    np.testing.assert_allclose(far.boundary(train)[1], [2.0, 2.0])
    r = pa.memorization(train)
    assert r[0] > 1e6  # Φ_8(z_0) sits on a training point
    assert r[1] == pytest.approx(4 / np.hypot(3, 2))  # nearest (0, 2) at √13, second (3, 0) at 4
    assert pa.memorization(train) is r  # cached per training tensor


def test_train_subset_is_fixed_and_documented():
    x = torch.arange(5000.0)[:, None]
    a, b = analysis.train_subset(x), analysis.train_subset(x)
    assert len(a) == analysis.BOUNDARY_SUBSET and torch.equal(a, b) and len(a.unique()) == len(a)
    assert analysis.train_subset(x[:10]) is not None and len(analysis.train_subset(x[:10])) == 10


@pytest.mark.parametrize("n, d", [(200, 7), (6, 30)])
def test_pca_fit_matches_an_svd_on_both_gram_sides(n, d):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(3, 0.5, d, dtype=torch.float64)
    mu, comps = metrics.pca_fit(x)
    vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)[2][:2]
    torch.testing.assert_close((comps.T @ vh.T).abs(), torch.eye(2, dtype=torch.float64), atol=1e-8, rtol=0)


def test_figure_arrays_shapes():
    x = torch.randn(30, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    pa = PairAnalysis(_samples(x * 0.5, x, x + 0.1, start=100), 8)
    imgs = pa.images(5)
    assert list(imgs) == ["Φ_1", "Φ_8", "Φ_32", "G"] and all(v.shape == (5, 4, 4) for v in imgs.values())
    assert all(v.shape == (30, 2) and v.dtype == np.float32 for v in pa.panels().values())
    p = pa.pca()
    assert list(p) == ["Φ_8", "Φ_1", "G"] and pa.pca() is p
    np.testing.assert_allclose(p["Φ_8"].mean(0), 0, atol=1e-5)
    assert p["Φ_8"][:, 0].var() >= p["Φ_8"][:, 1].var()
    assert list(pa.seeds) == list(range(100, 130))
    with pytest.raises(Exception, match="not images"):
        PairAnalysis(_samples(x.flatten(1), x.flatten(1), x.flatten(1)), 8).images()


def test_missing_mnist_is_a_note_not_a_failure(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("DMDVIZ_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    ds, note = analysis.load_dataset(SimpleNamespace(data=DataConfig("mnist")), tmp_path / "none")
    assert ds is None and "skipped" in note and "MNIST not found" in note


def test_study_summary_series_and_report(pair, snapshot_student, tiny_pair, tmp_path):
    from dmdviz.experiments.report import figures, render_html

    t, s = pair
    snap = load_checkpoint(str(snapshot_student))
    st = analysis.study(t, s, 200, series=[(load_checkpoint(x.spec.teacher_ref), x) for x in (s, snap)], series_n=64)
    m = st.summary
    json.dumps(m)
    assert {"n", "k", "dataset", "dim", "copy_ratio", "ot_agreement", "nn_agreement", "diag_contrast",
            "ot_agreement_init", "memorization_median", "memorized_share", "boundary_corr", "swd_g", "swd_phi_8",
            "support_g_on_support", "swd_floor"} <= set(m)
    assert [e["teacher_step"] for e in m["series"]] == [100, 300] and m["notes"] == []
    assert [c["teacher_step"] for c in st.curves] == [100, 300] and len(st.curves[1]["steps"]) > 0
    figs = figures(st)
    titles = [name for name, _ in figs]
    assert len(titles) == 11 and any("Fig 11" in n for n in titles) and any("Fig 12" in n for n in titles)
    curve = m["scale_curve"]
    assert curve["k"][-1] == 200 and curve["agreement"][-1] == m["nn_agreement"] and "Copying at every scale" in titles
    assert curve["natural"]["k"] == 16 and m["intervals"]["margin"][0] <= m["margin"] <= m["intervals"]["margin"][1]
    assert m["cells_agreement"] == curve["natural"]["agreement"] and "cells_agreement_init" in m["intervals"]
    html = render_html(st, figs)  # every figure a static drawing: small, offline, no plotly.js
    assert html.count("<div class='fig'><h3>") == len(figs) == html.count('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "plotly.js v" not in html and "<b>Verdict:</b> " in html and "<th>meaning</th>" in html
    assert "plotly.js v" in render_html(st, figs[:1], images="interactive")


@pytest.fixture(scope="module")
def mnist_pair(tmp_path_factory):
    """A tiny random-weight MNIST MLP teacher and student (image branch of the report)."""
    from dmdviz import checkpoint
    from dmdviz.config import NetConfig

    root = tmp_path_factory.mktemp("mnist_pair")
    net = NetConfig(kind="mlp", shape=(1, 28, 28), hidden=32, depth=2)
    torch.manual_seed(0)
    t = checkpoint.build_model(checkpoint.make_config("teacher", DataConfig("mnist"), net, {"step": 7}))
    torch.nn.init.normal_(t.out[1].weight, std=0.05)
    checkpoint.save_checkpoint(root / "t", t, checkpoint.make_config("teacher", DataConfig("mnist"), net, {"step": 7}))
    s = checkpoint.build_model(checkpoint.make_config("student", DataConfig("mnist"), net, {}, (str(root / "t"), "")))
    s.net.load_state_dict(t.state_dict())
    checkpoint.save_checkpoint(root / "s", s, checkpoint.make_config("student", DataConfig("mnist"), net, {}, (str(root / "t"), "")))
    return load_checkpoint(str(root / "t")), load_checkpoint(str(root / "s"))


def test_mnist_study_uses_the_real_training_set(mnist_pair, mnist_dir):
    from dmdviz.experiments.report import figures

    st = analysis.study(*mnist_pair, 100, data_dir=mnist_dir)
    assert st.dataset.train.shape[1:] == (1, 28, 28)
    assert st.summary["ot_agreement_init"] == 1.0 and st.summary["copy_ratio"] == pytest.approx(1.0)
    assert 1.0 <= st.summary["memorization_median"] < 3.0
    m = st.summary  # the image quality measures, each with its interval for the target and G
    assert {"fd_pca_g", "fd_clf_g", "class_kl_g", "fd_pca_floor"} <= set(m) and "fd_clf_phi_8" in m["intervals"]
    assert m["scale_curve"]["natural"]["name"] == "predicted digit class" and len(m["class_shares"]["data"]) == 10
    titles = [n for n, _ in figures(st)]
    assert titles[0].startswith("Fig 1/8") and not any("Fig 2/7" in n for n in titles)


def test_cli_writes_json_and_a_self_contained_report(tiny_pair, snapshot_student, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "dmdviz", "analyze", "--teacher", str(tiny_pair[0]), "--student",
                        str(tiny_pair[1]), "--n", "100", "--json", str(tmp_path / "m.json"), "--html",
                        str(tmp_path / "r.html"), "--series", f"{tiny_pair[1]},{snapshot_student}"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n"] == 100 and "memorization_median" in m and len(m["series"]) == 2
    low, high = m["intervals"]["ot_agreement"]
    assert low <= m["ot_agreement"] <= high and m["intervals"]["resamples"] == 200 and "resolution" in m
    html = (tmp_path / "r.html").read_text()
    assert 'src="http' not in html and "&quot;role&quot;: &quot;teacher&quot;" in html
    shown = f"<td>ot_agreement</td><td class='value'>{m['ot_agreement']:#.3g} [{low:#.3g}, {high:#.3g}]</td>"
    assert shown in html and "bootstrap interval over seeds" in html


def test_two_students_share_one_frame_and_their_own_metrics(pair, tiny_sibling):
    t, s = pair
    other = load_checkpoint(str(tiny_sibling))
    a = PairAnalysis(analysis.sample_pair(t, s, 150, seed=2, ks=(1, 8)), 8)
    b = PairAnalysis(analysis.sample_pair(t, other, 150, seed=2, ks=(1, 8)), 8)
    proj = analysis.compare_pca(a, b, ("plain", "random"))
    assert list(proj) == ["Φ_8", "Φ_1", "G · plain", "G · random"] and all(v.shape == (150, 2) for v in proj.values())
    own = a.pca()  # the same basis as the first student's own PCA triplets
    for name in ("Φ_8", "Φ_1"):
        np.testing.assert_allclose(proj[name], own[name], atol=1e-5)
    np.testing.assert_allclose(proj["G · plain"], own["G"], atol=1e-5)
    np.testing.assert_allclose(proj["G · random"], b.pca()["G"], atol=1e-4)  # B's Φ_K basis is A's
    table = analysis.compare_metrics(a, b)
    assert table["ot_agreement"] == (a.pairing["ot_agreement"], b.pairing["ot_agreement"], a.pairing["ot_agreement_init"])
    assert table["copy_ratio"][2] is None and "ot_agreement_init" not in table
    same = analysis.compare_metrics(a, a)
    assert all(va == vb for va, vb, _ in same.values())
    reused = analysis.with_student(a.s, open_pair(t, other))  # B on A's seeds: the teacher is not rerun
    assert reused.phi is a.s.phi and reused.z is a.s.z
    torch.testing.assert_close(reused.g, b.s.g)
    with pytest.raises(DmdvizError, match="is a teacher"):
        analysis.with_student(a.s, open_pair(t, t))


def test_a_comparison_refuses_other_seeds_or_another_target(pair):
    t, s = pair
    a = PairAnalysis(analysis.sample_pair(t, s, 40, seed=0, ks=(1, 8)), 8)
    with pytest.raises(DmdvizError, match="same seeds"):
        analysis.compare_pca(a, PairAnalysis(analysis.sample_pair(t, s, 40, seed=1, ks=(1, 8)), 8))
    moved = Samples(0, a.s.z, None, {1: a.phi_1, 8: a.phi_k + 0.1}, a.s.g)
    with pytest.raises(DmdvizError, match="one teacher"):
        analysis.compare_metrics(a, PairAnalysis(moved, 8))


def test_cli_compares_a_second_student_in_json_and_report(tiny_pair, tiny_sibling, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_THREADS": "1"}
    base = [sys.executable, "-m", "dmdviz", "analyze", "--teacher", str(tiny_pair[0]), "--student", str(tiny_pair[1]),
            "--n", "80", "--seed", "3"]
    r = subprocess.run(base + ["--compare", str(tiny_sibling), "--json", str(tmp_path / "m.json"), "--html",
                               str(tmp_path / "r.html")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    t, other = load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_sibling))
    alone = PairAnalysis(analysis.sample_pair(t, other, 80, seed=3, ks=(1, 8)), 8).pairing
    assert m["compare"]["student"] == str(tiny_sibling)
    assert m["compare"]["ot_agreement"] == pytest.approx(alone["ot_agreement"])
    assert m["compare"]["copy_ratio"] == pytest.approx(alone["copy_ratio"])
    html = (tmp_path / "r.html").read_text()
    assert "Compare: PCA triplets of both students" in html and "Compared with" in html
    wrong = subprocess.run(base + ["--compare", "moons/student"], capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=600)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "not of" in wrong.stderr


def test_a_rotated_copy_of_a_copying_pair_reads_as_copying_and_a_shuffled_one_as_chance(tmp_path):
    """The shipped MNIST student copies; the same weights fed R z (a noise-rotated copy) are
    scored against Φ_K(R z), the teacher on the noise they see, and copy just as well. The
    shuffled-seed control (the same weights, scored against Φ_K(z), the seed they were
    given) reads chance, and keeps that choice through a save and load."""
    from dataclasses import replace as dc_replace

    from dmdviz import checkpoint
    from dmdviz.core import dmd

    teacher, student = load_checkpoint("mnist/teacher-8192"), load_checkpoint("mnist/student-8192")
    rotated = dc_replace(student, model=dmd.StudentNet(student.model.net, dmd.random_rotation(784, 3)))
    plain = analysis.PairAnalysis(analysis.sample_pair(teacher, student, 60, ks=(1, 8)), 8).pairing
    s = analysis.sample_pair(teacher, rotated, 60, ks=(1, 8))
    torch.testing.assert_close(s.extra["teacher_z"], rotated.model.target_noise(s.z))
    m = analysis.PairAnalysis(s, 8).pairing
    assert m["ot_agreement"] == 1.0 and m["copy_ratio"] < 0.6 and plain["ot_agreement"] == 1.0
    config = {**student.config, "student": {**student.config["student"], "noise_rotation": True,
                                             "shuffled_control": True}}
    checkpoint.save_checkpoint(tmp_path / "shuffled", dmd.StudentNet(student.model.net, dmd.random_rotation(784, 3),
                                                           relabel=False), config)
    shuffled = load_checkpoint(str(tmp_path / "shuffled"))
    c = analysis.sample_pair(teacher, shuffled, 60, ks=(1, 8))
    torch.testing.assert_close(c.g, s.g)  # the same samples, paired with other seeds' targets
    assert "teacher_z" not in c.extra and analysis.PairAnalysis(c, 8).pairing["ot_agreement"] < 0.1
    assert analysis.seed_trajectory(teacher, rotated, 5).states[-1].allclose(s.phi[8][5], atol=1e-5)
    with pytest.raises(DmdvizError, match="other noise"):
        analysis.with_student(s, open_pair(teacher, student))
