"""The app's layout, tab by tab: components only, no callbacks (``ui`` wires them).

Each builder makes its components inside the caller's ``gr.Tab`` and returns them in a
``SimpleNamespace`` (or a tuple), so ``ui`` can wire events across tabs.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from dmdviz import settings
from dmdviz.config import PRESETS
from dmdviz.experiments import jobs
from dmdviz.limits import MIN_SEEDS, Limits
from dmdviz.web.catalog import families, pair_choices, published, shipped_pair_files
from dmdviz.web.messages import error_box

DEFAULT_N = 500  # seeds drawn on page load (capped by the limits)
DEFAULT_FAMILY = "mnist"  # the teacher snapshots the README's copying-vs-length result comes from
PUSH_FROM_CLI = ("On a Space with Hugging Face login the app pushes with your own account. Here, push from the "
                 "command line, where the token stays (`HF_TOKEN`): `python -m dmdviz push runs/<run>/teacher "
                 "<org>/<name>-teacher`, then `python -m dmdviz push runs/<run>/student <org>/<name>` (the student "
                 "names its teacher as its base model).")
EXPLORE_SOURCE = "explore"  # the Diagnostics source that means the pair open in Explore (``views.diagnostics``)


def explore_pickers() -> SimpleNamespace:
    """The pair controls: dropdown, reference box, teacher, uploads, pair files, N / seed / K."""
    c = SimpleNamespace()
    with gr.Row():
        c.pair_dd = gr.Dropdown(label="Pair (shipped or trained here)", choices=pair_choices(), allow_custom_value=True,
                                scale=3)
        c.ref_box = gr.Textbox(label="Hub repo id, shipped name or runs/<run>/student", placeholder="org/name@revision",
                               scale=3)
        c.load_btn = gr.Button("Load", scale=1)
        c.teacher_box = gr.Textbox(label="Teacher (optional)", placeholder="default: the one the student records",
                                   scale=2)
    c.pair_msg = error_box("pair-error")
    offered, note = published()  # one read of the recipes (and one device probe) for the list and its note
    with gr.Row():  # the uploads get a third of the width each, so their file names stay readable
        c.upload = gr.File(label="Upload a student (zip, or config.json + model.safetensors)", file_count="multiple",
                           file_types=[".zip", ".json", ".safetensors"], scale=1, min_width=300, elem_id="upload")
        c.pairfile_dd = gr.Dropdown(label="Or a pair file (dmdviz or diffusers models): shipped, or a Hub "
                                    "repo id holding pair.json", choices=shipped_pair_files(offered), info=note or None,
                                    allow_custom_value=True, scale=1, min_width=300, elem_id="pairfile")
        c.pairfile_up = gr.File(label="Upload a pair file (.json / .toml; no entry points)",
                                file_types=[".json", ".toml"], scale=1, min_width=300, elem_id="pairfile-upload")
    return c

def plot(label: str, elem_id: str, first: dict[str, str], min_width: int = 160) -> gr.Plot:
    """A ``gr.Plot``; with a static SVG of its first figure in ``first[elem_id]`` (``build_demo``
    with ``warm``), a slot that shows that drawing until Plotly has drawn (``FIRST_PAINT_CSS``)."""
    if not first.get(elem_id):
        return gr.Plot(show_label=False, label=label, elem_id=elem_id, min_width=min_width)
    with gr.Column(elem_classes=["first-paint"], min_width=min_width):
        gr.HTML(first[elem_id], js_on_load=None, elem_classes=["first-paint-svg"], elem_id=f"{elem_id}-first")
        return gr.Plot(show_label=False, label=label, elem_id=elem_id, elem_classes=["first-paint-plot"])


def explore_views(c, lim: Limits, first: dict[str, str]) -> None:
    """N / seed / K, the four plots and the metrics table of the pair, into ``c``; ``first``:
    static first paints by plot id (``plot``)."""
    with gr.Row():
        c.n = gr.Slider(MIN_SEEDS, lim.max_seeds, value=min(DEFAULT_N, lim.max_seeds), step=1, label="Seeds N")
        c.seed = gr.Number(0, precision=0, label="Base seed")
        c.k = gr.Number(8, precision=0, label="K (Euler steps of the target Φ_K)")
        c.draw = gr.Button("Draw", variant="primary")
    c.view_msg = error_box("view-error")
    c.info = gr.Markdown(elem_id="explore-info")
    c.samples_plot = plot("Samples", "samples-plot", first)  # the paper's fig. 2: the full width
    with gr.Row():  # three abreast at 1400 px, wrapped at 1000 px (min_width)
        c.pca_plot = plot("PCA triplets", "pca-plot", first, min_width=380)
        c.heat_plot = plot("Cost heatmap with OT assignment", "heatmap-plot", first, min_width=380)
        c.scatter_plot = plot("d_init vs d_student", "scatter-plot", first, min_width=380)
    c.table = gr.Dataframe(headers=["metric", "student G [95 % bootstrap interval over seeds]", "start Φ_1", "meaning"],
                           label="Pairing metrics", interactive=False, wrap=True, elem_id="metrics-table",
                           column_widths=["19%", "21%", "11%", "49%"], max_height=1200)
    c.scale_plot = gr.Plot(show_label=False, label="Copying at every scale", elem_id="scale-plot")

def compare_box(c) -> None:
    with gr.Accordion("Compare with a second student of the same teacher", open=False, elem_id="compare"):
        with gr.Row():
            c.other = gr.Dropdown(label="Second student B (same teacher; a shipped or run student, a "
                                  "Hub repo id or your upload)", choices=[], allow_custom_value=True, scale=4)
            c.compare_btn = gr.Button("Compare", scale=1)
        c.compare_msg = error_box("compare-error")
        c.compare_info = gr.Markdown(elem_id="compare-info")
        c.compare_samples = gr.Plot(show_label=False, label="Samples of A and B", elem_id="compare-samples-plot")
        with gr.Row():
            c.compare_pca = gr.Plot(show_label=False, label="PCA triplets of A and B, one basis", elem_id="compare-pca-plot")
            c.compare_scatter = gr.Plot(show_label=False, label="d_init vs d_student of A and B", elem_id="compare-scatter-plot")
        c.compare_table = gr.Dataframe(headers=["metric", "student A", "student B", "B − A", "start Φ_1"],
                                       label="Pairing metrics of A and B", interactive=False, wrap=True)

def drill_box(c, first: dict[str, str]) -> None:
    gr.Markdown("### Per-seed drill-down")
    with gr.Row():
        c.index = gr.Number(0, precision=0, label="Seed index i (or click a point in a plot above)",
                            scale=1, elem_id="seed-index")
        c.show_seed = gr.Button("Show seed", scale=1, elem_id="show-seed")
    c.seed_msg = error_box("seed-error")
    with gr.Row():  # side by side at 1400 px, one above the other at 1000 px; the trajectory alone for vectors
        c.seed_plot = gr.Plot(show_label=False, label="z, Φ_1, Φ_8, Φ_32, G (image data)", elem_id="seed-plot",
                              min_width=520)
        c.traj_plot = plot("Euler trajectory", "trajectory-plot", first, min_width=520)
    c.seed_md = gr.Markdown(elem_id="seed-table")

def diagnostics_tab() -> tuple:
    with gr.Row():
        names = families()
        family = gr.Dropdown(label="Source of every plot: a family of students (teacher snapshots), or the pair "
                             "open in Explore", choices=[("the pair open in Explore", EXPLORE_SOURCE), *names],
                             value=DEFAULT_FAMILY if DEFAULT_FAMILY in names else EXPLORE_SOURCE, scale=3,
                             elem_id="family")
        diag_btn = gr.Button("Run diagnostics", variant="primary", scale=1)
    diag_msg = error_box("diag-error")
    diag_info = gr.Markdown(elem_id="diag-info")
    with gr.Row():
        mem_plot = gr.Plot(show_label=False, label="Memorization ratio of the source's teacher", elem_id="memorization-plot")
        boundary_plot = gr.Plot(show_label=False, label="Boundary analysis of the source's pair", elem_id="boundary-plot")
    with gr.Row():
        length_plot = gr.Plot(show_label=False, label="Copying vs teacher training length (the source family)", elem_id="length-plot")
        dm_plot = gr.Plot(show_label=False, label="DM loss over distillation (the source)", elem_id="dm-plot")
    return family, diag_btn, [mem_plot, boundary_plot, length_plot, dm_plot, diag_info], diag_msg, diag_info

def train_controls(lim: Limits) -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Row():
        board = PRESETS["chessboard4d"]  # its own recipe (a good board in about a minute), within the limits
        c.preset = gr.Dropdown(sorted(PRESETS), value=board.name, label="Preset (data set and network)")
        c.dim = gr.Number(0, precision=0, label="Dimension (0 = preset's; vector sets)")
        c.teacher_steps = gr.Number(min(board.teacher.steps, lim.max_steps), precision=0, label=f"Teacher steps (≤ {lim.max_steps})")
        c.student_steps = gr.Number(min(board.distill.steps, lim.max_steps), precision=0, label=f"Student steps (≤ {lim.max_steps})")
    with gr.Row():
        c.ratio = gr.Number(board.distill.ratio, precision=0, label="Critic updates per generator update")
        c.gan = gr.Number(0.0, label="GAN weight on G (DMD2: 3e-3; D then gets 1e-2)")
        c.init = gr.Radio(["teacher", "random"], value="teacher", label="Student init")
        c.run_name = gr.Textbox(label="Run name (optional)")
    c.start_btn = gr.Button("Start training", variant="primary")
    c.start_msg = error_box("train-start-error")
    with gr.Row():
        c.run_dd = gr.Dropdown(label="Run", choices=jobs.list_runs(), allow_custom_value=True, scale=3)
        c.refresh_btn = gr.Button("Refresh", scale=1)
        c.cancel_btn = gr.Button("Cancel", variant="stop", scale=1)
        c.resume_btn = gr.Button("Resume", scale=1)
    c.run_msg = error_box("run-error")
    c.train_msg = gr.Markdown(elem_id="train-msg")
    c.progress = gr.HTML(elem_id="job-progress")
    c.job_msg = error_box("job-error")
    with gr.Row():
        c.loss_plot = gr.Plot(show_label=False, label="Teacher: flow-matching loss", elem_id="loss-plot")
        c.copy_plot = gr.Plot(show_label=False, label="Student: DM loss and copying meter (probe seeds)", elem_id="copy-plot")
    with gr.Accordion("Push the finished run to the Hugging Face Hub", open=False):
        c.push_btn = None
        if settings.hub_login():  # a Space with HF OAuth: the visitor's own login, no token typed in
            with gr.Row():
                c.repo = gr.Textbox(label="Student repo id (the teacher goes to <id>-teacher)")
                c.login = gr.LoginButton()
                c.push_btn = gr.Button("Push")
            c.push_msg = error_box("push-error")
        else:
            gr.Markdown(PUSH_FROM_CLI)
    c.job_state = gr.State("")
    c.timer = gr.Timer(1.5)
    return c
