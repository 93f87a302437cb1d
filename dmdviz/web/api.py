"""The app's API for programs: read-only analyses with named parameters, plain JSON answers and
errors that are errors (``gr.Error``, which ``gradio_client`` raises), served beside the page
and, with ``DMDVIZ_MCP=1``, as the tools of an MCP server (``page.launch_kwargs``).

The page's own events (``app``, ``sweep``) stay callable by name but undocumented: their
inputs and outputs are the page's components (update dicts, session State). What a client
calls is here: ``/pairs``, ``/metrics``, ``/seed_views``, ``/pair_file_metrics``. Nothing here
trains, pushes or writes; every reference is resolved by the registry's policy, as for a
visitor without uploads.
"""

from __future__ import annotations

import functools
import logging

import gradio as gr

from dmdviz import analysis
from dmdviz.errors import DmdvizError
from dmdviz.web.catalog import families, pair_choices, shipped_pair_files
from dmdviz.web.common import COMPUTE, VIEWS, timed
from dmdviz.web.messages import message, redact
from dmdviz.web.text import METRICS

log = logging.getLogger(__name__)


def _as_error(fn):
    """``fn`` with any failure raised as one ``gr.Error`` line (a client sees an error)."""
    @functools.wraps(fn)  # its name, docstring and signature: the endpoint's and the MCP tool's
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if not isinstance(e, DmdvizError):
                log.exception("%s failed", fn.__name__)
            raise gr.Error(message(e), print_exception=False) from None

    return run


def _answer(pa, models) -> dict:
    """A pair's analysis as plain JSON: who, on which seeds, every metric with its interval."""
    teacher, student = (redact(analysis.name(m)) for m in models.given)
    margin, margin_ci = pa.margin
    m, intervals = {**pa.pairing, **margin}, {**pa.intervals, **margin_ci}
    return {"teacher": teacher, "student": student, "n": pa.s.n, "seed": pa.s.seed, "k": pa.k,
            "metrics": {key: float(m[key]) for key in METRICS if key in m},
            "start_phi_1": {key: float(m[f"{key}_init"]) for key in METRICS if f"{key}_init" in m},
            "intervals_95": {key: [float(v) for v in intervals[key]] for key in METRICS if key in intervals},
            "meaning": {key: f"{label}: {meaning}" for key, (label, meaning) in METRICS.items() if key in m}}


class Endpoints:
    """The API's functions, bound to the app's registry; each method is one endpoint of its name."""

    def __init__(self, reg):
        self.reg = reg

    def pairs(self) -> dict:
        """Lists what this app can analyse: shipped and trained students (pass one as `student`),
        families of students, and shipped pair files (pass one as `pair_file`).

        Returns:
            {"students": [reference, ...], "families": [...], "pair_files": [...]}
        """
        return {"students": [ref for _, ref in pair_choices()], "families": families(),
                "pair_files": [name for _, name in shipped_pair_files()]}

    def metrics(self, student: str, teacher: str = "", n: int = 500, seed: int = 0, k: int = 8) -> dict:
        """Pairing metrics of a DMD student against its teacher: does the one-step student G copy
        the teacher's noise-to-data pairing Φ_K(z) or remap it? The same seeds z_i feed both.

        Args:
            student: a shipped student (e.g. "mnist/student-8192"), "runs/<run>/student", or a Hub repo id.
            teacher: the teacher's reference; empty for the teacher the student records.
            n: number of seeds (noise samples z_i) drawn.
            seed: base seed of the noise.
            k: Euler steps of the teacher's target Φ_K.

        Returns:
            {"teacher", "student", "n", "seed", "k", "metrics" {name: value}, "start_phi_1" {name: value of
            the one-step teacher Φ_1}, "intervals_95" {name: [low, high] bootstrap over seeds}, "meaning"}
        """
        models = self.reg.pair(str(student or "").strip(), str(teacher or "").strip())
        return _answer(self.reg.analysis_of(models, n, seed, k), models)

    def seed_views(self, student: str, index: int, teacher: str = "", n: int = 500, seed: int = 0, k: int = 8) -> dict:
        """One seed of a pair: how far its noise z, the teacher's Φ_1, Φ_8, Φ_32 and the student's
        G(z) lie from the teacher's target Φ_K(z) (a small G distance: the student copies).

        Args:
            student: a shipped student, "runs/<run>/student", or a Hub repo id.
            index: the seed's index, 0 .. n-1.
            teacher: the teacher's reference; empty for the teacher the student records.
            n: number of seeds drawn (as for metrics).
            seed: base seed of the noise.
            k: Euler steps of the target Φ_K.

        Returns:
            {"index", "k", "distance_to_target" {view: ||view − Φ_K(z)||}, "first_coordinates" {view: [4 numbers]}}
        """
        models = self.reg.pair(str(student or "").strip(), str(teacher or "").strip())
        pa = self.reg.analysis_of(models, n, seed, k)
        i = int(index)
        if not 0 <= i < pa.s.n:
            raise DmdvizError(f"seed index must be between 0 and {pa.s.n - 1} (the seeds drawn), got {i}")
        views = {**({"z": pa.s.z[i]} if pa.s.z[i].shape == pa.s.g[i].shape else {}),
                 **{f"Φ_{kk}": x[0] for kk, x in self.reg.drill_sets(models, pa, pa.s.start + i, 1).items()},
                 "G": pa.s.g[i]}
        return {"index": i, "k": pa.k,
                "distance_to_target": {name: float((v - pa.phi_k[i]).norm()) for name, v in views.items()},
                "first_coordinates": {name: [float(c) for c in v.flatten()[:4]] for name, v in views.items()}}

    def pair_file_metrics(self, pair_file: str, n: int = 500, seed: int = 0, k: int = 8) -> dict:
        """Pairing metrics of a pair file (a teacher and a student of any supported family, e.g.
        diffusers models): a shipped one such as "pairs/chessboard4d.toml", or a Hub repo id holding pair.json.

        Args:
            pair_file: the pair file's shipped name or Hub repo id.
            n: number of seeds drawn.
            seed: base seed of the noise.
            k: Euler steps of the teacher's target Φ_K.

        Returns:
            the same JSON as metrics.
        """
        models = self.reg.pairfile(str(pair_file or "").strip())
        return _answer(self.reg.analysis_of(models, n, seed, k), models)



def wire_api(reg) -> None:
    """Register every endpoint (inside the Blocks) under its method's name: the list of pairs
    with the quick reads (``VIEWS``), the analyses with the computations (``COMPUTE``)."""
    api = Endpoints(reg)
    for fn, group in ((api.pairs, VIEWS), (api.metrics, COMPUTE), (api.seed_views, COMPUTE),
                      (api.pair_file_metrics, COMPUTE)):
        bounded = timed(fn, lambda: reg.limits.request_s) if group is COMPUTE else fn  # DMDVIZ_REQUEST_S
        gr.api(_as_error(bounded), api_name=fn.__name__, **group)
