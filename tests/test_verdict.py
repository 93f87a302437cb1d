"""The verdict line on constructed numbers: each branch, the numbers that decide it, and the
metric meanings the app and the report share."""

from dmdviz.analysis.verdict import METRICS, meaning, verdict

CHANCE = {"ot_agreement_chance": 0.002, "copy_ratio_chance": 1.53}


def _curve(agreement, chance, init=None, natural=None):
    n = len(agreement)
    out = {"k": [2 ** (i + 1) for i in range(n - 1)] + [500], "agreement": agreement, "chance": chance,
           "agreement_init": init or [0.0] * n,
           "agreement_ci": [(a - 0.03, min(a + 0.03, 1.0)) for a in agreement],
           "chance_ci": [(c - 0.01, c + 0.01) for c in chance]}
    return {**out, "natural": natural} if natural else out


def test_most_seeds_on_their_own_target_copies():
    line = verdict({**CHANCE, "ot_agreement": 1.0, "copy_ratio": 0.41, "resolution": 0.43},
                   {"ot_agreement": (0.99, 1.0), "copy_ratio": (0.405, 0.42)})
    assert line == ("copies: 100 % of seeds keep their teacher's target (A_OT 1.00 [0.990, 1.00]); "
                    "ρ 0.410 [0.405, 0.420] vs chance 1.53")


def test_a_real_minority_partly_copies_and_names_its_best_coarse_scale():
    curve = _curve([0.99, 0.96, 0.9, 0.37], [0.5, 0.26, 0.13, 0.002], init=[0.9, 0.8, 0.6, 0.02])
    line = verdict({**CHANCE, "ot_agreement": 0.45, "copy_ratio": 0.43, "resolution": 2.4},
                   {"ot_agreement": (0.39, 0.51)}, curve)
    assert line.startswith("partly copies: 45 % of seeds keep their teacher's target (A_OT 0.450 [0.390, 0.510] vs "
                           "chance 0.00200)")
    assert "at coarse scale (k = 8 cells) 90 % of seeds land in their target's cell vs chance 13 % (start Φ_1 60 %)" \
        in line  # 0.77 above chance at k = 8, more than at k = 2 (0.49) or 4 (0.70); k = N is not coarse


def test_chance_exact_pairing_but_coarse_agreement_copies_only_at_coarse_scale():
    natural = {"name": "chessboard squares (4×4)", "k": 16, "agreement": 0.71, "agreement_ci": (0.67, 0.75),
               "chance": 0.10, "chance_ci": (0.09, 0.11), "agreement_init": 0.28}
    curve = _curve([0.91, 0.85, 0.77, 0.02], [0.51, 0.26, 0.13, 0.002], init=[0.8, 0.5, 0.31, 0.002], natural=natural)
    line = verdict({**CHANCE, "ot_agreement": 0.046, "copy_ratio": 0.38, "resolution": 7.19},
                   {"ot_agreement": (0.021, 0.075)}, curve)
    assert line.startswith("remaps at this resolution, copies at coarse scale: A_OT 0.0460 [0.0210, 0.0750] vs chance "
                           "0.00200 (G lands a median 7.19 target spacings from its own target")
    assert "(k = 8 cells) 77 % of seeds land in their target's cell vs chance 13 % (start Φ_1 31 %)" in line
    natural["agreement"] = 0.95  # the data set's own cells, when they separate G from chance most
    assert "at coarse scale (the chessboard squares (4×4)) 95 %" in verdict(
        {**CHANCE, "ot_agreement": 0.046, "copy_ratio": 0.38}, {}, curve)


def test_chance_at_every_scale_remaps():
    curve = _curve([0.65, 0.29, 0.15, 0.002], [0.63, 0.27, 0.14, 0.002])  # within chance's reach: not clear of it
    line = verdict({**CHANCE, "ot_agreement": 0.002, "copy_ratio": 1.51}, {"ot_agreement": (0.0, 0.0105)}, curve)
    assert line == ("remaps: no scale at which G lands in its own target's cell more than chance (A_OT 0.00200 "
                    "[0.00, 0.0105] vs chance 0.00200); ρ 1.51 vs chance 1.53")
    # A_OT above 10 % but its interval reaching chance is no partial copying either
    assert verdict({**CHANCE, "ot_agreement": 0.12, "copy_ratio": 1.5}, {"ot_agreement": (0.0, 0.3)}).startswith(
        "remaps:")


def test_every_app_metric_has_a_meaning_and_the_start_and_data_rows_read_theirs():
    assert all(meaning(key).startswith(label) for key, (label, _) in METRICS.items())
    assert meaning("copy_ratio_init").startswith("ρ of the student's start Φ_1")
    assert "classifier" in meaning("fd_clf_student") and meaning("no_such_metric") == ""
