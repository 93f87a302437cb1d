"""The Gradio app: ``build_demo()`` lays out Explore, Diagnostics, Train and About.

Callbacks are thin adapters: the registry (models and analyses, process-wide), the
analysis package (arrays), ``plots`` (figures) and ``jobs`` (background runs) do the work.
Sessions keep only references in ``gr.State``. Every event has an ``api_name``; compute
events share one queue slot group (``DMDVIZ_COMPUTE_SLOTS``); polling is cheap and runs
outside it. A failed event shows one line beside its control and in the tab's status line,
and leaves every plot and table as it was (``ui_errors.guarded``); never a traceback.
"""

from __future__ import annotations

import os
import time

import gradio as gr
import numpy as np

from dmdviz import analysis, jobs, plots
from dmdviz.analysis.bootstrap import with_interval
from dmdviz.config import PRESETS
from dmdviz.errors import DmdvizError
from dmdviz.registry import (DRILL_KS, Registry, families, family_students, pair_choices, shipped_pair_files,
                             siblings)
from dmdviz.ui_errors import error_box, guarded
from dmdviz.ui_sweep import sweep_tab
from dmdviz.ui_text import ABOUT, METRICS, PICK_SEED_JS

DEFAULT_PAIR = "chessboard4d/student"
DEFAULT_N = 500  # seeds drawn on page load (capped by the limits)
COMPUTE = {"concurrency_id": "compute", "concurrency_limit": "default"}
POLL = {"concurrency_id": "poll", "concurrency_limit": None, "show_progress": "hidden"}


def default_pair() -> str:
    """``DMDVIZ_DEFAULT_PAIR``: the student opened on page load (its recorded teacher comes with it)."""
    return os.environ.get("DMDVIZ_DEFAULT_PAIR", DEFAULT_PAIR)


def launch_kwargs() -> dict:
    """``demo.launch`` settings: bounded uploads, no extra readable paths, and the page script
    that turns a click on a seed's point into its drill-down."""
    return {"max_file_size": f"{Registry().limits.max_upload_mb}mb", "allowed_paths": [], "footer_links": ["api"],
            "js": PICK_SEED_JS}


def _seed_table(index: int, views: dict, target, k: int, show_coords: bool) -> str:
    """Markdown: each view's distance to the target Φ_K(z), and its first coordinates (vectors)."""
    lines = [f"**Seed {index}**", "",
             "| view | ‖· − Φ_%d(z)‖ |%s" % (k, " first coordinates |" if show_coords else ""),
             "|---|---|%s" % ("---|" if show_coords else "")]
    for name, v in views.items():
        coords = " " + ", ".join(f"{c:.3f}" for c in v.flatten()[:4].tolist()) + " |" if show_coords else ""
        lines.append(f"| {name} | {float((v - target).norm()):.4f} |{coords}")
    return "\n".join(lines)


def _metrics_rows(metrics: dict, intervals: dict) -> list[list]:
    """[metric, student value (with its bootstrap interval where it has one), start Φ_1, meaning]."""
    return [[f"{label} ({key})", with_interval(metrics[key], intervals.get(key)),
             round(metrics[f"{key}_init"], 4) if f"{key}_init" in metrics else "", meaning]
            for key, (label, meaning) in METRICS.items() if key in metrics]


