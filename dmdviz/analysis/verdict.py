"""What a pair's numbers say, in words a reader of the paper uses: the one-line verdict every
view of the app and the HTML report opens with, and the meaning of each metric (one source
for the app's tables, its API and the report).

``verdict(metrics, intervals, curve)`` reads the pairing metrics (``PairAnalysis.pairing``),
their intervals and the copying-at-every-scale curve (``study.scale_curve``) and says one of:

- **copies**: most seeds (A_OT >= 1/2) keep their teacher's own target;
- **partly copies**: A_OT clearly above chance (its interval clear of 1/N, at least 10 %);
- **remaps at this resolution, copies at coarse scale**: A_OT reads chance, but cut into
  fewer cells the targets show G in its own target's cell well above chance (the best such k);
- **remaps**: chance at every scale.

"Clearly above chance" on the curve: the agreement's interval clears chance's, by at least
ten points (``MIN_EXCESS``). Numbers read to three significant figures, shares as percents.
"""

from __future__ import annotations

COPIES = 0.5  # A_OT at or above: most seeds keep their own target
PARTIAL = 0.1  # A_OT at or above (and its interval clear of chance): a real share of seeds does
MIN_EXCESS = 0.1  # agreement above chance, on the scale curve, that counts as copying at that scale

METRICS = {
    "ot_agreement": ("A_OT", "share of seeds the optimal assignment of C pairs with themselves: high = copying, "
                     "chance = 1/N"),
    "nn_agreement": ("A_NN", "share of student samples whose nearest teacher target comes from the same seed"),
    "diag_contrast": ("diagonal contrast", "median own-seed cost / median cross-seed cost: small = each G(z) "
                      "sits on its own Φ_K(z)"),
    "copy_ratio": ("ρ", "median d_student / d_init: well below 1 = the student moved onto the teacher's "
                   "multi-step target (copying); around 1 or above = remapping"),
    "resolution": ("resolution", "median d_student / median nearest-neighbour spacing of the Φ_K samples: "
                   "well below 1 = A_OT and A_NN can register copying; above 1 they read chance even for a "
                   "student that copies (typical of 2-D/4-D sets)"),
    "copy_ratio_chance": ("ρ at chance", "ρ with the student's samples paired to the wrong seeds: compare ρ "
                          "with this, not only with 1"),
    "margin": ("margin", "median over seeds of (distance from G(z) to the nearest other seed's target) / (distance "
               "to its own target): above 1 = each sample is nearer its own target than any other; it keeps "
               "separating students where A_OT saturates at 1"),
}

# what the report's other rows mean (the data-set summaries); a key's "_init" reads the start Φ_1
OTHER_MEANINGS = {
    "ot_agreement_chance": "A_OT of a pairing that carries no information: 1/N",
    "boundary_corr": "corr(D(z), d_student/d_init) over seeds, D the target's mean distance to the training set: "
                     "negative = seeds far from the data are copied more",
    "delta_median": "median d_student − d_init over seeds: below 0 = G nearer its target than its start Φ_1 was",
    "aligned_share": "share of seeds with d_student < d_init (G moved towards its own target)",
    "boundary_subset": "training points the boundary distance D(z) is measured against",
    "memorized_share": "share of the teacher's samples with r > 3: memorised ones",
    "memorization": "median over the teacher's samples of r = second-nearest / nearest training point distance: "
                    "near 1 = not memorised, r > 3 would be",
    "cells_agreement_init": "the same for the student's start Φ_1",
    "cells_chance": "that share for independent draws from the two sets' cell shares",
    "cells_": "share of seeds whose G(z) falls in its own target's cell of the data set's own cells "
              "(chessboard squares, predicted digit class)",
    "swd_floor": "sliced W₂ of held-out data to training data: a perfect sampler's level",
    "swd_": "sliced Wasserstein-2 distance to held-out data: lower = closer to the data",
    "support_": "share of samples on the data's support",
    "fd_pca_floor": "the held-out images' own Fréchet distance in PCA-50: a perfect sampler's level",
    "fd_clf_floor": "the held-out images' own Fréchet distance in classifier features: a perfect sampler's level",
    "fd_pca_": "Fréchet distance to the training images in their first 50 principal axes",
    "fd_clf_": "Fréchet distance to the training images in the classifier's 64 features",
    "class_kl_": "KL of the predicted classes from the training images' classes: 0 = the same class shares",
}


