"""The Gradio app: ``build_demo()`` builds Explore, Diagnostics, Train, Sweep and About, one
function per tab (their components come from ``web.layout``).

Callbacks are thin adapters: the registry (what a visitor may open, uploads, bounded
stores), the one analysis road (``analysis.Analyses``), ``plots`` (figures) and ``jobs``
(background runs) do the work. Sessions keep only references in ``gr.State``: shipped
names, ``runs/<name>/student``, their own ``upload:<token>`` or Hub ids, never a server path
(``Registry.locate``). Each click opens its pair once (a checked ``models.Pair``) and hands
it down. Every event has an ``api_name`` and goes through ``common.wire``: a queue group,
the per-session cap on waiting requests, and ``messages.guarded`` (a failed event shows one
line, leaves every plot as it was, never a traceback or a server path). A session's uploads
are deleted when its page closes and, at the latest, ``DMDVIZ_UPLOAD_TTL_S`` after they came."""

from __future__ import annotations

import os
import threading
import time

import gradio as gr
import numpy as np

from dmdviz import analysis, plots, settings
from dmdviz.config import get_preset
from dmdviz.errors import DmdvizError
from dmdviz.experiments import jobs
from dmdviz.web import layout as ui_layout
from dmdviz.web.api import wire_api
from dmdviz.web.catalog import pair_choices, siblings
from dmdviz.web.common import OWN, POLL, VIEWS, Gate, serialised, wire
from dmdviz.web.messages import hide, redact
from dmdviz.web.page import first_paints
from dmdviz.web.registry import YOUR_UPLOAD, Registry
from dmdviz.web.sweep import sweep_tab
from dmdviz.web.text import ABOUT, METRICS, compare_row, seed_table
from dmdviz.web.views import (BF16_NOTE, compare_samples, diagnostics, explore_figures, load_estimate, pair_verdict, record_cost,
                              scale_figure)

DEFAULT_PAIR = "chessboard4d/student"


def default_pair() -> str:
    """``DMDVIZ_DEFAULT_PAIR``: the student opened on page load (its recorded teacher comes with it)."""
    return os.environ.get("DMDVIZ_DEFAULT_PAIR", DEFAULT_PAIR)


def _took(seconds: float) -> str:
    """A view's wall time, or "drawn before" for one the server held already (a warm start)."""
    return f"{seconds:.1f} s" if seconds >= 0.05 else "drawn before (cached)"


def _step(progress, fraction: float, what: str) -> None:
    if progress is not None:
        progress(fraction, desc=what)


