"""Views are built once per cached analysis: a repeat request builds no figure, a new one does."""

from dmdviz import plots
from dmdviz.limits import Limits
from dmdviz.web.registry import Registry


def _counting(monkeypatch):
    calls = []
    for name in ("low_dim_panels", "pca_triplets", "cost_heatmap", "distance_scatter", "trajectory_plot"):
        real = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda *a, _real=real, _name=name, **kw: (calls.append(_name), _real(*a, **kw))[1])
    return calls


def test_a_repeat_view_reuses_its_figures_and_a_new_view_builds_its_own(tiny_pair, monkeypatch):
    from dmdviz.web.app import App

    app = App(Registry(Limits.from_env(), local=True))
    calls = _counting(monkeypatch)
    pair, _ = app._pair(str(tiny_pair[1]), "", "")  # a local folder: the library's registry
    first = app.explore(pair, 40, 0, 8, 3)
    assert sorted(calls) == ["cost_heatmap", "distance_scatter", "low_dim_panels", "pca_triplets", "trajectory_plot"]
    again = app.explore(pair, 40, 0, 8, 3)
    assert len(calls) == 5 and all(a is b for a, b in zip(first[1:5], again[1:5])) and again[8] == first[8]
    other_seed = app.seed_detail(pair, 40, 0, 8, 4)  # same analysis, another drill-down
    assert calls[5:] == ["trajectory_plot"] and "**Seed 4**" in other_seed[2]
    other = app.explore(pair, 40, 1, 8, 3)  # another base seed: another analysis, new figures
    assert len(calls) == 11 and other[1] is not first[1]


def test_a_warm_demo_carries_static_first_paints_of_the_default_view(tiny_pair, monkeypatch):
    import xml.etree.ElementTree as ET

    import gradio as gr

    from dmdviz.web.app import build_demo

    monkeypatch.setenv("DMDVIZ_DEFAULT_PAIR", str(tiny_pair[1]))
    monkeypatch.setenv("DMDVIZ_MAX_SEEDS", "60")

    def first_paints(demo) -> dict:
        return {b.elem_id: b.value for b in demo.blocks.values() if isinstance(b, gr.HTML)
                and "first-paint-svg" in (b.elem_classes or [])}

    cold = build_demo(Registry(Limits.from_env(), local=True))
    assert first_paints(cold) == {}  # nothing drawn yet: plain plots
    cold.close()
    demo = build_demo(Registry(Limits.from_env(), local=True), warm=True)
    paints = first_paints(demo)
    demo.close()
    ids = ["samples-plot", "pca-plot", "heatmap-plot", "scatter-plot", "trajectory-plot"]
    assert sorted(paints) == sorted(f"{i}-first" for i in ids)
    for elem_id, svg in paints.items():
        assert ET.fromstring(svg).tag.endswith("svg"), elem_id
    assert "PCA of" in paints["pca-plot-first"] and "<image" in paints["heatmap-plot-first"]
    assert "Seed 0" in paints["trajectory-plot-first"]  # the page's default drill-down


def test_a_warm_demo_has_drawn_the_default_pair_before_any_visitor(tiny_pair, monkeypatch):
    from dmdviz.web.app import App, build_demo

    monkeypatch.setenv("DMDVIZ_DEFAULT_PAIR", str(tiny_pair[1]))
    monkeypatch.setenv("DMDVIZ_MAX_SEEDS", "60")
    registry = Registry(Limits.from_env(), local=True)
    build_demo(registry, warm=True).close()
    calls = _counting(monkeypatch)
    page_load = App(registry).init(60, 0, 8, 0)
    assert calls == [] and "60 seeds" in page_load[2]


def test_metrics_rows_read_three_figures_and_na_for_a_start_that_is_not_phi_1():
    from dmdviz.web.text import metrics_rows

    metrics = {"ot_agreement": 0.93364, "ot_agreement_init": 0.13201, "copy_ratio": 20.6849}
    rows = metrics_rows(metrics, {"ot_agreement": (0.91234, 0.95)})
    assert rows[0][:3] == ["A_OT (ot_agreement)", "0.934 [0.912, 0.950]", "0.132"]
    assert rows[1][:3] == ["ρ (copy_ratio)", "20.7", ""]
    assert metrics_rows(metrics, {}, start_known=False)[0][2] == "n/a"  # a random-init student's start is not Φ_1


def test_a_first_load_is_estimated_from_a_guess_then_from_the_pairs_measured_cost():
    from types import SimpleNamespace

    from dmdviz.web import views

    teacher = SimpleNamespace(identity="t-estimate", shape=(1, 28, 28))
    models = SimpleNamespace(given=(teacher, SimpleNamespace(identity="s-estimate")), teacher=teacher)
    assert views.load_estimate(models, 500, 8).startswith(f"up to about {views.GUESS['images'] * 500:.0f} s "
                                                          "for 500 seeds (a first guess")
    views.record_cost(models, 500, 8, 0.2)  # a cached load says nothing about the cost
    assert "a first guess" in views.load_estimate(models, 500, 8)
    views.record_cost(models, 500, 8, 20.0)  # 0.04 s a seed at K = 8: 10 evaluations of the network (Φ_1, Φ_8, G)
    assert views.load_estimate(models, 1000, 8).startswith("up to about 40 s for 1000 seeds (measured on this pair")
    assert views.load_estimate(models, 1000, 18).startswith("up to about 80 s")  # K = 18: twice the evaluations
