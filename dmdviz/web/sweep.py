"""The Sweep tab: copying against the dimension D, and the geometric-freedom variants.

``sweep_tab(gate)`` builds its components inside the caller's ``gr.Tab`` and wires its events
(api names ``sweep_show``, ``sweep_start``, ``sweep_stop``, ``sweep_poll``) through
``common.wire``; ``sweep_show`` reads results only, so it runs in the ``VIEWS`` group,
never behind a computation. It shows the
shipped sweeps (``checkpoints/sweep-*``, the default first: results only, read in
milliseconds, no model loaded) and any sweep started here, which runs as ``python -m dmdviz sweep`` in a
background process (``sweep.start_background``) under ``<runs root>/sweeps/<name>``;
the figure refreshes as result lines arrive.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from dmdviz import files, plots, settings
from dmdviz.errors import DmdvizError
from dmdviz.experiments import sweep
from dmdviz.limits import Limits
from dmdviz.web.common import OWN, POLL, VIEWS, Gate, wire
from dmdviz.web.messages import error_box

DEFAULT = "sweep-default"
# shipped sweeps whose rows of a variant were scored wrongly and not rerun (their cards say so):
# the chessboard sweep's rotation rows compare G(z) with Φ_K(z), not with Φ_K(R z), the teacher
# on the noise the rotated student sees, so they read chance by construction
MIS_SCORED = {"sweep-default": ("rotation",)}
MAX_DIMS, MAX_SWEEP_SEEDS = 9, 3
# the table adds the start Φ_1 and the student's sample quality (chessboard) to the plotted metrics
TABLE = ("ot_agreement", "ot_agreement_init", "nn_agreement", "copy_ratio", "copy_ratio_chance", "support_g_on_support")


def sweeps_root() -> Path:
    return settings.runs_root() / "sweeps"


def shipped_sweeps() -> list[str]:
    """``checkpoints/sweep-*`` folders holding a sweep.json, the default first."""
    names = sorted(p.parent.name for p in settings.shipped_root().glob("sweep-*/sweep.json"))
    return sorted(names, key=lambda n: n != DEFAULT)


def sweep_choices() -> list[str]:
    """The shipped sweeps and the sweeps started here, newest first."""
    root = sweeps_root()
    mine = sorted((p for p in root.iterdir() if (p / "sweep.json").is_file()), key=lambda p: p.stat().st_mtime,
                  reverse=True) if root.is_dir() else []
    return shipped_sweeps() + [p.name for p in mine]


def _folder(name: str) -> Path:
    if name in shipped_sweeps():
        return settings.shipped_root() / name
    if not files.NAME.match(name or ""):
        raise DmdvizError(f"{name!r} is not a sweep name (letters, digits, . _ - only)")
    folder = sweeps_root() / name
    if not (folder / "sweep.json").is_file():
        raise DmdvizError(f"no sweep named {name!r}")
    return folder


def show(name: str):
    """(figure, Markdown table, one-line summary) of a sweep's finished sub-files."""
    folder = _folder(name)
    s = sweep.summarize(folder)
    cfg = s["config"]
    state = "running" if sweep.is_running(folder) else ("complete" if s["n_results"] == s["n_sub_runs"] else "stopped")
    parts = [f"`{name}`", cfg["dataset"] + (f" ({cfg['embed']} plane)" if cfg["dataset"] == "chessboard" else ""),
             f"{s['n_results']}/{s['n_sub_runs']} sub-runs", state,
             f"teacher {cfg['teacher_steps']} steps, student {cfg['student_steps']} iterations"]
    if "plain" in cfg["variants"]:
        onset = sweep.copy_onset(s)
        parts.append(f"the plain student keeps the teacher's pairing (A_OT ≥ 0.5) from **D = {onset}** on" if onset
                     else "the plain student does not keep the teacher's pairing (A_OT < 0.5) at the largest D")
    bad = MIS_SCORED.get(name, ()) if name in shipped_sweeps() else ()
    parts += [f"**{v} rows mis-scored** (against Φ_K(z), not Φ_K(R z); not rerun, see the sweep's card): "
              "drawn faint, marked in the table" for v in bad if v in s["variants"]]
    fig = plots.sweep_figure(s, title=f"Copying vs dimension: {name}", mis_scored=bad)
    table = sweep.results_table(s, TABLE)
    for v in bad:
        table = table.replace(f"\n| {v} |", f"\n| {v} (mis-scored) |")
    return fig, table, " · ".join(parts)