class App:
    """The callbacks, bound to one registry (models and analyses shared by all sessions)."""

    def __init__(self, registry: Registry | None = None):
        self.reg = registry or Registry()

    # ------------------------------------------------------------------ Explore

    def _pair(self, ref: str, teacher: str = "") -> dict:
        t, s = self.reg.pair(ref, teacher)
        return {"student": ref.strip(), "teacher": teacher.strip(), "label": f"`{t.ref}` → `{s.ref}`"}

    def _pairfile(self, path: str) -> dict:
        from dmdviz.models import pairfile

        self.reg.pairfile(path)  # loads and checks the pair (entry points refused)
        return {"pairfile": path, "label": pairfile.read(path).label}

    def _analysis(self, pair: dict, n, seed, k):
        if not pair or not (pair.get("student") or pair.get("pairfile")):
            raise DmdvizError("choose a teacher/student pair first")
        teacher, student = self.reg.models(pair)
        return teacher, self.reg.analysis_of(teacher, student, n, seed, k)

    @staticmethod
    def _explore_figures(pa) -> tuple:
        """(samples, PCA, cost heatmap, distances, metrics rows) of an analysis."""
        if len(pa.s.shape) == 3:
            samples = plots.image_grid(pa.images(30), pa.seeds[:30])
        else:
            samples = plots.low_dim_panels(pa.panels(), pa.seeds)
        block, sigma = pa.cost_block(100)
        return (samples, plots.pca_triplets(pa.pca(), pa.seeds), plots.cost_heatmap(block, sigma, pa.seeds[:len(block)]),
                plots.distance_scatter(*pa.distances, pa.seeds), _metrics_rows(pa.pairing, pa.intervals))

    def explore(self, pair: dict, n, seed, k, index):
        t0 = time.perf_counter()
        teacher, pa = self._analysis(pair, n, seed, k)
        m = pa.pairing
        figures = self.reg.view(pa, "explore", lambda: self._explore_figures(pa))
        ckpt = analysis.checkpoint_of(teacher)
        data_name = ckpt.data.name if ckpt else "own model"
        info = (f"{pair['label']} · {data_name}, dimension {pa.phi_k[0].numel()} · **{pa.s.n} seeds** "
                f"from base seed {pa.s.seed}, K = {pa.k} · A_OT = {m['ot_agreement']:.3f} "
                f"(start {m['ot_agreement_init']:.3f}, chance {m['ot_agreement_chance']:.3f}) · "
                f"ρ = {m['copy_ratio']:.3f} · {time.perf_counter() - t0:.1f} s")
        return (info, *figures, *self.seed_detail(pair, n, seed, k, index))

    def seed_detail(self, pair: dict, n, seed, k, index):
        """One seed: its five views (an image row, or a table of coordinates) and its Euler path."""
        _, pa = self._analysis(pair, n, seed, k)
        i = int(index)
        if not 0 <= i < pa.s.n:
            raise DmdvizError(f"seed index must be between 0 and {pa.s.n - 1} (the seeds drawn), got {i}")
        view_fig, path, table = self.reg.view(pa, ("seed", i), lambda: self._seed_views(pair, pa, i))
        return gr.update(value=view_fig, visible=view_fig is not None), path, table

    def _seed_views(self, pair: dict, pa, i: int) -> tuple:
        """(the views' image row or None, the Euler path, the seed's table) of seed index i."""
        t = analysis.seed_trajectory(*self.reg.models(pair), i, pa.s.seed, pa.k)
        noise = {"z": pa.s.z[i]} if pa.s.z[i].shape == pa.s.g[i].shape else {}  # no latent z beside decoded pixels
        views = {**noise, **{f"Φ_{kk}": pa.s.phi[kk][i] for kk in DRILL_KS}, "G": pa.s.g[i]}
        images = len(pa.s.shape) == 3
        if images:
            row = np.stack([v.mean(0).numpy() for v in views.values()])
            view_fig = plots.image_grid({f"seed {i}": row}, np.arange(len(views)), "view", f"Seed {i}",
                                        col_labels=list(views))
            path = plots.trajectory_plot(t.states.mean(1).numpy(), t.phi_1.mean(0).numpy(), t.g.mean(0).numpy(), i)
        else:
            view_fig = None  # the table below lists the coordinates
            path = plots.trajectory_plot(t.states.numpy(), t.phi_1.numpy(), t.g.numpy(), i, pa.panels()[f"Φ_{pa.k}"])
        return view_fig, path, _seed_table(i, views, pa.phi_k[i], pa.k, show_coords=not images)

    def compare(self, pair: dict, other: str, n, seed, k):
        """A second student of the pair's teacher beside the first: same seeds, one PCA basis,
        shared axes, both rows of metrics."""
        teacher, pa = self._analysis(pair, n, seed, k)
        teacher = analysis.checkpoint_of(teacher)
        if teacher is None:
            raise DmdvizError("a comparison needs a dmdviz teacher (its students are found from it)")
        other = str(other or "").strip()
        pb = self.reg.second_analysis(pa, teacher, other)
        names = (pair["student"].rstrip("/").split("/")[-1] or "A", other.rstrip("/").split("/")[-1] or "B")
        if names[0] == names[1]:
            names = (f"{names[0]} (A)", f"{names[1]} (B)")
        if len(pa.s.shape) == 3:
            ia = pa.images(30)
            rows = {"Φ_1": ia["Φ_1"], f"Φ_{pa.k}": ia[f"Φ_{pa.k}"], f"G · {names[0]}": ia["G"],
                    f"G · {names[1]}": pb.images(30)["G"]}
            samples = plots.image_grid(rows, pa.seeds[:30], title="Samples per seed, both students", per_band=15,
                                       width=1100)  # a full-width panel
        else:
            panels = pa.panels()
            panels = {"z": panels["z"], f"Φ_{pa.k}": panels[f"Φ_{pa.k}"], f"G · {names[0]}": panels["G"],
                      f"G · {names[1]}": pb.panels()["G"]}
            samples = plots.low_dim_panels(panels, pa.seeds, title="Both students on the same seeds", shared=True)
        table = analysis.compare_metrics(pa, pb)
        rows = [[f"{label} ({key})", round(table[key][0], 4), round(table[key][1], 4),
                 round(table[key][1] - table[key][0], 4), "" if table[key][2] is None else round(table[key][2], 4)]
                for key, (label, _) in METRICS.items() if key in table]
        a, b = pa.pairing, pb.pairing
        info = (f"`{pair['student']}` (A) vs `{other}` (B), both students of `{teacher.ref}` · {pa.s.n} seeds from base "
                f"seed {pa.s.seed}, K = {pa.k} · A_OT {a['ot_agreement']:.3f} vs {b['ot_agreement']:.3f} · "
                f"ρ {a['copy_ratio']:.3f} vs {b['copy_ratio']:.3f}")
        d_init, d_a = pa.distances
        scatter = plots.compare_distances(d_init, {names[0]: d_a, names[1]: pb.distances[1]}, pa.seeds)
        return info, samples, plots.compare_pca(analysis.compare_pca(pa, pb, names), pa.seeds), scatter, rows

    def siblings(self, pair: dict):
        """The other students of the pair's teacher, offered for the comparison (dmdviz pairs)."""
        if not pair or not pair.get("student"):
            return gr.update(choices=[], value=None)
        teacher, _ = self.reg.pair(pair["student"], pair["teacher"])
        choices = [(label, ref) for label, ref in siblings(teacher) if ref != pair["student"]]
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    def select(self, ref, teacher, n, seed, k, index):
        pair = self._pair(ref, teacher)
        return (pair, *self.explore(pair, n, seed, k, index))

    def upload(self, files, teacher, n, seed, k, index):
        return self.select(self.reg.import_upload(files), teacher, n, seed, k, index)

    def select_pairfile(self, path, n, seed, k, index):
        """A pair file (shipped, or uploaded through ``upload_pairfile``) opened in Explore."""
        pair = self._pairfile(self.reg.pairfile_path(path))
        return (pair, *self.explore(pair, n, seed, k, index))

    def upload_pairfile(self, file, n, seed, k, index):
        return self.select_pairfile(self.reg.import_pairfile(file), n, seed, k, index)

    def init(self, n, seed, k, index):
        """Page load: the pair list and the default pair drawn; a missing default is a note."""
        choices = pair_choices()
        try:
            pair = self._pair(default_pair())
        except DmdvizError as e:
            note = f"Default pair `{default_pair()}` is not available ({e}). Choose a pair, a Hub repo or an upload."
            return gr.update(choices=choices), {}, note, *[None] * 8
        return gr.update(choices=choices, value=pair["student"]), pair, *self.explore(pair, n, seed, k, index)

    # ------------------------------------------------------------------ Diagnostics

    def diagnose(self, pair: dict, family: str, n, seed, k):
        teacher, pa = self._analysis(pair, n, seed, k)
        dataset, note = self.reg.memo(("dataset", analysis.name(teacher)), lambda: analysis.load_dataset(teacher))
        notes = [note] if note else []
        mem = boundary = None
        if dataset is not None:
            mem = plots.memorization_histogram(pa.memorization(dataset.train))
            boundary = plots.boundary_scatter(*pa.boundary(dataset.train), pa.seeds)
        curves = lengths = None
        if family:
            students = [self.reg.checkpoint(ref) for ref in family_students(family)]
            curves = plots.dm_loss_curves(analysis.dm_loss_curves(students))
            series = self.reg.memo(("lengths", family, min(int(n), 500), int(seed), int(k)),
                                   lambda: analysis.teacher_length_series(students, min(int(n), 500), int(k), int(seed)))
            keys = ("ot_agreement", "ot_agreement_init", "copy_ratio", "copy_ratio_chance")
            lengths = plots.copying_vs_teacher_length(np.array([e["teacher_step"] for e in series]),
                                                      {key: np.array([e["metrics"][key] for e in series]) for key in keys})
        else:
            notes.append("choose a family for the DM-loss curves and the teacher-length series")
        return mem, boundary, lengths, curves, " · ".join(notes) or "All four diagnostics drawn."

    # ------------------------------------------------------------------ Train

    def train_start(self, preset, dim, teacher_steps, student_steps, ratio, gan_weight, init, name):
        spec = jobs.JobSpec(preset, int(dim or 0), int(teacher_steps), int(student_steps), int(ratio),
                            float(gan_weight), init)
        run = jobs.start(spec, name or "", limits=self.reg.limits)
        return gr.update(choices=jobs.list_runs(), value=run), f"Started run `{run}`."

    def train_status(self, run, last_state):
        """Timer tick: progress, live curves; the pair list is refreshed when a run finishes."""
        if not run:
            return gr.skip(), gr.skip(), gr.skip(), last_state, gr.skip()
        p = jobs.progress(run)
        bar = (f"<progress value='{p.step}' max='{p.total}' style='width:100%'></progress>"
               f"<p id='job-status'>{run}: <b>{p.state}</b> · {p.phase} · step {p.step}/{p.total} "
               f"({100 * p.fraction:.0f} %){' · ' + p.message if p.message else ''}</p>")
        pairs = gr.update(choices=pair_choices()) if p.state == "done" and last_state != "done" else gr.skip()
        return (bar, plots.training_curves(p.teacher, metrics=(), title="Teacher (flow matching)", height=420),
                plots.training_curves(p.student, title="Student (DMD)", height=420), p.state, pairs)

    def train_cancel(self, run):
        jobs.cancel(run)
        return f"Cancel requested for `{run}`: it stops at its next step and can be resumed."

    def train_resume(self, run):
        jobs.resume(run, limits=self.reg.limits)
        return f"Resumed `{run}` from its last saved state."

    def train_push(self, run, repo_id, token):
        teacher_url, student_url = jobs.push_run(run, repo_id, token)
        return f"Pushed: teacher {teacher_url}, student {student_url}"

    def runs(self):
        return gr.update(choices=jobs.list_runs())