def meaning(key: str) -> str:
    """The meaning of a summary key ("" when none is written): a metric's own, its start Φ_1's
    (``*_init``), or the data-set summary's it starts with."""
    if key in METRICS:
        return f"{METRICS[key][0]}: {METRICS[key][1]}"
    if key in OTHER_MEANINGS:
        return OTHER_MEANINGS[key]
    if key.endswith("_init") and key[:-5] in METRICS:
        return f"{METRICS[key[:-5]][0]} of the student's start Φ_1 (what distillation changed)"
    return next((text for prefix, text in OTHER_MEANINGS.items() if key.startswith(prefix)), "")


def _sig(value: float) -> str:
    """Three significant figures, trailing zeros kept: 1.00, 0.0460, 20.7."""
    text = f"{value:#.3g}"
    return text[:-1] if text.endswith(".") else text


def _ci(interval) -> str:
    return f" [{_sig(interval[0])}, {_sig(interval[1])}]" if interval is not None else ""


def shown(value: float, interval=None) -> str:
    """``0.412 [0.390, 0.431]``: a value and its interval (if any) to three significant figures."""
    return _sig(value) + _ci(interval)


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"


def _coarse(curve: dict | None) -> dict | None:
    """The row of the scale curve (below k = N; or the data set's own cells) where G's agreement
    exceeds chance most, when it does so clearly (its interval clears chance's by ``MIN_EXCESS``)."""
    if not curve:
        return None
    rows = [{key: curve[key][i] for key in ("k", "agreement", "chance", "agreement_init")}
            | {"low": (curve.get("agreement_ci") or [None] * len(curve["k"]))[i],
               "chance_high": (curve.get("chance_ci") or [None] * len(curve["k"]))[i], "cells": None}
            for i in range(len(curve["k"]) - 1)]
    nat = curve.get("natural")
    if nat:
        rows.append({"k": nat["k"], "agreement": nat["agreement"], "chance": nat["chance"],
                     "agreement_init": nat["agreement_init"], "low": nat.get("agreement_ci"),
                     "chance_high": nat.get("chance_ci"), "cells": nat["name"]})

    def clear(r):
        low = r["low"][0] if r["low"] is not None else r["agreement"]
        high = r["chance_high"][1] if r["chance_high"] is not None else r["chance"]
        return low > high and r["agreement"] - r["chance"] >= MIN_EXCESS

    rows = [r for r in rows if clear(r)]
    return max(rows, key=lambda r: r["agreement"] - r["chance"]) if rows else None


def _at_scale(row: dict) -> str:
    where = f"k = {row['k']} cells" if row["cells"] is None else f"the {row['cells']}"
    return (f"at coarse scale ({where}) {_pct(row['agreement'])} of seeds land in their target's cell vs chance "
            f"{_pct(row['chance'])} (start Φ_1 {_pct(row['agreement_init'])})")


def verdict(metrics: dict, intervals: dict, curve: dict | None = None) -> str:
    """One line: copies / partly copies / remaps at this resolution, copies at coarse scale /
    remaps, with the numbers that decide it. ``metrics``: ``ot_agreement``,
    ``ot_agreement_chance``, ``copy_ratio``, ``copy_ratio_chance`` (``resolution`` if known);
    ``intervals``: key -> (low, high); ``curve``: the scale curve (``k``, ``agreement``,
    ``chance``, ``agreement_init``, optional ``*_ci`` and ``natural``) or None."""
    a, chance = metrics["ot_agreement"], metrics["ot_agreement_chance"]
    a_ci = intervals.get("ot_agreement")
    a_text = f"A_OT {_sig(a)}{_ci(a_ci)}"
    rho = (f"ρ {_sig(metrics['copy_ratio'])}{_ci(intervals.get('copy_ratio'))} vs chance "
           f"{_sig(metrics['copy_ratio_chance'])}")
    if a >= COPIES:
        return f"copies: {_pct(a)} of seeds keep their teacher's target ({a_text}); {rho}"
    coarse = _coarse(curve)
    if a >= PARTIAL and (a_ci[0] if a_ci is not None else a) > chance:
        extra = f"; {_at_scale(coarse)}" if coarse else ""
        return (f"partly copies: {_pct(a)} of seeds keep their teacher's target ({a_text} vs chance {_sig(chance)})"
                f"{extra}; {rho}")
    resolution = metrics.get("resolution")
    blind = (f" (G lands a median {_sig(resolution)} target spacings from its own target: too far for A_OT to "
             "see)" if resolution is not None and resolution > 1 else "")
    if coarse:
        return (f"remaps at this resolution, copies at coarse scale: {a_text} vs chance {_sig(chance)}{blind}; "
                f"{_at_scale(coarse)}; {rho}")
    return (f"remaps: no scale at which G lands in its own target's cell more than chance ({a_text} vs chance "
            f"{_sig(chance)}); {rho}")