class App:
    """The callbacks, bound to one registry (models, analyses and uploads shared by all sessions)."""

    def __init__(self, registry: Registry | None = None):
        self.reg = registry or Registry()

    # ------------------------------------------------------------------ Explore

    def _pair(self, ref: str, teacher: str, session: str):
        """(pair State, (teacher, student)) of a student reference: resolved once per click."""
        models = self.reg.pair(ref, teacher, session)
        (t, s) = models.given
        pair = {"student": str(ref).strip(), "teacher": str(teacher or "").strip(), "label": f"`{t.ref}` → `{s.ref}`"}
        return pair, models

    def _pairfile(self, choice: str, session: str):
        from dmdviz.models import pairfile

        models = self.reg.pairfile(choice, session)  # loads and checks the pair (entry points refused)
        label = pairfile.read(self.reg.pairfile_path(choice, session)).label
        return {"pairfile": choice, "label": label if not choice.startswith("upload:") else f"{label} ({YOUR_UPLOAD})"}, models

    def explore(self, pair: dict, n, seed, k, index, session: str = "", progress=None):
        t0 = time.perf_counter()
        return self._explore(pair, self.reg.models(pair, session), n, seed, k, index, progress, t0)

    def _explore(self, pair: dict, models, n, seed, k, index, progress=None, t0: float | None = None):
        """The view of an opened pair; its info line's time runs from ``t0`` (the click: the
        pair's loading included), else from now."""
        t0 = time.perf_counter() if t0 is None else t0
        teacher = models.given[0]
        _step(progress, 0.05, f"sampling Φ_1, Φ_{int(k)} and G: {load_estimate(models, n, k)}")
        started = time.perf_counter()
        pa = self.reg.analysis_of(models, n, seed, k)
        record_cost(models, n, k, time.perf_counter() - started)
        _step(progress, 0.5, "exact optimal assignments and bootstrap intervals")
        m = pa.pairing
        _step(progress, 0.85, "figures")
        figures = self.reg.view(pa, "explore", lambda: explore_figures(
            pa, models, lambda m: self.reg.drill_sets(models, pa, pa.s.start, m)))
        ckpt = analysis.checkpoint_of(teacher)
        data_name = ckpt.data.name if ckpt else "own model"
        said = self.reg.view(pa, "verdict", lambda: pair_verdict(pa, teacher))
        info = (f"**Verdict:** {said}\n\n{pair['label']} · {data_name}, dimension {pa.phi_k[0].numel()} · **{pa.s.n} seeds** "
                f"from base seed {pa.s.seed}, K = {pa.k} · A_OT = {m['ot_agreement']:.3f} "
                f"(start {m['ot_agreement_init']:.3f}, chance {m['ot_agreement_chance']:.3f}) · "
                f"ρ = {m['copy_ratio']:.3f}{BF16_NOTE if self.reg.analyses.bf16 else ''} · "
                f"{_took(time.perf_counter() - t0)}")
        return (info, *figures, *self._seed_detail(models, pa, index))

    def scales(self, pair: dict, n, seed, k, session: str = ""):
        """Agreement of G's cell with its target's at every number of cells k (the drawn analysis, cached)."""
        models = self.reg.models(pair, session)
        pa = self.reg.analysis_of(models, n, seed, k)
        return self.reg.view(pa, "scales", lambda: scale_figure(pa, models))

    def seed_detail(self, pair: dict, n, seed, k, index, session: str = ""):
        models = self.reg.models(pair, session)
        return self._seed_detail(models, self.reg.analysis_of(models, n, seed, k), index)

    def _seed_detail(self, models, pa, index):
        """One seed: its five views (an image row, or a table of coordinates) and its Euler path,
        built once per cached analysis and seed."""
        i = int(index)
        if not 0 <= i < pa.s.n:
            raise DmdvizError(f"seed index must be between 0 and {pa.s.n - 1} (the seeds drawn), got {i}")
        # the update stays outside the memo: Gradio pops "value" out of an update dict
        view_fig, path, table = self.reg.view(pa, ("seed", i), lambda: self._seed_views(models, pa, i))
        return gr.update(value=view_fig, visible=view_fig is not None), path, table

    def _seed_views(self, models, pa, i: int) -> tuple:
        """(the views' image row or None, the Euler path, the seed's table) of seed index i."""
        t = self.reg.analyses.trajectory(models, i, pa.s.seed, pa.k)
        noise = {"z": pa.s.z[i]} if pa.s.z[i].shape == pa.s.g[i].shape else {}  # no latent z beside decoded pixels
        views = {**noise, **{f"Φ_{kk}": x[0] for kk, x in self.reg.drill_sets(models, pa, pa.s.start + i, 1).items()},
                 "G": pa.s.g[i]}
        images = len(pa.s.shape) == 3
        if images:
            row = np.stack([v.mean(0).numpy() for v in views.values()])
            view_fig = plots.image_grid({f"seed {i}": row}, np.arange(len(views)), "view", f"Seed {i}",
                                        col_labels=list(views))
            path = plots.trajectory_plot(t.states.mean(1).numpy(), t.phi_1.mean(0).numpy(), t.g.mean(0).numpy(), i)
        else:
            view_fig = None  # the table below lists the coordinates
            path = plots.trajectory_plot(t.states.numpy(), t.phi_1.numpy(), t.g.numpy(), i, pa.panels()[f"Φ_{pa.k}"])
        return serialised(view_fig), serialised(path), seed_table(i, views, pa.phi_k[i], pa.k, show_coords=not images)

    def compare(self, pair: dict, other: str, n, seed, k, session: str = "", progress=None):
        """A second student of the pair's teacher beside the first: same seeds, one PCA basis,
        shared axes, both rows of metrics."""
        models = self.reg.models(pair, session)
        teacher, student = models.given
        _step(progress, 0.05, "sampling the first student")
        pa = self.reg.analysis_of(models, n, seed, k)
        _step(progress, 0.4, "sampling the second student")
        pb = self.reg.second_analysis(pa, models, other, session)
        a_name, b_name = analysis.name(student), self.reg.checkpoint(other, session).ref
        names = (a_name.rstrip("/").split("/")[-1] or "A", b_name.rstrip("/").split("/")[-1] or "B")
        if names[0] == names[1]:
            names = (f"{names[0]} (A)", f"{names[1]} (B)")
        _step(progress, 0.7, "metrics and figures")
        table = analysis.compare_metrics(pa, pb)
        rows = [compare_row(f"{label} ({key})", *table[key]) for key, (label, _) in METRICS.items() if key in table]
        a, b = pa.pairing, pb.pairing
        said = [self.reg.view(p, "verdict", lambda p=p: pair_verdict(p, teacher)) for p in (pa, pb)]
        info = (f"**Verdict A:** {said[0]}\n\n**Verdict B:** {said[1]}\n\n`{a_name}` (A) vs `{b_name}` (B), both students of `{teacher.ref}` · {pa.s.n} seeds from base "
                f"seed {pa.s.seed}, K = {pa.k} · A_OT {a['ot_agreement']:.3f} vs {b['ot_agreement']:.3f} · "
                f"ρ {a['copy_ratio']:.3f} vs {b['copy_ratio']:.3f}")
        d_init, d_a = pa.distances
        shown = f"<br>{redact(a_name)} (A) vs {redact(b_name)} (B), teacher {redact(teacher.ref)}"
        scatter = plots.compare_distances(d_init, {names[0]: d_a, names[1]: pb.distances[1]}, pa.seeds,
                                          title="d_init vs d_student, both students" + shown)
        pca = plots.compare_pca(analysis.compare_pca(pa, pb, names), pa.seeds,
                                title="Two students of one teacher, on the PCA axes of Φ_K" + shown)
        return info, compare_samples(pa, pb, names, shown), pca, \
            scatter, rows

    def siblings(self, pair: dict, session: str = ""):
        """The other students of the pair's teacher, offered for the comparison (dmdviz pairs)."""
        if not pair or not pair.get("student"):
            return gr.update(choices=[], value=None)
        teacher = self.reg.models(pair, session).given[0]
        choices = [(label, ref) for label, ref in siblings(teacher) if ref != pair["student"]]
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    def select(self, ref, teacher, n, seed, k, index, session: str = "", progress=None):
        t0 = time.perf_counter()
        pair, models = self._pair(ref, teacher, session)
        return (pair, *self._explore(pair, models, n, seed, k, index, progress, t0))

    def upload(self, files, teacher, n, seed, k, index, session: str = "", progress=None):
        """The uploaded student opened; the upload box emptied (its last output), so the next
        upload is not added to these files (a refused upload empties it too: ``reset``)."""
        return (*self.select(self.reg.import_upload(files, session), teacher, n, seed, k, index, session, progress), None)

    def select_pairfile(self, choice, n, seed, k, index, session: str = "", progress=None):
        """A pair file (shipped, this session's upload, or a Hub repo id) opened in Explore."""
        t0 = time.perf_counter()
        pair, models = self._pairfile(str(choice or "").strip(), session)
        return (pair, *self._explore(pair, models, n, seed, k, index, progress, t0))

    def upload_pairfile(self, file, n, seed, k, index, session: str = "", progress=None):
        return self.select_pairfile(self.reg.import_pairfile(file, session), n, seed, k, index, session, progress)

    def init(self, n, seed, k, index, session: str = "", progress=None):
        """Page load: the pair list and the default pair drawn; a missing default is a note."""
        choices = pair_choices()
        try:
            pair, models = self._pair(default_pair(), "", session)
        except DmdvizError as e:
            note = (f"Default pair `{default_pair()}` is not available ({redact(str(e))}). "
                    "Choose a pair, a Hub repo or an upload.")
            return gr.update(choices=choices), {}, note, *[None] * 8
        return (gr.update(choices=choices, value=pair["student"]), pair,
                *self._explore(pair, models, n, seed, k, index, progress))

    # ------------------------------------------------------------------ Diagnostics

    def diagnose(self, pair: dict, source: str, n, seed, k, session: str = "", progress=None):
        """The four diagnostics of one source, a family or the Explore pair (``views.diagnostics``)."""
        return diagnostics(self.reg, pair, source, n, seed, k, session, lambda f, what: _step(progress, f, what))

    # ------------------------------------------------------------------ Train

    def train_start(self, preset, dim, teacher_steps, student_steps, ratio, gan_weight, init, name, session: str = ""):
        spec = jobs.JobSpec(preset, int(dim or 0), int(teacher_steps), int(student_steps), int(ratio),
                            float(gan_weight), init)
        run = jobs.start(spec, name or "", limits=self.reg.limits, owner=session if self.reg.limits.public else None)
        return gr.update(choices=jobs.list_runs(), value=run), f"Started run `{run}`."

    def train_status(self, run, last_state):
        """Timer tick: progress, live curves; the pair list is refreshed when a run finishes."""
        if not run:
            return gr.skip(), gr.skip(), gr.skip(), last_state, gr.skip()
        p = jobs.progress(run)
        bar = (f"<progress value='{p.step}' max='{p.total}' style='width:100%'></progress>"
               f"<p id='job-status'>{run}: <b>{p.state}</b> · {p.phase} · step {p.step}/{p.total} "
               f"({100 * p.fraction:.0f} %){' · ' + redact(p.message) if p.message else ''}</p>")
        pairs = gr.update(choices=pair_choices()) if p.state == "done" and last_state != "done" else gr.skip()
        return (bar, plots.training_curves(p.teacher, metrics=(), title="Teacher (flow matching)", height=420),
                plots.training_curves(p.student, title="Student (DMD)", height=420), p.state, pairs)

    def preset_steps(self, preset):
        """A preset's own recipe: its teacher steps, student iterations and critic ratio (within the limits)."""
        p = get_preset(preset)
        cap = self.reg.limits.max_steps
        return min(p.teacher.steps, cap), min(p.distill.steps, cap), p.distill.ratio

    def train_cancel(self, run, session: str = ""):
        jobs.cancel(run, owner=session if self.reg.limits.public else None)
        return f"Cancel requested for `{run}`: it stops at its next step and can be resumed."

    def train_resume(self, run, session: str = ""):
        jobs.resume(run, limits=self.reg.limits, owner=session if self.reg.limits.public else None)
        return f"Resumed `{run}` from its last saved state."

    def train_push(self, run, repo_id, token=None):
        """Push with the visitor's Hugging Face login (``token``: a ``gr.OAuthToken``)."""
        if token is None:
            raise DmdvizError("log in with Hugging Face first (the button beside Push)")
        teacher_url, student_url = jobs.push_run(run, repo_id, token.token)
        return f"Pushed: teacher {teacher_url}, student {student_url}"

    def runs(self):
        return gr.update(choices=jobs.list_runs())


