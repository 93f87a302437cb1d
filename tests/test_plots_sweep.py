"""The sweep figure: metric vs D on a log axis, error bars, one line per variant, references."""

import math

import numpy as np

from dmdviz.plots import sweep_figure

SUMMARY = {
    "dims": [2, 8, 784], "variants": ["plain", "wide"], "config": {"n": 1000},
    "metrics": {
        "ot_agreement": {"plain": {"mean": [0.01, 0.5, 0.9], "std": [0.0, 0.1, 0.05], "n": [2, 2, 2]},
                         "wide": {"mean": [0.0, math.nan, 0.1], "std": [0.0, math.nan, 0.0], "n": [1, 0, 1]}},
        "ot_agreement_init": {"plain": {"mean": [0.02, 0.3, 1.0], "std": [0, 0, 0], "n": [2, 2, 2]}},
        "copy_ratio": {"plain": {"mean": [0.5, 0.8, 0.9], "std": [0.1, 0.1, 0.1], "n": [2, 2, 2]}},
        "copy_ratio_chance": {"plain": {"mean": [1.5, 1.6, 1.8], "std": [0, 0, 0], "n": [2, 2, 2]}},
    },
}


def test_sweep_figure_draws_each_variant_with_error_bars_on_a_log_axis():
    fig = sweep_figure(SUMMARY, metrics=("ot_agreement", "copy_ratio"))
    lines = [t for t in fig.data if t.error_y and t.error_y.array is not None]
    assert sorted({t.name for t in lines}) == ["plain", "wide"]
    plain = next(t for t in lines if t.name == "plain" and t.xaxis == "x")
    np.testing.assert_allclose(plain.y, [0.01, 0.5, 0.9], rtol=1e-6)
    np.testing.assert_allclose(plain.error_y.array, [0.0, 0.1, 0.05], rtol=1e-6)
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.ticktext) == ["2", "8", "784"]
    assert {"Φ_1 (start)", "chance"} <= {t.name for t in fig.data}
    assert fig.layout.height and [s.y0 for s in fig.layout.shapes] == [0.001, 1.0]  # A_OT chance, ρ = 1
    assert sum(t.showlegend is not False for t in fig.data if t.name == "plain") == 1


def test_a_mis_scored_variant_is_drawn_faint_and_named_so():
    fig = sweep_figure(SUMMARY, metrics=("ot_agreement",), mis_scored=("wide",))
    wide = next(t for t in fig.data if t.legendgroup == "wide")
    assert wide.name == "wide (mis-scored)" and wide.line.dash == "dot" and wide.opacity < 1
    assert next(t for t in fig.data if t.legendgroup == "plain").name == "plain"