def build_demo(registry: Registry | None = None, warm: bool = False) -> gr.Blocks:
    """The app. ``warm``: draw the default pair's page-load view now (analysis, figures, seed
    0's drill-down), so the first visitor's page load is a cache hit (``app.py`` does)."""
    app = App(registry)
    lim = app.reg.limits
    if warm:
        app.init(min(DEFAULT_N, lim.max_seeds), 0, 8, 0)  # the page's default n, seed, K and seed index
    with gr.Blocks(title="dmdviz: why are DMD students lazy?", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# dmdviz · noise→data pairings in DMD distillation\n"
                    "Does a one-step student **copy** its teacher's pairing of noise to data, or **remap** it? "
                    "(arXiv 2606.02237)")
        pair = gr.State({})
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                with gr.Row():
                    pair_dd = gr.Dropdown(label="Pair (shipped or trained here)", choices=pair_choices(), allow_custom_value=True,
                                          scale=3)
                    ref_box = gr.Textbox(label="Hub repo id or folder of a student", placeholder="org/name@revision",
                                         scale=3)
                    load_btn = gr.Button("Load", scale=1)
                    teacher_box = gr.Textbox(label="Teacher (optional)", placeholder="default: the one the student records",
                                             scale=2)
                    upload = gr.File(label="Upload (zip, or config.json + model.safetensors)", file_count="multiple",
                                     file_types=[".zip", ".json", ".safetensors"], scale=2, elem_id="upload")
                pair_msg = error_box("pair-error")
                with gr.Row():
                    pairfile_dd = gr.Dropdown(label="Or a pair file (dmdviz or diffusers models): shipped, or a Hub "
                                              "repo id holding pair.json", choices=shipped_pair_files(),
                                              allow_custom_value=True, scale=3, elem_id="pairfile")
                    pairfile_up = gr.File(label="Upload a pair file (.json / .toml; no entry points)",
                                          file_types=[".json", ".toml"], scale=3, elem_id="pairfile-upload")
                with gr.Row():
                    n = gr.Slider(2, lim.max_seeds, value=min(DEFAULT_N, lim.max_seeds), step=1, label="Seeds N")
                    seed = gr.Number(0, precision=0, label="Base seed")
                    k = gr.Number(8, precision=0, label="K (Euler steps of the target Φ_K)")
                    draw = gr.Button("Draw", variant="primary")
                view_msg = error_box("view-error")
                info = gr.Markdown(elem_id="explore-info")
                with gr.Row():
                    samples_plot = gr.Plot(label="Samples", elem_id="samples-plot")
                    pca_plot = gr.Plot(label="PCA triplets", elem_id="pca-plot")
                with gr.Row():
                    heat_plot = gr.Plot(label="Cost heatmap with OT assignment", elem_id="heatmap-plot")
                    scatter_plot = gr.Plot(label="d_init vs d_student", elem_id="scatter-plot")
                table = gr.Dataframe(headers=["metric", "student G [95 % bootstrap interval over seeds]", "start Φ_1",
                                              "meaning"],
                                     label="Pairing metrics",
                                     interactive=False, wrap=True)
                with gr.Accordion("Compare with a second student of the same teacher", open=False, elem_id="compare"):
                    with gr.Row():
                        other = gr.Dropdown(label="Second student B (same teacher; a shipped or run student, a "
                                            "folder or a Hub repo id)", choices=[], allow_custom_value=True, scale=4)
                        compare_btn = gr.Button("Compare", scale=1)
                    compare_msg = error_box("compare-error")
                    compare_info = gr.Markdown(elem_id="compare-info")
                    compare_samples = gr.Plot(label="Samples of A and B", elem_id="compare-samples-plot")
                    with gr.Row():
                        compare_pca = gr.Plot(label="PCA triplets of A and B, one basis", elem_id="compare-pca-plot")
                        compare_scatter = gr.Plot(label="d_init vs d_student of A and B", elem_id="compare-scatter-plot")
                    compare_table = gr.Dataframe(headers=["metric", "student A", "student B", "B − A", "start Φ_1"],
                                                 label="Pairing metrics of A and B", interactive=False, wrap=True)
                gr.Markdown("### Per-seed drill-down")
                with gr.Row():
                    index = gr.Number(0, precision=0, label="Seed index i (or click a point in a plot above)",
                                      scale=1, elem_id="seed-index")
                    show_seed = gr.Button("Show seed", scale=1, elem_id="show-seed")
                seed_msg = error_box("seed-error")
                with gr.Row():
                    seed_plot = gr.Plot(label="z, Φ_1, Φ_8, Φ_32, G (image data)", elem_id="seed-plot")
                    traj_plot = gr.Plot(label="Euler trajectory", elem_id="trajectory-plot")
                seed_md = gr.Markdown(elem_id="seed-table")
            with gr.Tab("Diagnostics", id="diagnostics") as diag_tab:
                with gr.Row():
                    family = gr.Dropdown(label="Family of students (teacher snapshots)", choices=families(), scale=3)
                    diag_btn = gr.Button("Run diagnostics", variant="primary", scale=1)
                diag_msg = error_box("diag-error")
                diag_info = gr.Markdown()
                with gr.Row():
                    mem_plot = gr.Plot(label="Memorization ratio of the teacher", elem_id="memorization-plot")
                    boundary_plot = gr.Plot(label="Boundary analysis", elem_id="boundary-plot")
                with gr.Row():
                    length_plot = gr.Plot(label="Copying vs teacher training length", elem_id="length-plot")
                    dm_plot = gr.Plot(label="DM loss over distillation", elem_id="dm-plot")
            with gr.Tab("Train", id="train"):
                with gr.Row():
                    # the default preset's own recipe (a good board in about a minute), within the limits
                    board = PRESETS["chessboard4d"]
                    preset = gr.Dropdown(sorted(PRESETS), value=board.name, label="Preset (data set and network)")
                    dim = gr.Number(0, precision=0, label="Dimension (0 = preset's; vector sets)")
                    teacher_steps = gr.Number(min(board.teacher.steps, lim.max_steps), precision=0,
                                              label=f"Teacher steps (≤ {lim.max_steps})")
                    student_steps = gr.Number(min(board.distill.steps, lim.max_steps), precision=0,
                                              label=f"Student steps (≤ {lim.max_steps})")
                with gr.Row():
                    ratio = gr.Number(board.distill.ratio, precision=0, label="Critic updates per generator update")
                    gan = gr.Number(0.0, label="GAN weight on G (DMD2: 3e-3; D then gets 1e-2)")
                    init = gr.Radio(["teacher", "random"], value="teacher", label="Student init")
                    run_name = gr.Textbox(label="Run name (optional)")
                start_btn = gr.Button("Start training", variant="primary")
                start_msg = error_box("train-start-error")
                with gr.Row():
                    run_dd = gr.Dropdown(label="Run", choices=jobs.list_runs(), allow_custom_value=True, scale=3)
                    refresh_btn = gr.Button("Refresh", scale=1)
                    cancel_btn = gr.Button("Cancel", variant="stop", scale=1)
                    resume_btn = gr.Button("Resume", scale=1)
                run_msg = error_box("run-error")
                train_msg = gr.Markdown(elem_id="train-msg")
                progress = gr.HTML(elem_id="job-progress")
                job_msg = error_box("job-error")
                with gr.Row():
                    loss_plot = gr.Plot(label="Teacher: flow-matching loss", elem_id="loss-plot")
                    copy_plot = gr.Plot(label="Student: DM loss and copying meter (probe seeds)", elem_id="copy-plot")
                with gr.Accordion("Push the finished run to the Hugging Face Hub", open=False):
                    with gr.Row():
                        repo = gr.Textbox(label="Student repo id (the teacher goes to <id>-teacher)")
                        token = gr.Textbox(label="Token (write access; not stored)", type="password")
                        push_btn = gr.Button("Push")
                    push_msg = error_box("push-error")
                job_state = gr.State("")
                timer = gr.Timer(1.5)
            with gr.Tab("Sweep", id="sweep"):
                sweep_tab()
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)

        view = [n, seed, k, index]
        drill = [seed_plot, traj_plot, seed_md]
        shown = [info, samples_plot, pca_plot, heat_plot, scatter_plot, table, *drill]
        demo.load(*guarded(app.init, view, [pair_dd, pair, *shown], pair_msg, info), api_name="init", **COMPUTE)
        gr.on([draw.click, seed.submit, k.submit, n.release], *guarded(app.explore, [pair, *view], shown, view_msg, info),
              api_name="explore", **COMPUTE)
        gr.on([show_seed.click, index.submit], *guarded(app.seed_detail, [pair, *view], drill, seed_msg, info),
              api_name="seed_detail", **COMPUTE)
        gr.on([compare_btn.click, other.input],
              *guarded(app.compare, [pair, other, n, seed, k],
                       [compare_info, compare_samples, compare_pca, compare_scatter, compare_table], compare_msg, compare_info),
              api_name="compare", **COMPUTE)
        pair.change(*guarded(app.siblings, [pair], [other], compare_msg), api_name="siblings", **POLL)
        pair_dd.input(*guarded(app.select, [pair_dd, teacher_box, *view], [pair, *shown], pair_msg, info),
                      api_name="choose_pair", **COMPUTE)
        gr.on([load_btn.click, ref_box.submit], *guarded(app.select, [ref_box, teacher_box, *view], [pair, *shown], pair_msg, info),
              api_name="load_ref", **COMPUTE)
        upload.upload(*guarded(app.upload, [upload, teacher_box, *view], [pair, *shown], pair_msg, info),
                      api_name="upload", **COMPUTE)
        pairfile_dd.input(*guarded(app.select_pairfile, [pairfile_dd, *view], [pair, *shown], pair_msg, info),
                          api_name="choose_pairfile", **COMPUTE)
        pairfile_up.upload(*guarded(app.upload_pairfile, [pairfile_up, *view], [pair, *shown], pair_msg, info),
                           api_name="upload_pairfile", **COMPUTE)
        gr.on([diag_btn.click, diag_tab.select],
              *guarded(app.diagnose, [pair, family, n, seed, k], [mem_plot, boundary_plot, length_plot, dm_plot, diag_info],
                       diag_msg, diag_info), api_name="diagnose", **COMPUTE)
        start_btn.click(*guarded(app.train_start, [preset, dim, teacher_steps, student_steps, ratio, gan, init, run_name],
                                 [run_dd, train_msg], start_msg, train_msg), api_name="train_start")
        timer.tick(*guarded(app.train_status, [run_dd, job_state], [progress, loss_plot, copy_plot, job_state, pair_dd],
                            job_msg), api_name="train_status", **POLL)
        cancel_btn.click(*guarded(app.train_cancel, [run_dd], [train_msg], run_msg, train_msg), api_name="train_cancel")
        resume_btn.click(*guarded(app.train_resume, [run_dd], [train_msg], run_msg, train_msg), api_name="train_resume")
        refresh_btn.click(*guarded(app.runs, [], [run_dd], run_msg, train_msg), api_name="runs")
        push_btn.click(*guarded(app.train_push, [run_dd, repo, token], [train_msg], push_msg, train_msg),
                       api_name="train_push")
    demo.queue(default_concurrency_limit=lim.compute_slots, max_size=int(os.environ.get("DMDVIZ_QUEUE_SIZE", "64")))
    return demo