def _explore_tab(app: App, gate: Gate, pair: gr.State, demo: gr.Blocks, first: dict[str, str]):
    """The Explore tab and its events; returns its components (Diagnostics reads N, seed, K).
    ``first``: static first paints of the default view's plots, by plot id."""
    c = ui_layout.explore_pickers()
    ui_layout.explore_views(c, app.reg.limits, first)
    ui_layout.compare_box(c)
    ui_layout.drill_box(c, first)
    view = [c.n, c.seed, c.k, c.index]
    drill = [c.seed_plot, c.traj_plot, c.seed_md]
    shown = [c.info, c.samples_plot, c.pca_plot, c.heat_plot, c.scatter_plot, c.table, *drill]
    picked = [pair, *shown]
    # "always_last": a Draw clicked while a redraw runs (one started by leaving the N box) is
    # queued and drawn after it, not dropped (Gradio's default, "once", ignores it)
    run = dict(session=True, progress=True, trigger_mode="always_last")
    wire(gate, demo.load, app.init, view, [c.pair_dd, *picked], c.pair_msg, c.info, api_name="init", **run)
    wire(gate, [c.draw.click, c.seed.submit, c.k.submit, c.n.release], app.explore, [pair, *view], shown, c.view_msg,
         c.info, api_name="explore", **run)
    wire(gate, c.info.change, app.scales, [pair, c.n, c.seed, c.k], [c.scale_plot], c.view_msg, api_name="scales",
         session=True, trigger_mode="always_last")  # after every view: its analysis is cached, so only the curve is computed
    wire(gate, [c.show_seed.click, c.index.submit], app.seed_detail, [pair, *view], drill, c.seed_msg, c.info,
         api_name="seed_detail", session=True)
    wire(gate, [c.compare_btn.click, c.other.input], app.compare, [pair, c.other, c.n, c.seed, c.k],
         [c.compare_info, c.compare_samples, c.compare_pca, c.compare_scatter, c.compare_table], c.compare_msg,
         c.compare_info, api_name="compare", **run)
    wire(gate, pair.change, app.siblings, [pair], [c.other], c.compare_msg, api_name="siblings", group=POLL,
         session=True)
    wire(gate, c.pair_dd.input, app.select, [c.pair_dd, c.teacher_box, *view], picked, c.pair_msg, c.info,
         api_name="choose_pair", **run)
    wire(gate, [c.load_btn.click, c.ref_box.submit], app.select, [c.ref_box, c.teacher_box, *view], picked, c.pair_msg,
         c.info, api_name="load_ref", **run)
    wire(gate, c.upload.upload, app.upload, [c.upload, c.teacher_box, *view], [*picked, c.upload], c.pair_msg, c.info,
         api_name="upload", reset=(c.upload,), **run)
    wire(gate, c.pairfile_dd.input, app.select_pairfile, [c.pairfile_dd, *view], picked, c.pair_msg, c.info,
         api_name="choose_pairfile", **run)
    wire(gate, c.pairfile_up.upload, app.upload_pairfile, [c.pairfile_up, *view], picked, c.pair_msg, c.info,
         api_name="upload_pairfile", **run)
    return c




