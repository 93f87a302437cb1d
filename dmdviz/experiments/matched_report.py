"""The matched-start freedom test's table and figure, read from its result JSONs alone
(``experiments.matched``): mean ± sd over the student seeds that finished.

    python -m dmdviz.experiments.matched --report   (docs/results/matched/{summary.json,table.md},
                                                     docs/figures/matched-start.png)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dmdviz.files import atomic_write

FAMILY_LABEL = {"chessboard4d": "chessboard4d (4-D)", "digits": "digits (64-D)", "mnist": "MNIST teacher-8192 (784-D)"}
STARTS = ("plain", "mid", "high")
COARSE_K = 8


def load(results: Path) -> dict:
    """{family: {"calibration": ..., "runs": {start: [run JSON per seed]}}} of every finished run."""
    out = {}
    for fam in FAMILY_LABEL:
        folder = results / fam
        if not (folder / "calibration.json").is_file():
            continue
        runs = {s: [json.loads(p.read_text()) for p in sorted(folder.glob(f"{s}-s*.json"))] for s in STARTS}
        out[fam] = {"calibration": json.loads((folder / "calibration.json").read_text()),
                    "runs": {s: r for s, r in runs.items() if r}}
    return out


def _at_k(curve: dict, k: int | None, key: str) -> float:
    """The column ``key`` of a scale curve at k cells (``None``: its fine end, k = N)."""
    i = len(curve["k"]) - 1 if k is None else curve["k"].index(k)
    return curve[key][i]


def scalars(r: dict) -> dict:
    """The table's numbers of one run."""
    q, s = r["quality"], {}
    for when, pairing, use in (("start", r["pairing_start"], r["use_start"]), ("end", r["pairing_end"], r["use_end"])):
        s[f"ot_{when}"] = pairing["ot_agreement"]
        s[f"rho_{when}"] = pairing["copy_ratio"]
        s[f"zp_sens_{when}"], s[f"z_sens_{when}"] = use["extra_sensitivity"], use["z_sensitivity"]
    s["rho_chance"] = r["pairing_end"]["copy_ratio_chance"]
    for when, key in (("start", "agreement_init"), ("end", "agreement")):
        s[f"phi_k8_{when}"] = _at_k(r["scale_phi"], COARSE_K, key)
        if "natural_phi" in r:
            s[f"phi_nat_{when}"] = r["natural_phi"][key]
    s["phi_k8_chance"] = _at_k(r["scale_phi"], COARSE_K, "chance")
    if "natural_phi" in r:
        s["phi_nat_chance"] = r["natural_phi"]["chance"]
    s["g0_k8_end"], s["g0_nn_end"] = _at_k(r["scale_start"], COARSE_K, "agreement"), _at_k(r["scale_start"], None,
                                                                                          "agreement")
    s["g0_k8_chance"] = _at_k(r["scale_start"], COARSE_K, "chance")
    if "natural_start" in r:
        s["g0_nat_end"], s["g0_nat_chance"] = r["natural_start"]["agreement"], r["natural_start"]["chance"]
    s["g0_nn_chance"] = _at_k(r["scale_start"], None, "chance")
    for key in ("on_support", "fd_clf", "fd_pca", "class_kl", "swd"):
        for name, tag in (("g", "g"), ("g0", "g0"), ("phi_8", "phi")):
            if f"{key}_{name}" in q:
                s[f"{key}_{tag}"] = q[f"{key}_{name}"]
    s["gate"] = float(gate(s))
    return s


def gate(s: dict) -> bool:
    """The quality gate on point values: toy sets, G's on-support share within 0.05 of Φ_8's;
    image sets, G's Fréchet distance in the classifier's features at most 1.25 × Φ_8's and its
    class KL at most Φ_8's + 0.02."""
    if "on_support_g" in s:
        return s["on_support_g"] >= s["on_support_phi"] - 0.05
    return s["fd_clf_g"] <= 1.25 * s["fd_clf_phi"] and s["class_kl_g"] <= s["class_kl_phi"] + 0.02


def summarise(data: dict) -> dict:
    """{family: {start: {"seeds", "scale", key: [mean, sd]}}}."""
    out = {}
    for fam, entry in data.items():
        out[fam] = {}
        for start, runs in entry["runs"].items():
            rows = [scalars(r) for r in runs]
            keys = [k for k in rows[0] if all(k in row for row in rows)]
            out[fam][start] = {"seeds": [r["seed"] for r in runs], "scale": runs[0]["extra_noise_scale"],
                               "steps": runs[0]["steps"],
                               **{k: [float(np.mean([row[k] for row in rows])), float(np.std([row[k] for row in rows]))]
                                  for k in keys}}
    return out


def _f(v, sd=True) -> str:
    mean, spread = v
    return f"{mean:.2f} ± {spread:.2f}" if sd and spread >= 0.005 else f"{mean:.2f}"


def _sd3(v) -> str:
    return f" ± {v[1]:.3f}" if v[1] >= 0.0005 else ""


def _arrow(s: dict, key: str) -> str:
    return f"{s[key + '_start'][0]:.2f} → {_f(s[key + '_end'])}"


