"""What ``analyze`` writes besides its printout: the JSON summary, the samples as
safetensors, and the figures as files (``--figures DIR --format svg|pdf|png``)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from dmdviz.errors import DmdvizError


def check_format(args) -> None:
    """``--format``: for --figures or --html, and writable here (before any sampling)."""
    from dmdviz.plots import require_format

    if args.format and not (args.figures or args.html):
        raise DmdvizError("--format is the format of --figures files or of --html's images: give one of them")
    if args.html and args.format == "pdf":
        raise DmdvizError("an HTML report embeds svg or png images, not pdf: drop --html, or give --format svg or png")
    require_format(args.format or "svg")


def write_figures(st, folder: str, fmt: str) -> None:
    """``--figures``: each report figure as FOLDER/NN-title.FMT, in report order."""
    from dmdviz.experiments.report import figures
    from dmdviz.plots import figure_bytes

    figs = figures(st)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i, ((title, _), data) in enumerate(zip(figs, figure_bytes([f for _, f in figs], fmt)), 1):
        (out / f"{i:02d}-{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}.{fmt}").write_bytes(data)
    print(f"{len(figs)} figures written to {out} as {fmt}", file=sys.stderr)


def write_json(args, summary: dict) -> None:
    text = json.dumps(summary, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print(text)


def pipeline_facts(summary: dict, teacher, student) -> None:
    """A pipeline side's guidance (the scale its call runs with) and its notes, in the summary."""
    sides = {role: getattr(m, "inner", m) for role, m in (("teacher", teacher), ("student", student))}
    guidance = {role: m.guidance for role, m in sides.items() if hasattr(m, "guidance")}
    if guidance:
        summary["guidance"] = guidance
    for role, m in sides.items():
        summary["notes"] += [f"{role}: {note}" for note in getattr(m, "notes", ()) if f"{role}: {note}" not in
                             summary["notes"]]


def save_samples(s, path: str, summary: dict) -> None:
    """``--save-samples``: the seeds, z, each Φ_K, G and the conditioning index as safetensors."""
    from safetensors.torch import save_file

    if not path.endswith(".safetensors"):
        raise DmdvizError(f"--save-samples {path}: the file must end in .safetensors")
    tensors = {"seeds": s.seeds, "z": s.z, "g": s.g, **{f"phi_{k}": v for k, v in s.phi.items()}}
    if s.y is not None:
        tensors["y"] = s.y
    if "teacher_z" in s.extra:
        tensors["teacher_z"] = s.extra["teacher_z"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = {"seed": str(s.seed), "teacher": str(summary["teacher"]), "student": str(summary["student"]),
            "k": str(summary["k"])}
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=meta)
    print(f"samples written to {path}", file=sys.stderr)