def _train_tab(app: App, gate: Gate, pair_dd: gr.Dropdown) -> None:
    c = ui_layout.train_controls(app.reg.limits)
    wire(gate, c.start_btn.click, app.train_start, [c.preset, c.dim, c.teacher_steps, c.student_steps, c.ratio, c.gan,
                                                     c.init, c.run_name], [c.run_dd, c.train_msg], c.start_msg,
         c.train_msg, api_name="train_start", group=OWN, session=True)
    wire(gate, c.timer.tick, app.train_status, [c.run_dd, c.job_state],
         [c.progress, c.loss_plot, c.copy_plot, c.job_state, pair_dd], c.job_msg, api_name="train_status", group=POLL)
    wire(gate, c.preset.input, app.preset_steps, [c.preset], [c.teacher_steps, c.student_steps, c.ratio], c.start_msg,
         c.train_msg, api_name="preset_steps", group=VIEWS)
    wire(gate, c.cancel_btn.click, app.train_cancel, [c.run_dd], [c.train_msg], c.run_msg, c.train_msg,
         api_name="train_cancel", group=OWN, session=True)
    wire(gate, c.resume_btn.click, app.train_resume, [c.run_dd], [c.train_msg], c.run_msg, c.train_msg,
         api_name="train_resume", group=OWN, session=True)
    wire(gate, c.refresh_btn.click, app.runs, [], [c.run_dd], c.run_msg, c.train_msg, api_name="runs", group=VIEWS)
    if c.push_btn is not None:  # a Space with HF OAuth (``settings.hub_login``)
        wire(gate, c.push_btn.click, app.train_push, [c.run_dd, c.repo], [c.train_msg], c.push_msg, c.train_msg,
             api_name="train_push", group=OWN, oauth=True)