def table(summary: dict) -> str:
    """Two markdown tables: pairing (start → end), and sensitivity / quality."""
    head = ("| teacher | start (W′ scale) | seeds | A_OT with Φ_8 | Φ_8's cells, k = 8 (chance) | natural cells of Φ_8 "
            "| G₀'s cells, k = 8 (chance) | G₀'s natural cells (chance) | NN with G₀ (chance) | ρ (chance) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for fam, starts in summary.items():
        for start, s in starts.items():
            nat = (_arrow(s, "phi_nat") if "phi_nat_end" in s else "–")
            g0nat = f"{_f(s['g0_nat_end'])} ({s['g0_nat_chance'][0]:.2f})" if "g0_nat_end" in s else "–"
            lines.append(f"| {FAMILY_LABEL[fam]} | {start} ({s['scale']:.3g}) | {len(s['seeds'])} | {_arrow(s, 'ot')} "
                         f"| {_arrow(s, 'phi_k8')} ({s['phi_k8_chance'][0]:.2f}) | {nat} "
                         f"| {_f(s['g0_k8_end'])} ({s['g0_k8_chance'][0]:.2f}) | {g0nat} "
                         f"| {s['g0_nn_end'][0]:.3f}{_sd3(s['g0_nn_end'])} ({s['g0_nn_chance'][0]:.3f}) "
                         f"| {_arrow(s, 'rho')} ({s['rho_chance'][0]:.2f}) |")
    head2 = ("| teacher | start | z′-sensitivity | z-sensitivity | quality of G (Φ_8) | gate met |")
    lines += ["", head2, "|" + "---|" * (head2.count("|") - 1)]
    for fam, starts in summary.items():
        for start, s in starts.items():
            if "on_support_g" in s:
                q = f"on-support {_f(s['on_support_g'])} ({s['on_support_phi'][0]:.2f})"
            else:
                q = (f"FD clf {_f(s['fd_clf_g'])} ({s['fd_clf_phi'][0]:.2f}), class KL {_f(s['class_kl_g'])} "
                     f"({s['class_kl_phi'][0]:.3f})")
            met = round(s["gate"][0] * len(s["seeds"]))
            lines.append(f"| {FAMILY_LABEL[fam]} | {start} | {_arrow(s, 'zp_sens')} | {_arrow(s, 'z_sens')} | {q} "
                         f"| {met} of {len(s['seeds'])} |")
    return "\n".join(lines) + "\n"


def figure(data: dict):
    """Agreement against k (log axis), one column per teacher: top, with Φ_8's cells (G₀
    dotted, G solid); bottom, with G₀'s cells (G); chance dashed grey. Means over seeds."""
    from plotly.subplots import make_subplots

    fams = list(data)
    fig = make_subplots(rows=2, cols=len(fams), shared_yaxes=True, vertical_spacing=0.12, horizontal_spacing=0.04,
                        subplot_titles=[FAMILY_LABEL[f] for f in fams] + [""] * len(fams))
    colours = {"plain": "#1f77b4", "mid": "#ff7f0e", "high": "#d62728"}
    for col, fam in enumerate(fams, start=1):
        for start, runs in data[fam]["runs"].items():
            for row, curve, keys in ((1, "scale_phi", ("agreement_init", "agreement")), (2, "scale_start", (None, "agreement"))):
                k = runs[0][curve]["k"]
                for key, dash in zip(keys, ("dot", "solid")):
                    if key is None:
                        continue
                    y = np.mean([r[curve][key] for r in runs], axis=0)
                    fig.add_scatter(x=k, y=y, mode="lines", line={"color": colours[start], "dash": dash},
                                    name=f"{start}{' start' if dash == 'dot' else ''}", legendgroup=start + dash,
                                    showlegend=col == 1 and row == 1, row=row, col=col)
                chance = np.mean([r[curve]["chance"] for r in runs], axis=0)
                fig.add_scatter(x=k, y=chance, mode="lines", line={"color": "#999", "dash": "dash", "width": 1},
                                name="chance", showlegend=False, row=row, col=col)
        fig.update_xaxes(type="log", title_text="cells k", row=2, col=col)
    fig.update_yaxes(title_text="agreement with Φ_8's cells", row=1, col=1, range=[0, 1.02])
    fig.update_yaxes(title_text="agreement with G₀'s cells", row=2, col=1, range=[0, 1.02])
    fig.update_xaxes(type="log")
    fig.update_layout(width=1000, height=560, margin={"l": 60, "r": 10, "t": 40, "b": 50}, template="plotly_white",
                      legend={"orientation": "h", "y": -0.14})
    return fig


def write(results: Path, figure_path: Path | None, log=print) -> dict:
    """summary.json and table.md under ``results``, the PNG at ``figure_path`` (kaleido)."""
    data = load(results)
    summary = summarise(data)
    atomic_write(results / "summary.json", lambda p: p.write_text(json.dumps(summary, indent=1) + "\n"))
    atomic_write(results / "table.md", lambda p: p.write_text(table(summary)))
    log(table(summary))
    if figure_path is not None and data:
        figure(data).write_image(str(figure_path), scale=1)
    return summary