def _ints(text: str, what: str, low: int, high: int, most: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise DmdvizError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or len(values) > most or any(not low <= v <= high for v in values):
        raise DmdvizError(f"give 1 to {most} {what} between {low} and {high}, got {text!r}")
    return values


def start(dataset, dims, seeds, variants, teacher_steps, student_steps, name, limits: Limits | None = None):
    """Start a background sweep; returns (dropdown update, message)."""
    limits = limits or Limits.from_env()
    for label, value in (("teacher steps", teacher_steps), ("student steps", student_steps)):
        if not 1 <= int(value) <= limits.max_steps:
            raise DmdvizError(f"{label} must be between 1 and {limits.max_steps}, got {value}")
    cfg = sweep.SweepConfig(dataset=dataset, dims=_ints(dims, "dimensions", 2, 1024, MAX_DIMS),
                            seeds=_ints(seeds, "seeds", 0, 10**6, MAX_SWEEP_SEEDS), variants=tuple(variants or ()),
                            teacher_steps=int(teacher_steps), student_steps=int(student_steps))
    cfg.check()
    if limits.max_sweep_runs and len(cfg.sub_runs()) > limits.max_sweep_runs:
        raise DmdvizError(f"this sweep has {len(cfg.sub_runs())} sub-runs, over the {limits.max_sweep_runs} one sweep "
                          "may have here (DMDVIZ_MAX_SWEEP_RUNS): fewer dimensions, seeds or variants")
    name = (name or "").strip() or f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    if not files.NAME.match(name) or name in shipped_sweeps():
        raise DmdvizError(f"{name!r} is not a free sweep name (letters, digits, . _ - only)")
    folder = sweeps_root() / name
    if folder.exists():
        raise DmdvizError(f"a sweep named {name!r} exists already; choose another name")
    sweep.start_background(folder, cfg, limits=limits)  # one cap for training jobs and sweeps (launcher.launching)
    return gr.update(choices=sweep_choices(), value=name), f"Started sweep `{name}` ({len(cfg.sub_runs())} sub-runs)."


def stop(name: str) -> str:
    folder = _folder(name)
    if not sweep.is_running(folder):
        raise DmdvizError(f"sweep {name} is not running")
    sweep.request_stop(folder)
    return (f"Stop requested for `{name}`: it stops at its next step; on the server, `python -m dmdviz sweep --out "
            f"<runs folder>/sweeps/{name}` resumes it.")


def poll(name: str, seen: str):
    """Timer tick: redraw only when the chosen sweep's result count or running state changed."""
    if not name or name in shipped_sweeps():
        return gr.skip(), gr.skip(), gr.skip(), seen
    folder = _folder(name)
    key = f"{name}:{len(sweep.read_results(folder))}:{sweep.is_running(folder)}"
    if key == seen:
        return gr.skip(), gr.skip(), gr.skip(), seen
    return (*show(name), key)


def sweep_tab(gate: Gate) -> None:
    """Build the tab's components in the current ``gr.Tab`` (or Blocks) and wire its events."""
    choices = sweep_choices()
    try:
        first = show(choices[0]) if choices else (None, "", "No sweep yet: start one below.")
    except DmdvizError as e:  # a broken sweep folder must not keep the app from starting
        first = (None, "", f"Sweep `{choices[0]}` cannot be shown: {e}")
    gr.Markdown("Does copying set in as the data's ambient dimension D grows, and does more geometric freedom "
                "(a randomly initialised or wider student) undo it? The noise-rotated student is the relabelling "
                "control: scored against the teacher on the rotated noise it sees, Φ_K(R z), it reads like the "
                "plain one; rows scored against Φ_K(z) instead read chance by construction and are marked "
                "mis-scored (the shipped chessboard sweep's). Each point is a teacher and a "
                "student per (D, seed) under one budget; error bars are the std over seeds. "
                "Run `python -m dmdviz sweep --help` for the same from the command line.")
    with gr.Row():
        pick = gr.Dropdown(choices, value=choices[0] if choices else None, label="Sweep", allow_custom_value=True, scale=3)
        show_btn = gr.Button("Show", scale=1)
    show_msg = error_box("sweep-show-error")
    info = gr.Markdown(first[2], elem_id="sweep-info")
    plot = gr.Plot(first[0], show_label=False, label="Copying vs dimension", elem_id="sweep-plot")
    poll_msg = error_box("sweep-poll-error")
    with gr.Accordion("Results table (mean ± std over seeds)", open=False):
        table = gr.Markdown(first[1], elem_id="sweep-table")
    with gr.Accordion("Run a new sweep in the background", open=False):
        with gr.Row():
            dataset = gr.Dropdown(list(sweep.DATASETS), value="chessboard", label="Data set")
            dims = gr.Textbox("2,8,32,128", label=f"Dimensions D (at most {MAX_DIMS})")
            seeds = gr.Textbox("0", label=f"Seeds (at most {MAX_SWEEP_SEEDS})")
        with gr.Row():
            variants = gr.CheckboxGroup(list(sweep.VARIANTS), value=["plain", "random-init"], label="Variants")
            t_steps = gr.Number(1500, precision=0, label="Teacher steps")
            s_steps = gr.Number(600, precision=0, label="Student iterations")
            name = gr.Textbox(label="Name (optional)")
        with gr.Row():
            start_btn = gr.Button("Start sweep", variant="primary")
            stop_btn = gr.Button("Stop", variant="stop")
        run_msg = error_box("sweep-run-error")
        msg = gr.Markdown(elem_id="sweep-msg")
    seen = gr.State("")
    timer = gr.Timer(3.0)

    shown = [plot, table, info]
    wire(gate, [show_btn.click, pick.input], show, [pick], shown, show_msg, info, api_name="sweep_show", group=VIEWS)
    wire(gate, start_btn.click, start, [dataset, dims, seeds, variants, t_steps, s_steps, name], [pick, msg], run_msg, msg,
         api_name="sweep_start", group=OWN)
    wire(gate, stop_btn.click, stop, [pick], [msg], run_msg, msg, api_name="sweep_stop", group=OWN)
    wire(gate, timer.tick, poll, [pick, seen], [*shown, seen], poll_msg, api_name="sweep_poll", group=POLL)
