"""Print the README's results table from the shipped students' recorded metrics.

    python docs/results_table.py            # after `python -m dmdviz reproduce NAME --rescore`
    python docs/results_table.py --spread   # the run-to-run spread table, from every spread.json

Each value comes from ``config.json``'s ``metrics`` with its 95 % interval over seeds
(``[–]``: a figure recorded before its interval existed, on a run whose weights were not
kept, so it cannot be measured again), and beside the intervals over seeds the spread over
training seeds (sd of A_OT and ρ) where the family's ``spread.json`` has the student. A row
whose student is not shipped (the relabelling control, the long and freedom-test runs) is read from
``docs/unshipped/`` (their config.json: training record and metrics, no weights).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python docs/results_table.py`
from dmdviz.experiments.reproduce import spread_run  # noqa: E402

ROWS = [("moons/student", 2), ("chessboard4d/student", 4), ("chessboard4d/student-random-init", 4),
        ("chessboard4d/student-mnist-recipe", 4),
        ("digits/student", 64), ("mlp-manifold/student", 64)] + [(f"mnist/{n}", 784) for n in (
        "student-1024", "student-2048", "student-4096", "student-8192", "student-8192-gan", "student-8192-random-init",
        "student-8192-regression", "student-8192-shuffled", "student-8192-rotation", "student-8192-long",
        "student-8192-random-init-40k", "student-8192-extra-noise-0",
        "student-8192-extra-noise", "student-8192-extra-noise-long", "student-8192-extra-noise-3")] + [
        ("mnist-cond/student", 784)] + [(f"mnist-unet/{n}", 784) for n in (
        "student-1024", "student-2048", "student-4096", "student-8192", "student-8192-gan", "student-1024-long",
        "student-1024-longer", "student-2048-long", "student-4096-long", "student-8192-long")]


def ci(m, key, d=3):
    if key not in m:
        return "–"
    if key not in m.get("intervals", {}):
        return f"{m[key]:.{d}f} [–]"  # measured before this interval existed, no weights kept to measure it again
    lo, hi = m["intervals"][key]
    return f"{m[key]:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def seed_sd(name) -> str:
    """The training-seed spread of the row's student, from its family's spread.json: the sd
    of A_OT / ρ over the seeds, "–" where no spread was run."""
    fam, student = name.split("/")
    path = Path("checkpoints") / fam / "spread.json"
    stats = json.loads(path.read_text())["students"].get(student) if path.exists() else None
    if not stats:
        return "–"
    seeds = len(stats["ot_agreement"]["values"])
    return f"{stats['ot_agreement']['sd']:.3f} / {stats['copy_ratio']['sd']:.3f} ({seeds} seeds)"


def row(name, dim):
    fam = name.split("/")[0]
    path = Path("checkpoints") / name / "config.json"
    if not path.exists():
        path = Path("docs/unshipped") / name / "config.json"
    cfg = json.loads(path.read_text())
    m = cfg["metrics"]
    sup = (f"{ci(m, 'support_phi_8_on_support', 2)} / {ci(m, 'support_g_on_support', 2)}"
           if "support_g_on_support" in m else "–")
    label = name + (" (cond.)" if fam in ("mlp-manifold", "mnist-cond") else "") + (" (not shipped)" if "docs/unshipped" in str(path) else "")
    return (f"| `{label}` | {dim} | {ci(m, 'ot_agreement')} ({m['ot_agreement_init']:.3f}) | "
            f"{ci(m, 'nn_agreement')} ({m['nn_agreement_init']:.3f}) | {ci(m, 'copy_ratio', 2)} ({m['copy_ratio_chance']:.2f}) | "
            f"{ci(m, 'diag_contrast')} ({m['diag_contrast_init']:.3f}) | {ci(m, 'resolution', 2)} ({m.get('resolution_init', float('nan')):.2f}) | "
            f"{ci(m, 'boundary_corr', 2)} | {ci(m, 'memorization_median', 2)} | "
            f"{ci(m, 'swd_phi_8')} / {ci(m, 'swd_g')} ({m['swd_floor']:.3f}) | {sup} | {seed_sd(name)} |")


SPREAD_KEYS = [("ot_agreement", 3), ("nn_agreement", 3), ("copy_ratio", 3), ("swd_g", 3), ("support_g_on_support", 2)]


def spread_rows():
    """One row per student of every family's spread.json: mean ± sd over training seeds."""
    dims = {name.split("/")[0]: dim for name, dim in ROWS}
    for fam in dict.fromkeys(name.split("/")[0] for name, _ in ROWS):
        path = Path("checkpoints") / fam / "spread.json"
        if not path.exists():
            continue
        spread = json.loads(path.read_text())
        for student, stats in spread["students"].items():
            run = spread_run(spread, student)
            seeds = ", ".join(map(str, run["seeds"]))
            what = "student seeds, teacher fixed" if run["teacher_fixed"] else "teacher and student seeds"
            cells = [f"{stats[k]['mean']:.{d}f} ± {stats[k]['sd']:.{d}f}" if k in stats else "–" for k, d in SPREAD_KEYS]
            yield f"| `{fam}/{student}` | {dims[fam]} | {seeds} ({what}) | " + " | ".join(cells) + " |"


if "--spread" in sys.argv[1:]:
    print("| student | D | training seeds | A_OT | NN agreement | ρ | sliced W₂ G | on-support G |")
    print("|---|---|---|---|---|---|---|---|")
    for line in spread_rows():
        print(line)
    sys.exit(0)

print("| student | D | A_OT [95 %] (Φ_1) | NN agreement [95 %] (Φ_1) | ρ [95 %] (chance) | diag contrast [95 %] (Φ_1) "
      "| resolution [95 %] (Φ_1) | boundary corr [95 %] | teacher memorization r, median [95 %] "
      "| sliced W₂ Φ_8 / G [95 %] (floor) | on-support Φ_8 / G [95 %] | training-seed sd: A_OT / ρ |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, dim in ROWS:
    print(row(name, dim))
