"""Export the README's per-family figures as PNG (kaleido + Debian chromium).

    make figures    (PYTHONPATH=. python docs/make_figures.py [--meters] [FAMILY ...]; needs kaleido and /usr/bin/chromium)

Each family's default pair is analysed on 1,000 shared seeds with ``analysis.study`` and
the report's figures are written to docs/figures/<family>-<slug>.png; the MNIST families add
their series (students of the 1024 ... 8192-step teacher snapshots). Name families to redraw
only those; ``--meters`` draws only the copying meters (read from the students' metrics).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from dmdviz import checkpoint, plots
from dmdviz.analysis import study
from dmdviz.experiments.report import figures
from dmdviz.files import read_metrics

OUT = Path(__file__).resolve().parent / "figures"
PAIRS = {
    "chessboard4d": ("chessboard4d/teacher", "chessboard4d/student", ()),
    "moons": ("moons/teacher", "moons/student", ()),
    "digits": ("digits/teacher", "digits/student", ()),
    "mlp-manifold": ("mlp-manifold/teacher", "mlp-manifold/student", ()),
    "mnist": ("mnist/teacher-8192", "mnist/student-8192",
              tuple(f"mnist/student-{s}" for s in (1024, 2048, 4096, 8192))),
    "mnist-unet": ("mnist-unet/teacher-8192", "mnist-unet/student-8192",
                   tuple(f"mnist-unet/student-{s}" for s in (1024, 2048, 4096, 8192))),
    "mnist-cond": ("mnist-cond/teacher", "mnist-cond/student", ()),
}
WANTED = ("Fig 1/8", "Fig 2/7", "Fig 1/9", "Fig 3", "Fig 4", "Fig 5", "Fig 10", "Fig 11", "Fig 12")
# the copying meter of several students of one teacher in one frame: is copying a transient?
METERS = {
    "mnist": ("mnist/student-8192", "mnist/student-8192-extra-noise-3", "mnist/student-8192-random-init",
              "mnist/student-8192-regression", "mnist/student-8192-shuffled"),
    "mnist-unet": ("mnist-unet/student-8192", "mnist-unet/student-8192-gan", "mnist-unet/student-1024-longer",
                   *(f"mnist-unet/student-{s}-long" for s in (2048, 4096, 8192))),
    "chessboard4d": ("chessboard4d/student", "chessboard4d/student-mnist-recipe", "chessboard4d/student-random-init"),
}


def _with_teacher(student):
    """(the teacher a shipped student records, the student): one pair of a series."""
    return checkpoint.load_checkpoint(student.spec.teacher_ref), student


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def main() -> None:
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    OUT.mkdir(exist_ok=True)
    meters_only = "--meters" in sys.argv[1:]  # only the copying meters (no sampling): quick
    wanted = [a for a in sys.argv[1:] if a != "--meters"] or list(PAIRS)
    unknown = sorted(set(wanted) - set(PAIRS))
    if unknown:
        sys.exit(f"error: unknown family {', '.join(unknown)}; choose from {', '.join(PAIRS)}")
    for family in wanted:
        if family in METERS:
            fig = plots.copying_meters({ref: read_metrics(checkpoint.load_checkpoint(ref).path) for ref in METERS[family]})
            path = OUT / f"{family}-copying-meter.png"
            fig.write_image(path, width=1000, height=fig.layout.height, scale=1)
            print(path.relative_to(OUT.parent.parent))
        if meters_only:
            continue
        t, s, series = PAIRS[family]
        st = study(checkpoint.load_checkpoint(t), checkpoint.load_checkpoint(s), n=1000,
                   series=[_with_teacher(checkpoint.load_checkpoint(r)) for r in series])
        for title, fig in figures(st):
            if title.startswith(WANTED):
                path = OUT / f"{family}-{slug(title)}.png"
                fig.write_image(path, width=1000, height=fig.layout.height or 450, scale=1)
                print(path.relative_to(OUT.parent.parent))


if __name__ == "__main__":
    main()