def _expire_uploads(reg: Registry) -> None:
    """Delete expired uploads every so often for as long as the process lives (a daemon thread)."""
    def loop():
        while True:
            time.sleep(max(1.0, min(60.0, reg.limits.upload_ttl_s / 4)))
            reg.expire()

    threading.Thread(target=loop, name="dmdviz-upload-expiry", daemon=True).start()


def build_demo(registry: Registry | None = None, warm: bool = False) -> gr.Blocks:
    """The app. ``warm``: draw the default pair's page-load view now (analysis, figures, seed
    0's drill-down), so the first visitor's page load is a cache hit (``app.py`` does)."""
    app = App(registry)
    lim = app.reg.limits
    first = {}
    if warm:
        view = app.init(min(ui_layout.DEFAULT_N, lim.max_seeds), 0, 8, 0)  # the page's default n, seed, K and seed index
        first = first_paints(view)
    gate = Gate(lim.session_queue, lim.address_queue, lim.request_s)
    for root, name in ((app.reg.uploads, YOUR_UPLOAD), (settings.runs_root(), "runs"), (settings.shipped_root(), "checkpoints")):
        hide(root, name)
    with gr.Blocks(title="dmdviz: why are DMD students lazy?", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# dmdviz · noise→data pairings in DMD distillation\n"
                    "Does a one-step student **copy** its teacher's pairing of noise to data, or **remap** it? "
                    "(arXiv 2606.02237)")
        pair = gr.State({})
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                explore = _explore_tab(app, gate, pair, demo, first)
            with gr.Tab("Diagnostics", id="diagnostics") as diag_tab:
                family, diag_btn, diag_out, diag_msg, diag_info = ui_layout.diagnostics_tab()
            with gr.Tab("Train", id="train"):
                _train_tab(app, gate, explore.pair_dd)
            with gr.Tab("Sweep", id="sweep"):
                sweep_tab(gate)
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
        wire_api(app.reg)
        wire(gate, [diag_btn.click, diag_tab.select], app.diagnose, [pair, family, explore.n, explore.seed, explore.k],
             diag_out, diag_msg, diag_info, api_name="diagnose", session=True, progress=True,
             trigger_mode="always_last")

        def session_closed(request: gr.Request):
            app.reg.forget_session(request.session_hash or "")
            gate.forget(request.session_hash)

        demo.unload(session_closed)
    gate.bind(demo)
    _expire_uploads(app.reg)
    demo.queue(default_concurrency_limit=lim.compute_slots, max_size=lim.queue_size)
    return demo
